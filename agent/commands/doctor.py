"""`waymark doctor`: what the agent can see on this desktop, and which rules cannot fire.

It starts the real sources for a moment (exactly as ``waymark run`` would),
prints each one's state, the session type and the macOS permissions, then
loads the pack (the default one, or ``--pack``) and lists the rules that need
a source that is not working here.  Always exits 0: it is a diagnosis.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.hooks.base import SourceState
    from agent.rules.model import Matcher, Pack, Rule

__all__ = ["BlockedRule", "apps_missing_here", "blocked_rules", "register", "sources_needed"]

#: Which source each event kind comes from (``start`` needs none).
SOURCE_FOR_EVENT: Mapping[str, str] = {
    "chord": "input",
    "click": "input",
    "typing": "input",
    "focus": "focus",
    "idle": "idle",
    "active": "idle",
    "lock": "lock",
    "unlock": "lock",
    "element": "accessibility",
    "file": "files",
}


@dataclass(frozen=True)
class BlockedRule:
    """A rule that cannot fire here, and the sources it misses."""

    rule: str
    line: int
    missing: tuple[str, ...]


def _matcher_needs(m: Matcher) -> set[str]:
    needs = {SOURCE_FOR_EVENT[m.event]} if m.event in SOURCE_FOR_EVENT else set()
    if m.title is not None or m.apps is not None:
        needs.add("focus")  # titles and the app of a chord/click come from focus events
    return needs


def sources_needed(rule: Rule) -> set[str]:
    """Sources a rule needs to trigger: its ``when`` and its ``after`` condition."""
    needs = _matcher_needs(rule.when)
    if rule.after is not None:
        needs |= _matcher_needs(rule.after.matcher)
    return needs


def blocked_rules(
    rules: Iterable[Rule], states: Mapping[str, SourceState], *, titles: bool = True
) -> list[BlockedRule]:
    """Rules that need a source that is not ok (``titles=False``: titles unreadable)."""
    out = []
    for rule in rules:
        missing = {n for n in sources_needed(rule) if not (n in states and states[n].ok)}
        if not titles and (rule.when.title or (rule.after and rule.after.matcher.title)):
            missing.add("window titles")
        if missing:
            out.append(BlockedRule(rule.id, rule.line, tuple(sorted(missing))))
    return out


def apps_missing_here(pack: Pack, os_name: str) -> list[BlockedRule]:
    """Element rules none of whose apps has an identifier for this OS: they cannot fire here."""
    out = []
    for rule in pack.rules:
        apps = rule.when.apps or ()
        if rule.when.event != "element" or any(
            getattr(pack.apps[a], os_name, ()) for a in apps if a in pack.apps
        ):
            continue
        out.append(
            BlockedRule(rule.id, rule.line, (f"{os_name} identifiers for {', '.join(apps)}",))
        )
    return out


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "doctor",
        help="show what the agent can watch here and which rules cannot fire",
        description="Starts the desktop sources briefly, prints their state, the session type "
        "and permissions, and lists the loaded pack's rules that cannot fire on this desktop.",
    )
    p.add_argument("--pack", type=Path, help="rule pack to check (default: the built-in pack)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from agent.app import build_hookset, os_name
    from agent.hooks.base import Emitter
    from agent.hooks.hookset import session_type

    pack_path, pack, pack_error = _load(args.pack)
    hooks = build_hookset(Emitter(queue.Queue(1000)), pack=pack, platform=sys.platform)
    try:
        states = hooks.start()
    finally:
        hooks.stop()
    by_name = {s.name: s for s in states}
    session = session_type()
    permissions = _permissions()
    titles = not (sys.platform == "darwin" and not permissions.get("accessibility", True))
    blocked = blocked_rules(pack.rules, by_name, titles=titles) if pack is not None else []
    if pack is not None:
        blocked += apps_missing_here(pack, os_name(sys.platform))
    sync = sync_readiness()
    set_aside = local_files()
    if args.json:
        print(json.dumps({
            "local_files": set_aside,
            "sync": sync,
            "platform": sys.platform,
            "session": session,
            "display": os.environ.get("DISPLAY", ""),
            "sources": [{"name": s.name, "ok": s.ok, "detail": s.detail} for s in states],
            "permissions": permissions,
            "pack": {"path": str(pack_path), "id": pack.id if pack else None,
                     "version": pack.version if pack else None, "error": pack_error},
            "blocked_rules": [{"rule": b.rule, "line": b.line, "missing": list(b.missing)}
                              for b in blocked],
        }, indent=2))  # fmt: skip
        return 0
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "-"
    print(f"Session: {session} (display {display}) on {sys.platform}")
    print("Sources:")
    for s in states:
        print(f"  {s.name:<6} {'ok' if s.ok else 'OFF':<4} {s.detail}")
    print("Permissions:")
    if not permissions:
        print("  none needed on this OS")
    for name, granted in permissions.items():
        print(f"  {name}: {'granted' if granted else 'missing'}")
    if sys.platform == "darwin":
        from agent.hooks.permissions_macos import check_permissions

        for line in check_permissions().missing():
            print(f"  {line}")
    print(f"Sync: {sync['summary']}")
    print_local_files(set_aside)
    if pack is None:
        print(f"Pack: {pack_path}: cannot load: {pack_error}")
        return 0
    print(f"Pack: {pack.id} v{pack.version} ({pack_path}), {len(pack.rules)} rules")
    if not blocked:
        print("Every rule can fire here.")
        return 0
    print(f"Rules that cannot fire here ({len(blocked)}):")
    for b in blocked:
        print(f"  {b.rule} ({pack_path.name}:{b.line}) needs {', '.join(b.missing)}")
    print("(why a source is off is shown under Sources above)")
    return 0


def _permissions(platform: str = sys.platform) -> dict[str, bool]:
    if platform != "darwin":
        return {}
    from agent.hooks.permissions_macos import check_permissions

    perms = check_permissions()
    return {"input_monitoring": perms.input_monitoring, "accessibility": perms.accessibility}


def _load(path: Path | None) -> tuple[Path, Pack | None, str]:
    from agent.app import default_pack_path

    pack_path = path or default_pack_path()
    try:
        from agent.rules.loader import load_pack

        return pack_path, load_pack(pack_path), ""
    except Exception as exc:  # a diagnosis reports a broken pack instead of failing
        return pack_path, None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def local_files(folder: Path | None = None) -> list[dict[str, object]]:
    """Files of the data folder found corrupt and set aside at some start (agent/storage.py)."""
    from agent.config.paths import data_dir
    from agent.storage import set_aside_files

    return [
        {"file": f.original, "set_aside_as": str(f.path),
         "at": f.when.isoformat(timespec="seconds"), "bytes": f.size}
        for f in set_aside_files(folder or data_dir())
    ]  # fmt: skip


def print_local_files(found: list[dict[str, object]]) -> None:
    if not found:
        print("Local files: none was corrupt")
        return
    print(f"Local files: {len(found)} corrupt file(s) were set aside and started fresh "
          "(agent.log says what was wrong; delete them once looked at):")  # fmt: skip
    for f in found:
        print(f"  {f['file']} at {f['at']}: {f['set_aside_as']} ({f['bytes']} bytes)")


def sync_readiness() -> dict[str, str | None]:
    """Is this agent set up to sync? From policy and the keyring only (no network)."""
    from agent.app import open_settings
    from agent.config.paths import data_dir
    from agent.sync.client import check_server_url
    from agent.sync.credentials import CredentialError, KeyringCredentials

    settings = open_settings(data_dir(), sys.platform)
    url = settings.get("server_url")
    out: dict[str, str | None] = {"server": url or None, "device_id": None, "problem": None}
    if not url:
        out["summary"] = "off (no server_url in policy; coaching uses the local pack)"
        return out
    try:
        base = check_server_url(str(url))
        creds = KeyringCredentials(base).load()
    except (ValueError, CredentialError) as exc:
        out["problem"] = str(exc)
        out["summary"] = f"{url}: cannot sync: {exc}"
        return out
    if creds is not None:
        out["device_id"] = creds.device_id
        out["summary"] = f"{base}: enrolled as device {creds.device_id} (`waymark sync` tries now)"
    elif not settings.get("enroll_token"):
        out["problem"] = "not enrolled and no enroll_token in policy"
        out["summary"] = f"{base}: cannot enroll: no enroll_token in policy"
    else:
        out["summary"] = f"{base}: not enrolled yet; enrolls on the first round (`waymark sync`)"
    return out
