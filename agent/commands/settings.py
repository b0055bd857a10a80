"""`waymark settings`: bring the running agent's settings window forward, or
open the settings on their own when Waymark is not running."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]

PAGES = ("coaching", "privacy", "about")


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "settings",
        help="open the settings window",
        description="Open Waymark's settings. With Waymark running, its window comes "
        "forward; otherwise the settings open on their own and apply when Waymark starts.",
    )
    p.add_argument("--page", choices=PAGES, default="coaching", help="page to show first")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from agent.commands.run import has_display

    if not has_display():
        print(
            "waymark: no display found (DISPLAY is not set), so there is no window to open. "
            "Run this on the desktop where Waymark runs.",
            file=sys.stderr,
        )
        return 1
    from PySide6.QtWidgets import QApplication

    import agent.ui  # noqa: F401  (applies the PySide6 refcount guard)
    from agent.config.paths import data_dir
    from agent.ui.desktop import exit_event_loop, forward_to_running_instance
    from agent.ui.icons import app_icon
    from agent.ui.settings_window import SettingsWindow
    from agent.ui.standalone import StandaloneCore
    from agent.ui.strings import resolve_language, text_preferences

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    if forward_to_running_instance(f"show-settings:{args.page}"):
        print("waymark: asked the running Waymark to show its settings", file=sys.stderr)
        return 0
    from PySide6.QtCore import QLocale

    from agent.app import open_settings, pack_in_use

    folder = data_dir()
    core = StandaloneCore(folder, pack=pack_in_use(folder, open_settings(folder, sys.platform)))
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)

    def lang() -> str:
        return resolve_language(core.settings.get("language"), QLocale.system().name())

    def text_langs() -> tuple[str, ...]:
        return text_preferences(core.settings.get("language"), QLocale.system().uiLanguages())

    window = SettingsWindow(core, lang=lang, text_langs=text_langs)
    core.settings.subscribe(window.setting_changed)
    window.closed.connect(exit_event_loop)
    window.show_page(args.page)
    try:
        return int(app.exec())
    finally:
        core.close()
