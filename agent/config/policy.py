r"""Managed policy readers: Windows registry, macOS managed preferences, Linux JSON.

Each reader returns raw ``{key: value}``; :func:`decode_policy` validates the
values against the declared options.  Decoding is pure and unit-tested; the
native reads are a few thin lines each.  A bad value is dropped with a warning
naming the key and the source, so one typo never disables the whole policy.

On Windows, policy comes from three keys, later ones winning:
``HKLM\SOFTWARE\Waymark\Agent`` (the installer's key: what ``msiexec ...
SERVER_URL=...`` wrote), then Group Policy's ``HKCU`` and ``HKLM``
``SOFTWARE\Policies\Waymark\Agent``.  So Group Policy overrides the install
properties, and both override the person's settings.
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
    "WINDOWS_INSTALLER_KEY",
    "WINDOWS_POLICY_KEY",
    "Policy",
    "decode_policy",
    "decode_registry_values",
    "merge_layers",
    "policy_file",
    "read_policy",
]

log = logging.getLogger(__name__)

WINDOWS_POLICY_KEY: Final = r"SOFTWARE\Policies\Waymark\Agent"
#: Where the MSI writes its public properties (server_url, enroll_token, …).
WINDOWS_INSTALLER_KEY: Final = r"SOFTWARE\Waymark\Agent"
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
    #: Why the policy source exists but could not be read as a whole ("" when it could).
    unreadable: str = ""

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


#: The Windows keys policy is read from, lowest precedence first (hive name, key).
WINDOWS_KEYS: Final = (
    ("HKLM", WINDOWS_INSTALLER_KEY),
    ("HKCU", WINDOWS_POLICY_KEY),
    ("HKLM", WINDOWS_POLICY_KEY),
)


def merge_layers(layers: Iterable[tuple[str, Mapping[str, Any]]]) -> tuple[dict[str, Any], str]:
    """Policy layers, lowest precedence first, merged (later wins) with their joined source."""
    merged: dict[str, Any] = {}
    sources: list[str] = []
    for source, values in layers:
        values = {k: v for k, v in values.items() if k != "Version"}  # the installer's, not ours
        merged.update(values)
        if values:
            sources.append(source)
    return merged, " + ".join(sources)


if sys.platform == "win32":

    def _read_windows() -> tuple[dict[str, Any], str]:
        import winreg

        hives = {"HKCU": winreg.HKEY_CURRENT_USER, "HKLM": winreg.HKEY_LOCAL_MACHINE}
        layers: list[tuple[str, Mapping[str, Any]]] = []
        for hive_name, key_path in WINDOWS_KEYS:
            try:
                key = winreg.OpenKey(hives[hive_name], key_path)
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
            layers.append((f"{hive_name}\\{key_path}", decode_registry_values(entries)))
        return merge_layers(layers)

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
    except UnicodeDecodeError as exc:
        return {}, "", [f"{path}: policy is not UTF-8 text (byte {exc.start}); policy ignored"]
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


def policy_file(platform: str = sys.platform) -> Path | None:
    """The JSON policy file this OS reads (``WAYMARK_POLICY_FILE`` on any OS), or None."""
    override = os.environ.get("WAYMARK_POLICY_FILE")
    if override:
        return Path(override)
    if platform in ("win32", "darwin"):
        return None
    return Path(LINUX_POLICY_FILE)


def read_policy(platform: str = sys.platform, *, quiet: bool = False) -> Policy:
    """Read managed policy for this OS (``WAYMARK_POLICY_FILE`` overrides on any OS).

    Warnings are logged unless ``quiet`` (the policy watcher logs a change once).
    """
    path = policy_file(platform)
    extra: list[str] = []
    if path is not None:
        raw, source, extra = _read_json_file(path)
    elif platform == "win32":
        raw, source = _read_windows()
    else:
        raw, source = _read_macos()
    policy = decode_policy(raw, source or "policy")
    warnings = (*extra, *policy.warnings)
    if not quiet:
        for w in warnings:
            log.warning("%s", w)
    return Policy(
        values=policy.values,
        source=source,
        warnings=warnings,
        ignored=policy.ignored,
        unreadable=extra[0] if extra and not source else "",
    )
