"""Option types as classes (after qutebrowser's ``configtypes``).

Each type knows, for one kind of value, everything the settings window, the
policy readers, the ADMX/ADML and mobileconfig generators and the admin guide
need: how to validate and coerce a value from any source (JSON, a plist, the
registry, a text field), its registry and plist types, the kind of editor the
settings window shows, and how to describe itself.  No consumer branches on
the type's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal
from xml.sax.saxutils import escape, quoteattr

from agent.rules._spec import canonical_locale, locale_problem
from agent.timespans import TimeRange

__all__ = [
    "REG_DWORD",
    "REG_EXPAND_SZ",
    "REG_MULTI_SZ",
    "REG_QWORD",
    "REG_SZ",
    "Bool",
    "Choice",
    "Editor",
    "Float",
    "Int",
    "LanguageTag",
    "OptionType",
    "Text",
    "TextList",
    "TimeOfDayRange",
]

# winreg type constants (stable Win32 values), so decoding is testable anywhere.
REG_SZ: Final = 1
REG_EXPAND_SZ: Final = 2
REG_DWORD: Final = 4
REG_MULTI_SZ: Final = 7
REG_QWORD: Final = 11

#: What the settings window shows for a type: a check box, a drop-down, a text field,
#: a drop-down of languages (Waymark's and the running pack's), or a list of apps
#: with a picker of running and known apps.
Editor = Literal["checkbox", "choice", "text", "language", "app_list"]


class OptionType:
    """The behaviour shared by every option type; subclasses override what differs."""

    #: Name in the admin guide's type column.
    name = "value"
    #: Registry value type that policy uses on Windows.
    registry_type = "REG_SZ"
    #: plist type in a macOS configuration profile.
    plist_type = "string"
    #: The settings window's editor.
    editor: Editor = "text"
    #: Id of the placeholder text of a text editor in agent.ui.strings ("" = none).
    placeholder = ""
    #: The values a choice editor offers (empty for other editors).
    choices: tuple[str, ...] = ()

    def coerce(self, key: str, value: Any) -> Any:
        """Validate ``value`` and return it in its Python type; ValueError names ``key``."""
        raise NotImplementedError

    def from_registry(self, data: object, kind: int) -> object:
        """A raw registry value (``RegEnumValue`` data, type) in the form :meth:`coerce` takes."""
        if kind in (REG_SZ, REG_EXPAND_SZ) and isinstance(data, str):
            return data
        return data  # left for coerce to reject with a clear message

    def from_text(self, text: str) -> Any:
        """What a person typed into the text editor, before :meth:`coerce`."""
        return text

    def to_text(self, value: Any) -> str:
        """The value as the text editor shows it."""
        return "" if value is None else str(value)

    def describe(self) -> str:
        return self.name

    def label(self, choice: str, lang: str) -> str:
        """The text a choice editor shows for ``choice``."""
        return choice

    def admx_elements(self, key: str) -> str:
        """The ``<elements>`` of this option's ADMX policy ("" for an on/off policy)."""
        vid = quoteattr(key)
        return f"<elements><text id={vid} valueName={vid}/></elements>"

    def adml_presentation(self, key: str, label: str) -> str:
        """The ADML presentation control ("" for an on/off policy)."""
        return f"<textBox refId={quoteattr(key)}><label>{escape(label)}</label></textBox>"

    def adml_strings(self, key: str, lang: str) -> list[tuple[str, str]]:
        """Extra ADML string ids and texts (a choice's labels)."""
        return []


class Bool(OptionType):
    name = "bool"
    registry_type = "REG_DWORD"
    plist_type = "boolean"
    editor: Editor = "checkbox"

    def coerce(self, key: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):  # registry DWORDs
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise ValueError(f"{key}: expected true or false, got {value!r}")

    def from_registry(self, data: object, kind: int) -> object:
        if kind in (REG_DWORD, REG_QWORD) and isinstance(data, int):
            return bool(data)
        return super().from_registry(data, kind)

    def admx_elements(self, key: str) -> str:
        return ""

    def adml_presentation(self, key: str, label: str) -> str:
        return ""


class Int(OptionType):
    """A whole number from ``minimum`` to ``maximum``."""

    name = "int"
    registry_type = "REG_DWORD"
    plist_type = "integer"

    def __init__(self, minimum: int = 0, maximum: int = 3650) -> None:
        self.minimum, self.maximum = minimum, maximum

    def coerce(self, key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"{key}: expected a whole number, got {value!r}")
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"{key}: expected a whole number, got {value!r}") from None
        if not self.minimum <= number <= self.maximum:
            raise ValueError(
                f"{key}: expected a whole number from {self.minimum} to {self.maximum}, "
                f"got {value!r}"
            )
        return number

    def from_registry(self, data: object, kind: int) -> object:
        if kind in (REG_DWORD, REG_QWORD) and isinstance(data, int):
            return data
        return super().from_registry(data, kind)

    def from_text(self, text: str) -> Any:
        return text or "0"

    def admx_elements(self, key: str) -> str:
        vid = quoteattr(key)
        return (
            f'<elements><decimal id={vid} valueName={vid} minValue="{self.minimum}" '
            f'maxValue="{self.maximum}"/></elements>'
        )

    def adml_presentation(self, key: str, label: str) -> str:
        return f"<decimalTextBox refId={quoteattr(key)}>{escape(label)}</decimalTextBox>"


