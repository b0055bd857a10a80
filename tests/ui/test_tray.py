"""Tray menu: status, pause/resume, settings pages, quit policy."""

from __future__ import annotations

from PySide6.QtWidgets import QSystemTrayIcon

from agent.events import Pause
from agent.hooks.base import SourceState
from agent.ui.tray import TrayController, format_until, status_text, tomorrow_start
from tests.ui.fakes import FakeCore

NOW = 1_800_000_000.0


class Calls:
    def __init__(self) -> None:
        self.opened: list[str] = []
        self.focused = 0
        self.quit = 0

    def open(self, page: str) -> None:
        self.opened.append(page)

    def focus(self) -> bool:
        self.focused += 1
        return True

    def do_quit(self) -> None:
        self.quit += 1


def tray_for(core: FakeCore, calls: Calls, lang: str = "en") -> TrayController:
    return TrayController(core, lang=lambda: lang, open_settings=calls.open,
                          focus_newest_toast=calls.focus, quit_app=calls.do_quit,
                          now=lambda: NOW)  # fmt: skip


def visible_texts(tray: TrayController) -> list[str]:
    return [a.text() for a in tray.menu.actions() if a.isVisible() and not a.isSeparator()]


def test_menu_lists_status_and_every_item(core: FakeCore) -> None:
    tray = tray_for(core, Calls())
    assert visible_texts(tray) == [
        "Coaching is on", "Go to the newest tip", "Pause for 1 hour", "Pause until tomorrow",
        "Settings…", "What Waymark collects…", "About Waymark", "Quit Waymark",
    ]  # fmt: skip
    assert not tray.status_action.isEnabled()


def test_menu_in_italian(core: FakeCore) -> None:
    tray = tray_for(core, Calls(), "it")
    assert "Pausa per 1 ora" in visible_texts(tray)
    assert "Esci da Waymark" in visible_texts(tray)


def test_pause_one_hour_posts_pause_and_shows_paused_status(core: FakeCore) -> None:
    tray = tray_for(core, Calls())
    tray.pause_hour_action.trigger()
    assert core.posted == [Pause(NOW, NOW + 3600)]
    assert tray.status_action.text() == f"Paused until {format_until(NOW + 3600, NOW)}"
    assert tray.resume_action.isVisible()


def test_pause_until_tomorrow_posts_local_midnight(core: FakeCore) -> None:
    tray = tray_for(core, Calls())
    tray.pause_tomorrow_action.trigger()
    assert core.posted == [Pause(NOW, tomorrow_start(NOW))]
    assert 0 < tomorrow_start(NOW) - NOW <= 86400


def test_resume_posts_pause_none_and_hides_itself(core: FakeCore) -> None:
    tray = tray_for(core, Calls())
    tray.pause_hour_action.trigger()
    tray.resume_action.trigger()
    assert core.posted[-1] == Pause(NOW, None)
    assert not tray.resume_action.isVisible()
    assert tray.status_action.text() == "Coaching is on"


def test_switched_off_coaching_is_the_status(core: FakeCore) -> None:
    core.settings.set("coaching_enabled", False)
    tray = tray_for(core, Calls())
    assert tray.status_action.text() == "Coaching is switched off"
    assert not tray.pause_hour_action.isVisible()


def test_a_missing_permission_is_named_as_a_permission(core: FakeCore) -> None:
    core.states = [SourceState("input", False, "missing permission: Input Monitoring (…)")]
    line = "Waymark cannot see keyboard shortcuts and clicks: it needs a permission"
    assert line in status_text(core, "en", NOW)
    tray = tray_for(core, Calls())
    assert line in tray.status_action.text()


def test_a_missing_session_bus_is_not_called_a_permission(core: FakeCore) -> None:
    # The Linux lock source's own words when there is no session bus.
    detail = "lock events unavailable: no session bus; system bus unreachable (FileNotFoundError)"
    core.states = [SourceState("focus", True), SourceState("lock", False, detail)]
    text = status_text(core, "en", NOW)
    assert "permission" not in text.lower() and "lock\n" not in text + "\n"
    assert text.endswith(
        "Waymark cannot see when the screen is locked: the desktop's message service "
        "(D-Bus) is not available."
    )
    assert "Waymark non può vedere quando lo schermo è bloccato" in status_text(core, "it", NOW)


def test_the_quiet_source_is_not_blamed_twice_when_focus_is_off(core: FakeCore) -> None:
    core.states = [SourceState("focus", False, "cannot open X display :9: refused"),
                   SourceState("quiet", False, "needs the focus source")]  # fmt: skip
    assert status_text(core, "en", NOW).splitlines()[1:] == [
        "Waymark cannot see which app is in front: there is no desktop display."
    ]


def test_items_open_the_right_settings_page_and_focus_the_tip(core: FakeCore) -> None:
    calls = Calls()
    tray = tray_for(core, calls)
    tray.settings_action.trigger()
    tray.privacy_action.trigger()
    tray.about_action.trigger()
    tray.focus_action.trigger()
    tray.quit_action.trigger()
    assert not tray.sample_action.isVisible()  # no sample-tip callback given here
    assert calls.opened == ["coaching", "privacy", "about"]
    assert calls.focused == 1 and calls.quit == 1


def test_quit_is_hidden_when_policy_forbids_it(managed_core: FakeCore) -> None:
    tray = tray_for(managed_core, Calls())
    assert not tray.quit_action.isVisible()
    assert "Quit Waymark" not in visible_texts(tray)


def test_without_a_system_tray_the_menu_still_works(core: FakeCore) -> None:
    tray = tray_for(core, Calls())
    assert tray.available == QSystemTrayIcon.isSystemTrayAvailable()
    tray.show()  # a no-op without a tray; never raises
