"""Declarative field types for rule packs: one table drives validation and the JSON Schema.

Each :class:`Spec` can ``check`` a composed YAML node (reporting problems with
the node's line and column) and describe itself as JSON Schema.  Mappings come
back as :class:`Found` (a dict that remembers the nodes of its keys and values)
so that cross-field checks in the loader can point at the right place.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from agent.rules.elements import SIZE_PATTERN, parse_size
from agent.timespans import DURATION_PATTERN, parse_duration

__all__ = [
    "INVALID",
    "Choice",
    "Ctx",
    "Duration",
    "Field",
    "Found",
    "FoundList",
    "Integer",
    "ListOf",
    "Localized",
    "MapOf",
    "OneOrList",
    "PackIssue",
    "Record",
    "Spec",
    "Text",
    "describe",
    "did_you_mean",
    "join",
]


@dataclass(frozen=True, slots=True)
class PackIssue:
    """One problem in a pack, with a 1-based line and column."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class _Invalid:
    """Marks a value that failed its check (already reported)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid()

_STR: Final = "tag:yaml.org,2002:str"
# YAML 1.1 reads 1e5 as text; JSON and YAML 1.2 read it as a number.
_EXP_NUMBER: Final = re.compile(r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?[eE][+-]?[0-9]+$")
_constructor: Final = SafeConstructor()


class Ctx:
    """Collects issues for one source file."""

    __slots__ = ("issues", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.issues: list[PackIssue] = []

    def error(self, node: yaml.Node | yaml.Mark, message: str) -> None:
        """Report ``message`` at the start of ``node`` (or at a mark)."""
        mark = node.start_mark if isinstance(node, yaml.Node) else node
        self.issues.append(PackIssue(self.source, mark.line + 1, mark.column + 1, message))


def is_plain(node: yaml.Node) -> bool:
    """True for an unquoted scalar (the C loader says ``""``, the Python one None)."""
    return isinstance(node, yaml.ScalarNode) and not node.style


def scalar_value(node: yaml.Node) -> Any:
    """The Python value of a scalar node (text, int, float, bool or None)."""
    if node.tag == _STR:
        if is_plain(node) and _EXP_NUMBER.match(node.value):
            return float(node.value)
        return str(node.value)
    try:
        return _constructor.construct_object(node)
    except (ConstructorError, ValueError):
        return str(node.value)


def describe(node: yaml.Node) -> str:
    """What a node holds, for messages ("text 'high'", "a list")."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    value = scalar_value(node)
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"true/false ({node.value})"
    if isinstance(value, int):
        return f"the number {node.value}"
    if isinstance(value, float):
        return f"the number {node.value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    return f"a {type(value).__name__}"