class Float(OptionType):
    """A number, or nothing (None)."""

    name = "float"
    plist_type = "real"

    def coerce(self, key: str, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        return float(value)


class Text(OptionType):
    name = "str"

    def coerce(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected text, got {value!r}")
        return value


class TimeOfDayRange(Text):
    """``HH:MM-HH:MM`` local time (see :mod:`agent.timespans`), or empty for none."""

    name = "time_range"
    placeholder = "time_hint"

    def coerce(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected HH:MM-HH:MM or empty, got {value!r}")
        if value:
            try:
                TimeRange.parse(value)
            except ValueError:
                raise ValueError(f"{key}: expected HH:MM-HH:MM or empty, got {value!r}") from None
        return value


class LanguageTag(OptionType):
    """``system``, or a BCP 47 language tag (``en``, ``de``, ``de-CH``, ``pt-BR``).

    Any tag is accepted, not only the languages Waymark's own words come in:
    a pack may have texts in any language, and the person (or policy) picks
    among them.  ``de_ch`` and ``pt-br`` are written as ``de-CH`` and ``pt-BR``.
    """

    name = "language"
    editor: Editor = "language"

    def coerce(self, key: str, value: Any) -> str:
        if isinstance(value, str) and value == "system":
            return value
        if isinstance(value, str):
            tag = canonical_locale(value.strip())
            if locale_problem(tag) is None:
                return tag
        raise ValueError(
            f"{key}: expected system or a language tag such as en, it, de or pt-BR, got {value!r}"
        )

    def describe(self) -> str:
        return "language (`system`, or a BCP 47 tag such as `en`, `de-CH`)"


class TextList(OptionType):
    """A list of text values; from text or a registry string, split at commas or semicolons."""

    name = "list"
    registry_type = "REG_MULTI_SZ"
    plist_type = "array"
    placeholder = "list_hint"

    def coerce(self, key: str, value: Any) -> list[str]:
        if isinstance(value, str):
            value = self.from_text(value)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key}: expected a list of text values, got {value!r}")
        return list(value)

    def from_registry(self, data: object, kind: int) -> object:
        if kind == REG_MULTI_SZ and isinstance(data, list):
            return [str(v) for v in data if str(v)]
        return super().from_registry(data, kind)

    def from_text(self, text: str) -> list[str]:
        return [v.strip() for v in text.replace(";", ",").split(",") if v.strip()]

    def to_text(self, value: Any) -> str:
        return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else ""

    def admx_elements(self, key: str) -> str:
        vid = quoteattr(key)
        return f"<elements><multiText id={vid} valueName={vid}/></elements>"

    def adml_presentation(self, key: str, label: str) -> str:
        return f"<multiTextBox refId={quoteattr(key)}>{escape(label)}</multiTextBox>"


class AppList(TextList):
    """Apps by OS identifier (exe name, bundle id, WM_CLASS) or by a pack's logical name.

    The settings window shows the list with a picker of the apps running or
    recently in front and the apps the coaching pack knows, so nobody has to
    know an identifier; typing one still works.
    """

    name = "app list"
    editor: Editor = "app_list"


class Choice(OptionType):
    """One of ``choices``; ``labels`` gives each choice's text per language.

    ``policy_choices``: the values a policy template offers (default: all), for
    an option whose other values policy may not set.
    """

    name = "enum"
    editor: Editor = "choice"

    def __init__(
        self,
        choices: Sequence[str],
        labels: Mapping[str, Mapping[str, str]] | None = None,
        *,
        policy_choices: Sequence[str] | None = None,
    ) -> None:
        self.choices = tuple(choices)
        self.labels: Mapping[str, Mapping[str, str]] = labels or {}
        self.policy_choices = tuple(policy_choices) if policy_choices is not None else self.choices

    def coerce(self, key: str, value: Any) -> str:
        if value not in self.choices:
            raise ValueError(f"{key}: expected one of {', '.join(self.choices)}, got {value!r}")
        return str(value)

    def label(self, choice: str, lang: str) -> str:
        texts = self.labels.get(choice, {})
        return texts.get(lang) or texts.get("en") or choice

    def describe(self) -> str:
        return f"{self.name} ({' / '.join(self.choices)})"

    def admx_elements(self, key: str) -> str:
        vid = quoteattr(key)
        items = "".join(
            f'<item displayName="$(string.{key}_{_string_id(c)})"><value><string>{escape(c)}'
            f"</string></value></item>"
            for c in self.policy_choices
        )
        return f"<elements><enum id={vid} valueName={vid}>{items}</enum></elements>"

    def adml_presentation(self, key: str, label: str) -> str:
        return f"<dropdownList refId={quoteattr(key)}>{escape(label)}</dropdownList>"

    def adml_strings(self, key: str, lang: str) -> list[tuple[str, str]]:
        return [
            (f"{key}_{_string_id(c)}", self.labels.get(c, {}).get(lang, c))
            for c in self.policy_choices
        ]


def _string_id(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)
