"""`waymark inspect`: the selectors of the elements a person uses in an app, printed locally.

For a change manager writing an element rule: while it runs, each element of
the inspected app that gets focus or is pressed, and each window or menu
that opens, is printed as a selector to paste into a pack.  Password fields
and the roles whose names Waymark does not read (edit fields, documents,
cells, list items) are not printed.  It prints to this terminal only and
writes nothing to disk: no log file, no data folder.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "inspect",
        help="print the selectors of elements you use in an app (for writing element rules)",
        description="While it runs, prints the selector (role, name, automation id, window) of "
        "each element of the app that gets focus or is pressed, and of each dialog or menu that "
        "opens, ready to paste into a rule (docs/pack-format.md, 'Element triggers'). Prints "
        "nothing for password fields or edit fields, documents, cells and list items, and "
        "writes nothing to disk. Stop it with Ctrl+C.",
    )
    p.add_argument(
        "--app",
        action="append",
        default=[],
        metavar="APP",
        help="an app to inspect: a logical name from the pack or an OS identifier "
        "(outlook.exe, com.microsoft.Outlook, thunderbird); repeat for several. "
        "Default: the apps the pack's element rules name",
    )
    p.add_argument("--pack", type=Path, help="the pack whose apps are meant (default: built-in)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.set_defaults(func=_run)


def _apps(args: argparse.Namespace, os_name: str) -> list[str] | str:
    from agent.app import default_pack_path
    from agent.rules.loader import PackError, load_pack
    from agent.rules.watchlist import Watchlist

    try:
        pack = load_pack(args.pack or default_pack_path())
    except (PackError, OSError) as exc:
        if not args.app:
            return f"cannot read the pack to find its apps: {str(exc).splitlines()[0]}"
        pack = None
    if not args.app:
        found = sorted(Watchlist(pack, os_name).apps)
        return found or "the pack has no element rule: name an app with --app"
    out: list[str] = []
    for name in args.app:
        alias = pack.apps.get(name) if pack is not None else None
        out.extend(getattr(alias, os_name) if alias is not None else (name,))
    return out


def _run(args: argparse.Namespace) -> int:
    from agent.app import os_name
    from agent.hooks.a11y import ElementSeen, inspect_line
    from agent.hooks.base import Emitter
    from agent.rules.watchlist import InspectWatchlist

    system = os_name(sys.platform)
    apps = _apps(args, system)
    if isinstance(apps, str):
        print(f"waymark: {apps}", file=sys.stderr)
        return 2
    watchlist = InspectWatchlist(apps)
    lock = threading.Lock()
    last: list[str] = []

    def show(seen: ElementSeen) -> None:
        line = inspect_line(seen)
        if line is None or last == [line]:
            return
        with lock:
            last[:] = [line]
            print(line, flush=True)

    import queue

    sink = Emitter(queue.Queue(1))  # nothing is matched: the inspector prints, the engine gets none
    try:
        source = _element_source(system, watchlist, show)
        source.start(sink)
    except RuntimeError as exc:
        print(f"waymark: cannot inspect here: {exc}", file=sys.stderr)
        return 1
    presses = _presses(system, source)
    print(f"Inspecting {', '.join(apps)}: use the app; Ctrl+C stops.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(args.seconds)
    finally:
        if presses is not None:
            presses.stop()
        source.stop()
    return 0


def _element_source(system: str, watchlist: Any, show: Any) -> Any:
    if system == "windows":
        from agent.hooks.a11y_windows import WindowsElementSource

        return WindowsElementSource(watchlist, inspector=show)
    if system == "macos":
        from agent.hooks.a11y_macos import MacElementSource

        return MacElementSource(watchlist, inspector=show)
    from agent.hooks.a11y_linux import AtspiSource

    return AtspiSource(watchlist, inspector=show)


def _presses(system: str, source: Any) -> Any:
    """The input hook, for clicks and Enter/Space (``invoke``); None where it cannot run."""
    import queue

    from agent.hooks.base import Emitter
    from agent.hooks.input_pynput import InputSource

    hook = InputSource(platform={"windows": "win32", "macos": "darwin"}.get(system, "linux"))
    try:
        hook.start(Emitter(queue.Queue(1)))
    except RuntimeError as exc:
        print(f"waymark: presses are not seen here ({exc}); focus still is", file=sys.stderr)
        return None
    hook.on_activate = source.poke
    return hook
