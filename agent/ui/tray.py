"""The tray icon and its menu: status, pause/resume, settings, privacy, about, quit.

The menu exists even where no system tray does (Xvfb, many Linux desktops):
the agent keeps running and says so once (see :func:`agent.ui.desktop.run_desktop`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from agent.events import Pause
from agent.hooks.base import SourceState
from agent.ui.core import CoreLike
from agent.ui.icons import app_icon
from agent.ui.strings import tr

__all__ = [
    "TrayController",
    "format_until",
    "not_needed",
    "source_problems",
    "status_text",
    "tomorrow_start",
]


def tomorrow_start(now: float) -> float:
    """Local midnight at the start of tomorrow."""
    local = datetime.fromtimestamp(now).astimezone()
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.timestamp()


def format_until(until: float, now: float) -> str:
    """ "14:30" today, otherwise "Tue 00:00"."""
    when = datetime.fromtimestamp(until).astimezone()
    today = datetime.fromtimestamp(now).astimezone().date()
    return when.strftime("%H:%M") if when.date() == today else when.strftime("%a %H:%M")


def paused_until(core: CoreLike, now: float) -> float | None:
    value = core.settings.get("paused_until")
    return float(value) if isinstance(value, int | float) and value > now else None


#: What the person loses when a source is off, by source name.
_SOURCE_SEES: Final = {
    "input": "sees_input",
    "focus": "sees_focus",
    "idle": "sees_idle",
    "lock": "sees_lock",
    "quiet": "sees_quiet",
    "accessibility": "sees_accessibility",
    "files": "sees_files",
}


def not_needed(state: SourceState) -> bool:
    """A source started only for rules that need it, and no loaded rule does: no problem."""
    return not state.ok and state.detail.startswith("not started: no loaded rule")


def _cause(detail: str) -> str:
    """The string id of why a source is off, from its (technical) detail."""
    text = detail.lower()
    if "permission" in text:
        return "cause_permission"
    if "bus" in text or "d-bus" in text or "logind" in text:
        return "cause_bus"
    if "wayland" in text:
        return "cause_wayland"
    if "display" in text:
        return "cause_display"
    if "needs the focus source" in text:
        return "cause_needs_focus"
    return "cause_other"


def source_problems(core: CoreLike, lang: str) -> list[str]:
    """One plain sentence per source that does not work: what Waymark cannot see, and why."""
    states = core.source_states()
    off = {s.name for s in states if not s.ok}
    lines = []
    for state in states:
        if state.ok or state.name not in _SOURCE_SEES or not_needed(state):
            continue
        if state.name == "quiet" and "focus" in off:
            continue  # said once, for focus
        what = tr(_SOURCE_SEES[state.name], lang)
        lines.append(tr("status_missing", lang, what=what, why=tr(_cause(state.detail), lang)))
    return lines


def status_text(core: CoreLike, lang: str, now: float) -> str:
    """One line for the tooltip and the menu's first item (plus a line per missing source)."""
    if not core.settings.get("coaching_enabled"):
        text = tr("status_off", lang)
    else:
        until = paused_until(core, now)
        text = (
            tr("status_paused", lang, when=format_until(until, now))
            if until is not None
            else tr("status_on", lang)
        )
    for line in source_problems(core, lang):
        text += "\n" + line
    return text


