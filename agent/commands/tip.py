"""`waymark tip --test`: show a sample tip, to check that tips can appear on this desktop.

With Waymark running, the running agent shows it (the same path as its tips);
otherwise this command shows it itself and waits until it is closed.  Nothing
is recorded either way.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]

#: Seconds the sample tip has to reach the screen before the check fails.
ON_SCREEN_WITHIN = 10.0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "tip",
        help="show a sample tip to check that tips appear here",
        description="Show a sample tip, so a person or the help desk can see that tips "
        "appear on this desktop. With Waymark running, the running agent shows it; "
        "otherwise this command shows it and waits until one of its buttons closes it. "
        "Nothing is recorded. Exit status: 0 the tip was on screen (or the running agent "
        "was asked to show it), 1 it could not be shown here.",
    )
    p.add_argument(
        "--test",
        action="store_true",
        required=True,
        help="show the sample tip (the only kind of tip this command shows)",
    )
    p.set_defaults(func=_run)


def _fail(message: str) -> int:
    print(f"waymark: {message}", file=sys.stderr)
    return 1


def _run(args: argparse.Namespace) -> int:
    from agent.commands.run import has_display

    if not has_display():
        return _fail("no display found (DISPLAY is not set): tips cannot appear here")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import agent.ui  # noqa: F401  (applies the PySide6 refcount guard)
    from agent.config.paths import data_dir
    from agent.ui.desktop import (
        SHOW_SAMPLE_TIP,
        DesktopUi,
        exit_event_loop,
        forward_to_running_instance,
    )
    from agent.ui.standalone import StandaloneCore

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    if forward_to_running_instance(SHOW_SAMPLE_TIP):
        print("waymark: asked the running Waymark to show a sample tip", file=sys.stderr)
        return 0
    core = StandaloneCore(data_dir())
    result: list[int] = []
    shown: list[bool] = []

    def on_screen() -> None:
        shown.append(True)
        print("waymark: the sample tip is on screen; close it with any of its buttons",
              file=sys.stderr, flush=True)  # fmt: skip

    def on_closed(choice: str) -> None:
        print(f"waymark: the sample tip was closed ({choice})", file=sys.stderr)
        result.append(0)
        exit_event_loop()

    def too_late() -> None:
        if not result and not shown:
            result.append(1)
            print(f"waymark: the sample tip did not reach the screen within "
                  f"{ON_SCREEN_WITHIN:.0f} s", file=sys.stderr)  # fmt: skip
            exit_event_loop()

    try:
        ui = DesktopUi(core, quit_app=exit_event_loop)
        if not ui.show_sample_tip(on_screen, on_closed):
            problems = "; ".join(ui.presenters.problems) or "no way to show it"
            return _fail(f"a tip cannot be shown here: {problems}")
        QTimer.singleShot(int(ON_SCREEN_WITHIN * 1000), too_late)
        app.exec()
        ui.presenters.close_all()
    finally:
        core.close()
    return result[0] if result else 0
