"""`waymark run`: start the agent (tray and toasts on a desktop, decisions on stdout headless)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.rules.engine import Decision

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="start the agent",
        description="Start the Waymark agent. On a desktop it shows the tray icon and "
        "coaching toasts; with --headless (or when no display is available) it prints each "
        "decision instead. --script replays a JSONL file of events on real time instead of "
        "watching the real desktop.",
    )
    p.add_argument("--pack", type=Path, help="rule pack to use (default: the built-in pack)")
    p.add_argument("--script", type=Path, help="replay this JSONL event file instead of hooks")
    p.add_argument("--headless", action="store_true", help="no tray or toasts; print decisions")
    p.add_argument("--json", action="store_true", help="print decisions as JSON lines")
    p.add_argument("--no-hooks", action="store_true", help="do not watch the desktop")
    p.add_argument("--data-dir", type=Path, help="data folder (default: the per-user folder)")
    p.add_argument("--settings", action="store_true", help="open the settings window at start")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    p.add_argument(
        "--log-journal",
        action="store_true",
        help="also send log records to the systemd journal (Linux; the systemd user unit "
        "sets it): journalctl --user -t waymark",
    )
    p.set_defaults(func=run)


def has_display(platform: str = sys.platform) -> bool:
    """True where a desktop session can show windows."""
    if platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args: argparse.Namespace) -> int:
    from agent import __version__
    from agent.app import AgentCore, AgentOptions
    from agent.config.paths import log_dir
    from agent.log_sinks import log_sinks
    from agent.logs import setup_logging
    from agent.rules.effects import Effect
    from agent.rules.engine import decision_of

    if args.data_dir is not None:
        os.environ["WAYMARK_DATA_DIR"] = str(args.data_dir)
    sinks, sink_problems = log_sinks(sys.platform, journal=args.log_journal)
    setup_logging(log_dir(), args.verbose, tuple(sinks))
    for problem in sink_problems:
        log.warning("%s", problem)
    headless = args.headless or not has_display()
    if not headless:
        from agent.ui.desktop import forward_to_running_instance

        # A second start hands over to the running agent before building an engine.
        if forward_to_running_instance():
            print("waymark: already running; showing its settings window", file=sys.stderr)
            return 0
    if not args.headless and headless:
        print(
            "waymark: no display found (DISPLAY is not set): running headless, printing "
            "decisions; desktop sources are off. Try `make demo` for a virtual desktop.",
            file=sys.stderr,
        )
    options = AgentOptions(
        pack_path=args.pack,
        script=args.script,
        data_dir=args.data_dir,
        hooks=not args.no_hooks and has_display(),
        # On a desktop a tip counts as shown only once it is on screen (the UI confirms it).
        confirm_shows=not headless,
    )
    core = AgentCore(options)
    start = core.clock.now()
    lock = threading.Lock()

    def print_decision(effect: Effect) -> None:
        decision = decision_of(effect)
        if decision is None:
            return
        line = _decision_line(decision, start, as_json=args.json, tz=core.clock.tz)
        with lock:
            print(line, flush=True)

    if headless or args.json:
        core.add_effect_listener(print_decision)
    pack = core.pack_info()
    started = (
        f"coaching with pack {pack[0]} v{pack[1]} on device {core.device}"
        if pack
        else "no pack loaded"
    )
    print(f"waymark: {started}", file=sys.stderr)
    log.info("waymark %s started (pid %d): %s", __version__, os.getpid(), started)
    if headless:
        return _run_headless(core)
    from agent.ui.desktop import run_desktop

    try:
        # The UI connects its listeners first, then starts the core: the first
        # event (``start``) already finds someone to show its tip.
        return run_desktop(
            core,
            start=core.start,
            show_settings=args.settings,
            now=core.clock.now,
            image_root=core.pack_dir,
        )
    finally:
        core.stop()


def _run_headless(core: Any) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    core.start()
    try:
        while not stop.wait(0.2):
            if core.options.script is not None and core.script_finished():
                core.wait_idle()
                break
    finally:
        core.stop()
    return 0


def _decision_line(decision: Decision, start: float, *, as_json: bool, tz: tzinfo) -> str:
    data = decision.as_json(round(decision.t - start, 3))
    if as_json:
        return json.dumps(data)
    when = datetime.fromtimestamp(decision.t, tz).strftime("%H:%M:%S")
    what = decision.rule if decision.decision != "adopted" else decision.habit
    reason = f" ({decision.reason})" if decision.reason else ""
    return f"{when}  {decision.decision:<9} {what}{reason}"
