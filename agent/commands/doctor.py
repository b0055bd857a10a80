"""`waymark doctor`: is this computer set up right, and what can the agent see here?

It reads the managed policy (source, organisation, telemetry mode, each key
applied, locked or ignored with the reason, each publisher key's validity),
starts the real sources for a moment (exactly as ``waymark run`` would),
prints each one's state, the session type and the macOS permissions, checks
whether sync can work and as which device this data folder is enrolled, then
loads the pack (the default one, or ``--pack``) and lists the rules that need
a source that is not working here.  It exits 1 when something an admin must
fix is wrong (listed under "To fix"), else 0; ``--json`` carries the same.
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

__all__ = [
    "BlockedRule",
    "admin_problems",
    "apps_missing_here",
    "blocked_rules",
    "policy_report",
    "publisher_key_report",
    "register",
    "sources_needed",
    "sync_readiness",
]

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


EXIT_OK = 0
EXIT_FIX = 1


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "doctor",
        help="check this computer's setup: policy, sources, sync, rules that cannot fire",
        description="Reads the managed policy (which file or registry key, the organisation, "
        "the telemetry mode, each key applied, locked or ignored and why, whether each "
        "publisher key is valid), starts the desktop sources briefly, prints their state, "
        "the session type and permissions, checks that sync can work (from policy and the "
        "keyring, without the network; the device of this data folder), and lists the "
        "loaded pack's rules that cannot fire on this desktop.",
        epilog="Exit status: 0 nothing an admin must fix (a source may still be off, e.g. no "
        "lock events without a session bus: see Sources); 1 something an admin must fix, "
        "listed under 'To fix' (--json: problems): a policy key ignored (unknown, wrong type, "
        "a value policy may not set), a policy file that cannot be read, an invalid "
        "publisher key, a sync that cannot work (bad server_url, no OS keyring, not enrolled "
        "and no enroll_token, no valid publisher key for the server's packs), no event "
        "source working at all, or a pack that does not load; 2 a wrong command line. "
        "--json prints the same as one object.",
    )
    p.add_argument("--pack", type=Path, help="rule pack to check (default: the built-in pack)")
    p.add_argument("--data-dir", type=Path, help="data folder (default: the per-user folder)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from agent.app import build_hookset, open_settings, os_name
    from agent.config.paths import data_dir
    from agent.hooks.base import Emitter
    from agent.hooks.hookset import session_type

    if args.data_dir is not None:
        os.environ["WAYMARK_DATA_DIR"] = str(args.data_dir)
    folder = data_dir()
    settings = open_settings(folder, sys.platform)
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
    policy = policy_report(settings)
    keys = publisher_key_report(settings.get("publisher_keys"))
    sync = sync_readiness(settings, folder)
    problems = admin_problems(policy, keys, sync, states, pack_path, pack_error)
    set_aside = local_files(folder)
    if args.json:
        print(json.dumps({
            "problems": problems,
            "policy": policy,
            "publisher_keys": keys,
            "local_files": set_aside,
            "sync": sync,
            "data_dir": str(folder),
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
        return EXIT_FIX if problems else EXIT_OK
    _print_policy(policy, keys)
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
    print(f"  data folder {folder} (local device {sync['local_device'] or 'none yet'})")
    if sync.get("pack_withheld"):
        print(f"  last pack check: {sync['pack_withheld']}")
    print_local_files(set_aside)
    if pack is None:
        print(f"Pack: {pack_path}: cannot load: {pack_error}")
    else:
        print(f"Pack: {pack.id} v{pack.version} ({pack_path}), {len(pack.rules)} rules")
        if not blocked:
            print("Every rule can fire here.")
        else:
            print(f"Rules that cannot fire here ({len(blocked)}):")
            for b in blocked:
                print(f"  {b.rule} ({pack_path.name}:{b.line}) needs {', '.join(b.missing)}")
            print("(why a source is off is shown under Sources above)")
    if problems:
        print(f"To fix ({len(problems)}):")
        for problem in problems:
            print(f"  - {problem}")
        return EXIT_FIX
    print("Nothing to fix.")
    return EXIT_OK


def _print_policy(policy: Mapping[str, Any], keys: list[dict[str, Any]]) -> None:
    print(f"Policy: {policy['source'] or 'none found'}"
          + ("" if policy["source"] else f" (looked in {policy['looked_in']})"))  # fmt: skip
    print(f"  organisation: {policy['organisation'] or '(not set)'}")
    print(f"  telemetry mode: {policy['telemetry_mode']}")
    for entry in policy["keys"]:
        value = f" = {entry['value']}" if entry.get("value") is not None else ""
        print(f"  {entry['status']:<8} {entry['key']}{value} ({entry['reason']})")
    for entry in keys:
        state = f"valid, key id {entry['key_id']}" if entry["valid"] else entry["problem"]
        print(f"  publisher key {entry['index']} ({entry['start']}…): {state}")


def _policy_locations(platform: str = sys.platform) -> str:
    from agent.config.policy import LINUX_POLICY_FILE, MACOS_DOMAIN, WINDOWS_POLICY_KEY

    override = os.environ.get("WAYMARK_POLICY_FILE")
    if override:
        return f"{override} (WAYMARK_POLICY_FILE)"
    if platform == "win32":
        return f"HKLM\\{WINDOWS_POLICY_KEY} and HKCU\\{WINDOWS_POLICY_KEY}"
    if platform == "darwin":
        return f"managed preferences {MACOS_DOMAIN}"
    return LINUX_POLICY_FILE


#: Policy values never printed (a secret the agent trades for its own).
_SECRET_KEYS = frozenset({"enroll_token"})


def policy_report(settings: Any) -> dict[str, Any]:
    """What the managed policy set: where from, and each key applied, locked or ignored."""
    from agent.config.options import OPTIONS, OPTIONS_BY_KEY

    policy = settings.policy
    keys: list[dict[str, Any]] = []

    def add(key: str, status: str, value: str | None, reason: str) -> None:
        keys.append({"key": key, "status": status, "value": value, "reason": reason})

    for key, value in policy.values.items():
        option = OPTIONS_BY_KEY[key]
        shown = "(set, not shown)" if key in _SECRET_KEYS else option.type.to_text(value)
        if option.user_editable:
            add(key, "locked", shown, "a personal setting the policy fixes: shown locked")
        else:
            add(key, "applied", shown, "set by policy")
    for option in OPTIONS:
        rule = settings.locked_by(option.key)
        if rule is not None and option.key not in policy.values:
            add(option.key, "locked", None, f"the organisation's while {rule.key} is {rule.value}")
    for key, why in policy.ignored:
        add(key, "ignored", None, why)
    read_problems = list(policy.warnings[: len(policy.warnings) - len(policy.ignored)])
    return {
        "source": policy.source or None,
        "looked_in": _policy_locations(),
        "organisation": policy.organisation,
        "telemetry_mode": settings.get("telemetry_mode"),
        "keys": keys,
        "read_problems": read_problems,
    }


def publisher_key_report(setting: object) -> list[dict[str, Any]]:
    """Each ``publisher_keys`` entry: valid (with its key id) or why it is not."""
    from agent.rules.bundle import key_id, load_public_key

    out: list[dict[str, Any]] = []
    for i, text in enumerate(setting if isinstance(setting, list) else [], start=1):
        entry: dict[str, Any] = {"index": i, "start": str(text)[:12], "valid": False,
                                 "key_id": None, "problem": None}  # fmt: skip
        try:
            entry["key_id"] = key_id(load_public_key(str(text)))
            entry["valid"] = True
        except ValueError as exc:
            entry["problem"] = f"not a valid Ed25519 public key ({exc})"
        out.append(entry)
    return out


def admin_problems(
    policy: Mapping[str, Any],
    keys: list[dict[str, Any]],
    sync: Mapping[str, Any],
    states: Iterable[SourceState],
    pack_path: Path,
    pack_error: str,
) -> list[str]:
    """What an admin must fix, one sentence each (empty: nothing)."""
    where = policy["source"] or "policy"
    problems = [str(p) for p in policy["read_problems"]]
    problems += [
        f"{where}: {k['key']} is ignored: {k['reason']}"
        for k in policy["keys"]
        if k["status"] == "ignored"
    ]
    problems += [
        f"{where}: publisher key {k['index']} ({k['start']}…) is {k['problem']}"
        for k in keys
        if not k["valid"]
    ]
    if sync.get("problem"):
        problems.append(f"sync cannot work: {sync['problem']}")
    if sync.get("server") and not any(k["valid"] for k in keys):
        problems.append("sync cannot work: no valid publisher_keys, so no pack from the server "
                        "can ever be run")  # fmt: skip
    states = list(states)
    if states and not any(s.ok for s in states):
        problems.append("no event source works here, so no rule can fire (see Sources)")
    if pack_error:
        problems.append(f"the pack {pack_path} does not load: {pack_error}")
    return problems


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


def local_files(folder: Path) -> list[dict[str, object]]:
    """Files of the data folder found corrupt and set aside at some start (agent/storage.py)."""
    from agent.storage import set_aside_files

    return [
        {"file": f.original, "set_aside_as": str(f.path),
         "at": f.when.isoformat(timespec="seconds"), "bytes": f.size}
        for f in set_aside_files(folder)
    ]  # fmt: skip


def print_local_files(found: list[dict[str, object]]) -> None:
    if not found:
        print("Local files: none was corrupt")
        return
    print(f"Local files: {len(found)} corrupt file(s) were set aside and started fresh "
          "(agent.log says what was wrong; delete them once looked at):")  # fmt: skip
    for f in found:
        print(f"  {f['file']} at {f['at']}: {f['set_aside_as']} ({f['bytes']} bytes)")


def sync_readiness(settings: Any, folder: Path) -> dict[str, Any]:
    """Is this agent set up to sync, and as which device? Policy and the keyring only."""
    from agent.app import device_credentials, existing_device_id
    from agent.sync.broker import broker_runs_here
    from agent.sync.client import WAITING_FOR_APPROVAL, check_server_url
    from agent.sync.credentials import (
        ENROLLMENT_FILE,
        CredentialError,
        KeyringCredentials,
        is_pending,
    )
    from agent.sync.packs import stored_withheld

    url = settings.get("server_url")
    local = existing_device_id(folder)
    out: dict[str, Any] = {"server": url or None, "device_id": None, "problem": None,
                           "local_device": local, "pack_withheld": None}  # fmt: skip
    if not url:
        out["summary"] = "off (no server_url in policy; coaching uses the local pack)"
        return out
    # What the server said at the last pack check: a newer version this device is not in.
    out["pack_withheld"] = stored_withheld(folder / "sync")
    try:
        # A folder the agent never ran in has no device id yet: only the old entry can exist.
        base = check_server_url(str(url))
        store = (
            device_credentials(base, settings, folder)
            if local is not None
            else KeyringCredentials(base)
        )
        creds, old_entry = store.find()
        old_entry = old_entry or (local is None and creds is not None)
    except (ValueError, CredentialError) as exc:
        out["problem"] = str(exc)
        out["summary"] = f"{url}: cannot sync: {exc}"
        return out
    if creds is not None:
        out["device_id"] = creds.device_id
        moved = (
            " (kept under the old server-only entry; moves to this folder at the next sync)"
            if old_entry
            else ""
        )
        out["summary"] = (f"{base}: this data folder is device {creds.device_id}{moved} "
                          "(`waymark sync` tries now)")  # fmt: skip
    elif not settings.get("enroll_token") and broker_runs_here(sys.platform):
        out["summary"] = (f"{base}: not enrolled yet; enrolls through this computer's "
                          "enrollment broker on the first round (`waymark sync`)")  # fmt: skip
    elif not settings.get("enroll_token"):
        out["problem"] = "not enrolled and no enroll_token in policy"
        out["summary"] = f"{base}: cannot enroll: no enroll_token in policy"
    else:
        out["summary"] = f"{base}: not enrolled yet; enrolls on the first round (`waymark sync`)"
    if is_pending(folder / "sync" / ENROLLMENT_FILE, base):
        out["waiting_for_approval"] = True
        out["summary"] += f"; {WAITING_FOR_APPROVAL}"
    return out