def join(where: str, key: str) -> str:
    """The path of ``key`` inside ``where`` (``rules[2].when`` + ``app``)."""
    return f"{where}.{key}" if where else key


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` when a choice is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == word.lower()]
    return f"; did you mean {close[0]!r}?" if close else ""


# ----------------------------------------------------------------------------
# Specs


class Spec:
    """A field type: checks a node and describes itself as JSON Schema."""

    #: Short human name for messages ("a duration").
    noun = "a value"

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        """The checked value, or :data:`INVALID` after reporting to ``ctx``."""
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """This type as a JSON Schema fragment."""
        raise NotImplementedError

    def _wrong(self, node: yaml.Node, ctx: Ctx, where: str) -> _Invalid:
        ctx.error(node, f"{where or 'the pack'} must be {self.noun}, not {describe(node)}")
        return INVALID


class Text(Spec):
    """A string, optionally with a pattern and an extra check returning an error message."""

    def __init__(
        self,
        *,
        pattern: str | None = None,
        hint: str = "",
        max_len: int = 200,
        check: Callable[[str], str | None] | None = None,
        noun: str = "text",
    ) -> None:
        self.pattern = pattern
        self.hint = hint
        self.max_len = max_len
        self.extra = check
        self.noun = noun
        self._re = re.compile(pattern) if pattern else None

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self._wrong(node, ctx, where)
        value = scalar_value(node)
        if not isinstance(value, str):
            if isinstance(value, bool | int | float) and is_plain(node):
                ctx.error(
                    node,
                    f"{where} must be {self.noun}, not {describe(node)}; "
                    f'put it in quotes ("{node.value}") if you mean the text',
                )
                return INVALID
            return self._wrong(node, ctx, where)
        if not value.strip():
            ctx.error(node, f"{where} must not be empty")
            return INVALID
        if len(value) > self.max_len:
            ctx.error(
                node, f"{where} is too long ({len(value)} characters, at most {self.max_len})"
            )
            return INVALID
        # The extra check explains more than a pattern can, so it speaks first.
        problem = self.extra(value) if self.extra is not None else None
        if not problem and self._re is not None and not self._re.match(value):
            problem = f"{value!r} is not valid: {self.hint}"
        if problem:
            ctx.error(node, f"{where}: {problem}")
            return INVALID
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": self.max_len}
        if self.pattern:
            out["pattern"] = self.pattern
        return out


class Integer(Spec):
    """A whole number within ``[minimum, maximum]``."""

    noun = "a whole number"

    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self._wrong(node, ctx, where)
        value = scalar_value(node)
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return self._wrong(node, ctx, where)
        lo, hi = self.minimum, self.maximum
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if lo is not None and hi is not None:
                want = f"exactly {lo}" if lo == hi else f"between {lo} and {hi}"
            elif lo is not None:
                want = f"{lo} or more"
            else:
                want = f"{hi} or less"
            ctx.error(node, f"{where} must be {want}, not {value}")
            return INVALID
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None and self.minimum == self.maximum:
            return {"const": self.minimum}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


class Duration(Spec):
    """Seconds, written as a number or text like ``10m``; returns seconds as float."""

    noun = "a duration (seconds, or text like 15s, 10m, 1h, 1d)"

    def __init__(self, *, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self._wrong(node, ctx, where)
        value = scalar_value(node)
        if value is None or isinstance(value, bool):
            return self._wrong(node, ctx, where)
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            ctx.error(node, f"{where}: {exc}")
            return INVALID
        if seconds == 0 and not self.allow_zero:
            ctx.error(node, f"{where} must be longer than 0 seconds")
            return INVALID
        return seconds

    def schema(self) -> dict[str, Any]:
        number: dict[str, Any] = {"type": "number"}
        if self.allow_zero:
            number["minimum"] = 0
        else:
            number["exclusiveMinimum"] = 0
        return {"oneOf": [number, {"type": "string", "pattern": DURATION_PATTERN}]}


class Size(Spec):
    """Bytes, written as a number or text like ``20MB`` (10^6) or ``500KiB`` (2^10)."""

    noun = "a size (bytes, or text like 500KB, 20MB, 1GB)"

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self._wrong(node, ctx, where)
        value = scalar_value(node)
        if value is None:
            return self._wrong(node, ctx, where)
        try:
            size = parse_size(value)
        except ValueError as exc:
            ctx.error(node, f"{where}: {exc}")
            return INVALID
        if size <= 0:
            ctx.error(node, f"{where} must be more than 0 bytes")
            return INVALID
        return size

    def schema(self) -> dict[str, Any]:
        return {
            "oneOf": [
                {"type": "integer", "exclusiveMinimum": 0},
                {"type": "string", "pattern": SIZE_PATTERN},
            ]
        }


class Choice(Spec):
    """One of a fixed set of words."""

    def __init__(self, values: tuple[str, ...], *, noun: str = "") -> None:
        self.values = values
        self.noun = noun or "one of " + ", ".join(values)

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return self._wrong(node, ctx, where)
        value = scalar_value(node)
        if node.tag != _STR and is_plain(node):
            value = node.value  # `on`/`no` are words here, not YAML booleans
        if not isinstance(value, str) or value not in self.values:
            shown = value if isinstance(value, str) else node.value
            ctx.error(
                node,
                f"{where} must be one of {', '.join(self.values)}, not {shown!r}"
                + did_you_mean(str(shown), self.values),
            )
            return INVALID
        return value

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.values)}


class FoundList(list[Any]):
    """A checked list that remembers each item's node (None entries for invalid items)."""

    node: yaml.Node
    item_nodes: list[yaml.Node]


class ListOf(Spec):
    """A list of items of one type."""

    def __init__(self, item: Spec, *, min_items: int = 1, unique: bool = False) -> None:
        self.item = item
        self.min_items = min_items
        self.unique = unique
        self.noun = "a list"

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        if not isinstance(node, yaml.SequenceNode):
            return self._wrong(node, ctx, where)
        if len(node.value) < self.min_items:
            ctx.error(node, f"{where} must have at least {self.min_items} item(s)")
            return INVALID
        out = FoundList()
        out.node = node
        out.item_nodes = []
        seen: dict[Any, int] = {}
        for i, child in enumerate(node.value):
            value = self.item.check(child, ctx, f"{where}[{i + 1}]")
            if self.unique and value is not INVALID and isinstance(value, str | int | float):
                if value in seen:
                    ctx.error(child, f"{where} lists {value!r} twice (also item {seen[value]})")
                    value = INVALID
                else:
                    seen[value] = i + 1
            out.append(value)
            out.item_nodes.append(child)
        return out

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.schema()}
        if self.min_items:
            out["minItems"] = self.min_items
        if self.unique:
            out["uniqueItems"] = True
        return out


class OneOrList(Spec):
    """One item or a list of them; always returns a FoundList."""

    def __init__(self, item: Spec) -> None:
        self.item = item
        self.list = ListOf(item, unique=True)
        self.noun = f"{item.noun} or a list of them"

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        if isinstance(node, yaml.SequenceNode):
            return self.list.check(node, ctx, where)
        value = self.item.check(node, ctx, where)
        if value is INVALID:
            return INVALID
        out = FoundList([value])
        out.node = node
        out.item_nodes = [node]
        return out

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [self.item.schema(), self.list.schema()]}


class Found(dict[str, Any]):
    """A checked mapping: valid values by key, plus the nodes of every key present."""

    node: yaml.Node
    key_nodes: dict[str, yaml.Node]
    value_nodes: dict[str, yaml.Node]

    def at(self, key: str) -> yaml.Node:
        """The value node of ``key`` (or the mapping itself when the key is absent)."""
        return self.value_nodes.get(key, self.node)


def _mapping_pairs(
    node: yaml.MappingNode, ctx: Ctx, where: str
) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """Key text, key node, value node; reports non-text and duplicate keys."""
    pairs: list[tuple[str, yaml.Node, yaml.Node]] = []
    seen: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            ctx.error(key_node, f"keys in {where} must be plain words, not {describe(key_node)}")
            continue
        key = str(key_node.value)
        if key in seen:
            first = seen[key].start_mark.line + 1
            ctx.error(key_node, f"{where} has the key {key!r} twice (first on line {first})")
            continue
        seen[key] = key_node
        pairs.append((key, key_node, value_node))
    return pairs


@dataclass(frozen=True, slots=True)
class Field:
    """A key of a :class:`Record`.

    ``only_with`` = (other key, value): this key is only allowed when the other
    key has that value (``chord`` only with ``event: chord``).
    """

    spec: Spec
    doc: str
    required: bool = False
    default: Any = None
    only_with: tuple[str, str] | None = None


@dataclass(slots=True)
class Record(Spec):
    """A mapping with a fixed set of keys; unknown keys are errors."""

    name: str
    fields: Mapping[str, Field]
    doc: str = ""
    noun: str = field(default="a mapping (key: value pairs)")

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            return self._wrong(node, ctx, where)
        found = Found()
        found.node = node
        found.key_nodes = {}
        found.value_nodes = {}
        names = list(self.fields)
        for key, key_node, value_node in _mapping_pairs(node, ctx, where):
            spec_field = self.fields.get(key)
            if spec_field is None:
                ctx.error(
                    key_node,
                    f"unknown key {key!r} in {where or 'the pack'}{did_you_mean(key, names)} "
                    f"(allowed: {', '.join(names)})",
                )
                continue
            found.key_nodes[key] = key_node
            found.value_nodes[key] = value_node
            value = spec_field.spec.check(value_node, ctx, join(where, key))
            if value is not INVALID:
                found[key] = value
        for key, spec_field in self.fields.items():
            if spec_field.required and key not in found.key_nodes:
                ctx.error(node, f"{where or 'the pack'} is missing the required key {key!r}")
            if spec_field.only_with and key in found.key_nodes:
                other, wanted = spec_field.only_with
                actual = found.get(other)
                if actual is not None and actual != wanted:
                    ctx.error(
                        found.key_nodes[key],
                        f"{where}.{key} only applies to {other}: {wanted} "
                        f"(this one has {other}: {actual})",
                    )
        return found

    def schema(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for key, spec_field in self.fields.items():
            sub = dict(spec_field.spec.schema())
            sub["description"] = spec_field.doc
            if spec_field.default is not None:
                sub["default"] = spec_field.default
            props[key] = sub
        out: dict[str, Any] = {"type": "object"}
        if self.doc:
            out["description"] = self.doc
        out["properties"] = props
        out["additionalProperties"] = False
        required = [k for k, f in self.fields.items() if f.required]
        if required:
            out["required"] = required
        conditions = [
            {
                "if": {"required": [key]},
                "then": {"properties": {f.only_with[0]: {"const": f.only_with[1]}}},
            }
            for key, f in self.fields.items()
            if f.only_with
        ]
        if conditions:
            out["allOf"] = conditions
        return out


class MapOf(Spec):
    """A mapping from names (matching ``key_pattern``) to values of one type."""

    noun = "a mapping (name: value pairs)"

    def __init__(self, value: Spec, *, key_pattern: str, key_hint: str, key_noun: str) -> None:
        self.value = value
        self.key_pattern = key_pattern
        self.key_hint = key_hint
        self.key_noun = key_noun
        self._re = re.compile(key_pattern)

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            return self._wrong(node, ctx, where)
        found = Found()
        found.node = node
        found.key_nodes = {}
        found.value_nodes = {}
        for key, key_node, value_node in _mapping_pairs(node, ctx, where):
            found.key_nodes[key] = key_node
            found.value_nodes[key] = value_node
            if not self._re.match(key):
                ctx.error(key_node, f"{key!r} is not a valid {self.key_noun} in {where}: "
                          f"{self.key_hint}")  # fmt: skip
                continue
            value = self.value.check(value_node, ctx, join(where, key))
            if value is not INVALID:
                found[key] = value
        return found

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "propertyNames": {"pattern": self.key_pattern},
            "additionalProperties": self.value.schema(),
        }


# BCP 47, the parts packs need: language, optional script, optional region.
LOCALE_PATTERN: Final = r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?$"
_LOCALE_RE: Final = re.compile(LOCALE_PATTERN)


def canonical_locale(tag: str) -> str:
    """``pt-br`` → ``pt-BR``, ``zh-hant-tw`` → ``zh-Hant-TW`` (may still be invalid)."""
    parts = tag.replace("_", "-").split("-")
    out = [parts[0].lower()]
    for part in parts[1:]:
        out.append(part.title() if len(part) == 4 else part.upper())
    return "-".join(out)


def locale_problem(tag: str) -> str | None:
    """Why ``tag`` is not a locale tag such as ``en``, ``it`` or ``pt-BR``, or None."""
    if _LOCALE_RE.match(tag):
        return None
    fixed = canonical_locale(tag)
    hint = f"; did you mean {fixed!r}?" if _LOCALE_RE.match(fixed) else ""
    return f"{tag!r} is not a locale tag like en, it or pt-BR{hint}"


class Localized(Spec):
    """Texts per locale: ``{en: ..., it: ...}``; returns ``dict[str, str]``."""

    noun = "texts per locale, like {en: ..., it: ...}"

    def __init__(self, *, max_len: int = 2000) -> None:
        self.text = Text(max_len=max_len)

    def check(self, node: yaml.Node, ctx: Ctx, where: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            if isinstance(node, yaml.ScalarNode) and isinstance(scalar_value(node), str):
                ctx.error(
                    node,
                    f"{where} must give the text per locale, like {{en: {node.value!r}}}",
                )
                return INVALID
            return self._wrong(node, ctx, where)
        found = Found()
        found.node = node
        found.key_nodes = {}
        found.value_nodes = {}
        if not node.value:
            ctx.error(node, f"{where} must have a text for at least one locale")
            return INVALID
        for key, key_node, value_node in _mapping_pairs(node, ctx, where):
            found.key_nodes[key] = key_node
            found.value_nodes[key] = value_node
            problem = locale_problem(key)
            if problem:
                ctx.error(key_node, f"{where}: {problem}")
                continue
            value = self.text.check(value_node, ctx, join(where, key))
            if value is not INVALID:
                found[key] = value
        return found

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "propertyNames": {"pattern": LOCALE_PATTERN},
            "additionalProperties": self.text.schema(),
            "minProperties": 1,
        }
