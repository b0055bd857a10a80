"""Managed policy readers: Windows registry, macOS managed preferences, Linux JSON.

Each reader returns raw ``{key: value}``; :func:`decode_policy` validates the
values against the declared options.  Decoding is pure and unit-tested; the
native reads are a few thin lines each.  A bad value is dropped with a warning
naming the key and the source, so one typo never disables the whole policy.
"""

from __future__ import annotations

import json
import logging
import os
import plistlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from agent.config.options import OPTIONS_BY_KEY, coerce

__all__ = [
    "LINUX_POLICY_FILE",
    "MACOS_DOMAIN",
    "WINDOWS_POLICY_KEY",
    "Policy",
    "decode_policy",
    "decode_registry_values",
    "read_policy",
]

log = logging.getLogger(__name__)

WINDOWS_POLICY_KEY: Final = r"SOFTWARE\Policies\Waymark\Agent"
MACOS_DOMAIN: Final = "org.waymark.agent"
LINUX_POLICY_FILE: Final = "/etc/waymark/policy.json"


@dataclass(frozen=True, slots=True)
class Policy:
    """Validated managed settings and where they came from.

    ``ignored`` lists each key that was given but not applied, with why
    (unknown key, a value of the wrong type, a value policy may not set);
    ``warnings`` are the same as sentences, plus problems reading the source.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    warnings: tuple[str, ...] = ()
    ignored: tuple[tuple[str, str], ...] = ()

    @property
    def organisation(self) -> str | None:
        org = self.values.get("organisation")
        return org if isinstance(org, str) and org else None


def decode_policy(raw: Mapping[str, Any], source: str) -> Policy:
    """Validate raw policy values; unknown keys and bad values become warnings."""
    values: dict[str, Any] = {}
    warnings: list[str] = []
    ignored: list[tuple[str, str]] = []
    for key, value in raw.items():
        option = OPTIONS_BY_KEY.get(key)
        if option is None:
            warnings.append(f"{source}: unknown policy key {key!r} ignored")
            ignored.append((key, "unknown key"))
            continue
        try:
            coerced = coerce(option, value)
        except ValueError as exc:
            warnings.append(f"{source}: {exc}; the value is ignored")
            ignored.append((key, str(exc).removeprefix(f"{key}: ")))
            continue
        refused = option.policy_refuses.get(coerced) if isinstance(coerced, str) else None
        if refused is not None:
            warnings.append(f"{source}: {key}: {coerced} cannot be set by policy: {refused}; "
                            "the value is ignored")  # fmt: skip
            ignored.append((key, f"{coerced} cannot be set by policy: {refused}"))
            continue
        values[key] = coerced
    return Policy(values=values, source=source, warnings=tuple(warnings), ignored=tuple(ignored))


def decode_registry_values(entries: Iterable[tuple[str, object, int]]) -> dict[str, Any]:
    """Turn ``(name, data, type)`` triples from RegEnumValue into plain values."""
    out: dict[str, Any] = {}
    for name, data, kind in entries:
        option = OPTIONS_BY_KEY.get(name)
        # An unknown name is kept as it is, for decode_policy to report.
        out[name] = option.type.from_registry(data, kind) if option is not None else data
    return out


if sys.platform == "win32":

    def _read_windows() -> tuple[dict[str, Any], str]:
        import winreg

        merged: dict[str, Any] = {}
        sources: list[str] = []
        # HKCU first so that HKLM (machine policy) overwrites it.
        for hive, hive_name in (
            (winreg.HKEY_CURRENT_USER, "HKCU"),
            (winreg.HKEY_LOCAL_MACHINE, "HKLM"),
        ):
            try:
                key = winreg.OpenKey(hive, WINDOWS_POLICY_KEY)
            except OSError:
                continue
            with key:
                entries = []
                index = 0
                while True:
                    try:
                        entries.append(winreg.EnumValue(key, index))
                    except OSError:
                        break
                    index += 1
            merged.update(decode_registry_values(entries))
            sources.append(f"{hive_name}\\{WINDOWS_POLICY_KEY}")
        return merged, " + ".join(sources)

else:

    def _read_windows() -> tuple[dict[str, Any], str]:
        return {}, ""


def _read_macos() -> tuple[dict[str, Any], str]:
    # Managed preferences are plist files written by the MDM agent; the per-user
    # file wins over the computer-wide one.
    user = os.environ.get("USER", "")
    paths = [
        Path(f"/Library/Managed Preferences/{MACOS_DOMAIN}.plist"),
        Path(f"/Library/Managed Preferences/{user}/{MACOS_DOMAIN}.plist"),
    ]
    merged: dict[str, Any] = {}
    sources: list[str] = []
    for path in paths:
        try:
            data = plistlib.loads(path.read_bytes())
        except (OSError, plistlib.InvalidFileException, ValueError):
            continue
        if isinstance(data, dict):
            merged.update(data)
            sources.append(str(path))
    return merged, " + ".join(sources)


def _read_json_file(path: Path) -> tuple[dict[str, Any], str, list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, "", []
    except OSError as exc:
        return {}, "", [f"{path}: cannot read policy ({exc.strerror})"]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return (
            {},
            "",
            [f"{path}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg}); policy ignored"],
        )
    if not isinstance(data, dict):
        return {}, "", [f"{path}: policy must be a JSON object; policy ignored"]
    return data, str(path), []


def read_policy(platform: str = sys.platform) -> Policy:
    """Read managed policy for this OS (``WAYMARK_POLICY_FILE`` overrides on any OS)."""
    override = os.environ.get("WAYMARK_POLICY_FILE")
    extra: list[str] = []
    if override:
        raw, source, extra = _read_json_file(Path(override))
    elif platform == "win32":
        raw, source = _read_windows()
    elif platform == "darwin":
        raw, source = _read_macos()
    else:
        raw, source, extra = _read_json_file(Path(LINUX_POLICY_FILE))
    policy = decode_policy(raw, source or "policy")
    warnings = (*extra, *policy.warnings)
    for w in warnings:
        log.warning("%s", w)
    return Policy(values=policy.values, source=source, warnings=warnings, ignored=policy.ignored)