class TrayController(QObject):
    """Owns the tray icon (when the desktop has a tray) and its menu."""

    def __init__(
        self,
        core: CoreLike,
        *,
        lang: Callable[[], str],
        open_settings: Callable[[str], object],
        focus_newest_toast: Callable[[], bool],
        quit_app: Callable[[], None],
        now: Callable[[], float] = time.time,
        show_sample_tip: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self._core = core
        self._lang = lang
        self._open_settings = open_settings
        self._focus_newest = focus_newest_toast
        self._quit = quit_app
        self._now = now
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.refresh)
        self.status_action = QAction(self.menu)
        self.status_action.setEnabled(False)
        self.focus_action = QAction(self.menu)
        self.sample_action = QAction(self.menu)
        self.pause_hour_action = QAction(self.menu)
        self.pause_tomorrow_action = QAction(self.menu)
        self.resume_action = QAction(self.menu)
        self.settings_action = QAction(self.menu)
        self.privacy_action = QAction(self.menu)
        self.about_action = QAction(self.menu)
        self.quit_action = QAction(self.menu)
        self.focus_action.triggered.connect(lambda: self._focus_newest())
        sample = show_sample_tip
        self.sample_action.triggered.connect(lambda: sample() if sample is not None else None)
        self.sample_action.setVisible(sample is not None)
        self.pause_hour_action.triggered.connect(self.pause_hour)
        self.pause_tomorrow_action.triggered.connect(self.pause_tomorrow)
        self.resume_action.triggered.connect(self.resume)
        self.settings_action.triggered.connect(lambda: self._open_settings("coaching"))
        self.privacy_action.triggered.connect(lambda: self._open_settings("privacy"))
        self.about_action.triggered.connect(lambda: self._open_settings("about"))
        self.quit_action.triggered.connect(lambda: self._quit())
        for action in (self.status_action, None, self.focus_action, self.sample_action, None,
                       self.pause_hour_action, self.pause_tomorrow_action, self.resume_action,
                       None, self.settings_action, self.privacy_action, self.about_action, None,
                       self.quit_action):  # fmt: skip
            if action is None:
                self.menu.addSeparator()
            else:
                self.menu.addAction(action)
        self.icon: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = QSystemTrayIcon(app_icon(), self)
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self._on_activated)
        self._expiry = QTimer(self)
        self._expiry.setSingleShot(True)
        self._expiry.timeout.connect(self.refresh)
        self.refresh()

    @property
    def available(self) -> bool:
        return self.icon is not None

    def show(self) -> None:
        if self.icon is not None:
            self.icon.show()

    def hide(self) -> None:
        if self.icon is not None:
            self.icon.hide()

    def refresh(self) -> None:
        """Texts, visibility and icon from the current settings and sources."""
        lang, now = self._lang(), self._now()
        status = status_text(self._core, lang, now)
        until = paused_until(self._core, now)
        enabled = bool(self._core.settings.get("coaching_enabled"))
        self.status_action.setText(status.replace("\n", " — "))
        self.focus_action.setText(tr("focus_tip", lang))
        self.sample_action.setText(tr("sample_tip", lang))
        self.pause_hour_action.setText(tr("pause_hour", lang))
        self.pause_tomorrow_action.setText(tr("pause_tomorrow", lang))
        self.resume_action.setText(tr("resume", lang))
        self.settings_action.setText(tr("settings", lang))
        self.privacy_action.setText(tr("what_collects", lang))
        self.about_action.setText(tr("about", lang))
        self.quit_action.setText(tr("quit", lang))
        self.resume_action.setVisible(until is not None)
        self.pause_hour_action.setVisible(enabled)
        self.pause_tomorrow_action.setVisible(enabled)
        self.quit_action.setVisible(bool(self._core.settings.get("allow_quit")))
        if self.icon is not None:
            self.icon.setToolTip(f"{tr('app_name', lang)}\n{status}")
            self.icon.setIcon(app_icon(paused=until is not None or not enabled))
        self._expiry.stop()
        if until is not None:
            # Refresh when the pause ends; no polling while idle.
            self._expiry.start(int(min(until - now, 86400 * 2) * 1000) + 500)

    def pause_hour(self) -> None:
        now = self._now()
        self._core.post(Pause(now, now + 3600))
        self.refresh()

    def pause_tomorrow(self) -> None:
        now = self._now()
        self._core.post(Pause(now, tomorrow_start(now)))
        self.refresh()

    def resume(self) -> None:
        self._core.post(Pause(self._now(), None))
        self.refresh()

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self._open_settings("coaching")
