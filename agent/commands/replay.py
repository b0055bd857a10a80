"""`waymark replay PACK EVENTS.jsonl`: what a pack would do on a recorded day.

Runs the engine on virtual time (state in memory, nothing written) and prints
each decision: a readable table, or with ``--json`` one object per line
(``{"t": 3.5, "rule": "share-link", "decision": "show"}``,
``{"t": …, "rule": …, "decision": "suppress", "reason": "cooldown"}``,
``{"t": …, "habit": …, "decision": "adopted"}``), ``t`` being the seconds
since start as written in the file.  A ``start`` event is injected at ``t=0``
unless the file begins with one.  A bad pack prints ``FILE:LINE:COL: message``
lines and exits 2; bad event lines are warned about (``FILE:LINE: message``)
and skipped.  The event file and the output: docs/replay-format.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from agent.hooks.scripted import Script
    from agent.rules.engine import Decision
    from agent.rules.model import Pack

__all__ = ["ReplayResult", "register", "replay"]

DEFAULT_DEVICE = "replay-device"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "replay",
        help="show what a rule pack would do on a file of recorded events",
        description="Replay a JSONL file of events against a rule pack on virtual time and "
        "print every decision: shown, suppressed (with the reason) and habits adopted. "
        "Nothing is shown on screen and nothing is recorded.",
        epilog="Events, one JSON object a line, after an optional header line: "
        '{"header": {"start": "2026-11-30T09:00:00+01:00", "os": "windows", "tz": '
        '"Europe/Rome"}}, then e.g. {"t": 0, "kind": "focus", "app": "outlook.exe", '
        '"title": "Inbox"} and {"t": 3.5, "kind": "chord", "chord": "ctrl+v"}; t is seconds '
        "since start. Kinds: focus, chord, click, typing, idle, active, lock, unlock, quiet, "
        "start, action, pause, resume. The whole format, every field and the output: "
        "docs/replay-format.md in the Waymark sources.",
    )
    p.add_argument("pack", type=Path, help="rule pack (YAML or JSON)")
    p.add_argument("events", type=Path, help="events, one JSON object a line")
    p.add_argument("--json", action="store_true", help="one JSON object per decision")
    p.add_argument("--device", help="device id for rollout buckets (default: the file's header)")
    p.add_argument("--groups", help="comma-separated groups (default: the file's header)")
    p.set_defaults(func=_run)


class ReplayResult:
    """Decisions as ``(offset since start, Decision)`` plus what the replay saw."""

    __slots__ = ("decisions", "events", "problems", "start", "tz")

    def __init__(
        self,
        decisions: list[tuple[float, Decision]],
        events: int,
        problems: list[str],
        start: float,
        tz: tzinfo,
    ) -> None:
        self.decisions = decisions
        self.events = events
        self.problems = problems
        self.start = start
        self.tz = tz


def replay(
    pack: Pack,
    script: Script,
    *,
    device: str | None = None,
    groups: Sequence[str] | None = None,
) -> ReplayResult:
    """Run ``pack`` (a Pack) over ``script`` (a parsed Script) on virtual time."""
    from agent.clock import VirtualClock
    from agent.events import Start
    from agent.hooks.scripted import ScriptEvent
    from agent.rules.engine import Engine, decisions_of

    header = script.header
    clock = VirtualClock(header.start, header.tz)
    engine = Engine(
        pack,
        clock=clock,
        device=device or header.device or DEFAULT_DEVICE,
        groups=tuple(groups if groups is not None else header.groups or ()),
        os_name=header.os,
        state=None,
    )
    items: list[ScriptEvent] = list(script.events)
    if not items or not isinstance(items[0].event, Start):
        items.insert(0, ScriptEvent(0.0, Start(header.start), 0))
    decisions: list[tuple[float, Decision]] = []
    for item in items:
        clock.set(item.event.t)
        for decision in decisions_of(engine.handle(item.event)):
            decisions.append((item.offset, decision))
    return ReplayResult(decisions, len(items), list(script.problems), header.start, header.tz)


def _run(args: argparse.Namespace) -> int:
    from agent.hooks.scripted import load_script
    from agent.rules.loader import PackError, load_pack

    try:
        pack = load_pack(args.pack)
    except PackError as exc:
        for issue in exc.issues:
            print(str(issue), file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"waymark: cannot read the pack {args.pack}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        script = load_script(args.events, pack=pack)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"waymark: cannot read the events {args.events}: {exc}", file=sys.stderr)
        return 2
    for problem in script.problems:
        print(f"{problem} (line skipped)", file=sys.stderr)
    groups = [g.strip() for g in args.groups.split(",") if g.strip()] if args.groups else None
    result = replay(pack, script, device=args.device, groups=groups)
    out = sys.stdout
    if args.json:
        for offset, decision in result.decisions:
            out.write(json.dumps(decision.as_json(offset)) + "\n")
    else:
        _table(result, out)
    out.flush()
    return 0


def _offset(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"+{text}s"


def _table(result: ReplayResult, out: TextIO) -> None:
    rows = [("time", "offset", "rule / habit", "decision", "reason")]
    for offset, d in result.decisions:
        when = datetime.fromtimestamp(result.start + offset, result.tz).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        name = d.habit if d.decision == "adopted" else d.rule
        rows.append((when, _offset(offset), name or "", d.decision, d.reason or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    kinds = Counter(d.decision for _, d in result.decisions)
    why = Counter(d.reason for _, d in result.decisions if d.decision == "suppress")
    detail = ", ".join(f"{r} {n}" for r, n in sorted(why.items(), key=lambda x: (-x[1], x[0])))
    suppressed = f"{kinds['suppress']} suppressed" + (f" ({detail})" if detail else "")
    skipped = f", {len(result.problems)} lines skipped" if result.problems else ""
    out.write(
        f"\n{len(result.decisions)} decisions: {kinds['show']} shown, {suppressed}, "
        f"{kinds['adopted']} adopted; {result.events} events{skipped}\n"
    )
