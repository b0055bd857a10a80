"""Settings window: consent/notice first run, generated fields, managed fields,
validation, the Privacy tables from the real outbox, About, language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QTableWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from agent.events import Pause
from agent.hooks.base import SourceState
from agent.sync.client import WAITING_FOR_APPROVAL
from agent.ui.settings_window import AppListEditor, SettingsWindow
from tests.ui.fakes import FakeCore, make_pack, record

NOW = 1_800_000_000.0


@pytest.fixture
def server_core(data_dir: Path, qapp: QApplication) -> Iterator[FakeCore]:
    """A core with a server in policy and the test pack running."""
    qapp.setQuitOnLastWindowClosed(False)
    fake = FakeCore(data_dir, {"server_url": "https://waymark.example.com",
                               "organisation": "Example Corp"})  # fmt: skip
    fake.rules_pack = make_pack()
    yield fake
    fake.close()


def window_for(core: FakeCore, qtbot: QtBot) -> SettingsWindow:
    window = SettingsWindow(core, lang=lambda: _lang(core), now=lambda: NOW)
    qtbot.addWidget(window)
    return window


def _lang(core: FakeCore) -> str:
    value = core.settings.get("language")
    return value if value in ("en", "it") else "en"


def cells(table: QTableWidget) -> list[str]:
    return [text for row in table_rows(table) for text in row]


def table_rows(table: QTableWidget) -> list[list[str]]:
    def text(r: int, c: int) -> str:
        item = table.item(r, c)
        return item.text() if item is not None else ""

    return [[text(r, c) for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_first_run_shows_the_consent_page_in_plain_words(core: FakeCore, qtbot: QtBot) -> None:
    window = window_for(core, qtbot)
    window.show_page("coaching")
    assert window.current_page() == "consent"
    consent = window.consent
    assert consent is not None and not consent.notice_mode
    assert consent.opt_in_button is not None and consent.not_now_button is not None
    texts = " ".join(label.text() for label in consent.findChildren(type(consent.title)))
    assert "never records what you type" in texts
    assert "pause" in texts


def test_opt_in_grants_consent_and_moves_to_privacy(core: FakeCore, qtbot: QtBot) -> None:
    window = window_for(core, qtbot)
    window.show_page()
    assert window.consent is not None and window.consent.opt_in_button is not None
    window.consent.opt_in_button.click()
    assert core.settings.get("consent") == "granted"
    assert core.settings.telemetry_enabled
    assert window.current_page() == "privacy"
    assert "You agreed" in window.consent_state.text()


def test_not_now_declines_and_telemetry_stays_off(core: FakeCore, qtbot: QtBot) -> None:
    window = window_for(core, qtbot)
    window.show_page()
    assert window.consent is not None and window.consent.not_now_button is not None
    window.consent.not_now_button.click()
    assert core.settings.get("consent") == "declined"
    assert not core.settings.telemetry_enabled
    assert "Nothing is sent" in window.consent_state.text()


def test_org_notice_mode_shows_a_notice_without_opt_in(data_dir, qtbot: QtBot, qapp) -> None:  # type: ignore[no-untyped-def]
    core = FakeCore(data_dir, {"telemetry_mode": "org-notice", "organisation": "Example Corp"})
    window = window_for(core, qtbot)
    window.show_page()
    consent = window.consent
    assert consent is not None and consent.notice_mode
    assert consent.opt_in_button is None and consent.ok_button is not None
    assert "Example Corp" in consent.title.text()
    consent.ok_button.click()
    assert window.current_page() == "privacy"
    assert core.settings.get("consent") == "unknown"  # a notice is not a consent
    assert "organisation notice" in window.consent_state.text()
    core.close()


def test_fields_are_generated_from_the_declared_options(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    window = window_for(core, qtbot)
    pages = ("coaching", "privacy", "about")
    expected = {o.key for o in core.settings.options() if o.user_editable and o.page in pages}
    assert set(window.fields) == expected
    assert isinstance(window.fields["coaching_enabled"].editor, QCheckBox)
    assert isinstance(window.fields["toast_position"].editor, QComboBox)
    assert isinstance(window.fields["quiet_hours"].editor, QLineEdit)
    for field in window.fields.values():
        assert field.editor.accessibleName()


def test_changing_fields_writes_the_settings(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    window = window_for(core, qtbot)
    box = window.fields["coaching_enabled"].editor
    assert isinstance(box, QCheckBox)
    box.click()
    assert core.settings.get("coaching_enabled") is False
    combo = window.fields["toast_position"].editor
    assert isinstance(combo, QComboBox)
    combo.activated.emit(combo.findData("top-left"))
    assert core.settings.get("toast_position") == "top-left"
    apps = window.fields["never_interrupt"].editor
    assert isinstance(apps, AppListEditor)
    apps.add("zoom.us")
    apps.add("ms-teams.exe")
    assert core.settings.get("never_interrupt") == ["zoom.us", "ms-teams.exe"]


def test_invalid_quiet_hours_show_an_error_and_revert(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    window = window_for(core, qtbot)
    field = window.fields["quiet_hours"]
    assert isinstance(field.editor, QLineEdit)
    field.editor.setText("lunchtime")
    field.editor.editingFinished.emit()
    assert core.settings.get("quiet_hours") == ""
    assert not field.error.isHidden() and "HH:MM-HH:MM" in field.error.text()
    assert field.editor.text() == ""
    field.editor.setText("12:30-13:30")
    field.editor.editingFinished.emit()
    assert core.settings.get("quiet_hours") == "12:30-13:30"
    assert field.error.isHidden()


def test_managed_fields_are_locked_with_the_organisation(
    managed_core: FakeCore, qtbot: QtBot
) -> None:
    managed_core.settings.set("consent", "declined")
    window = window_for(managed_core, qtbot)
    for key in ("toast_position", "quiet_hours"):
        field = window.fields[key]
        assert not field.editor.isEnabled()
        assert not field.note.isHidden()
        assert field.note.text() == "Managed by Example Corp"
    assert window.fields["coaching_enabled"].editor.isEnabled()
    assert window.fields["coaching_enabled"].note.isHidden()


def test_pause_and_resume_buttons_post_pause(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    window = window_for(core, qtbot)
    window.show_page("coaching")
    window.pause_button.click()
    assert core.posted == [Pause(NOW, NOW + 3600)]
    assert "Paused until" in window.status_label.text()
    assert window.resume_button.isVisible() and not window.pause_button.isVisible()
    window.resume_button.click()
    assert core.posted[-1] == Pause(NOW, None)


def test_reset_never_asks_the_core(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    window = window_for(core, qtbot)
    window.reset_never_button.click()
    assert core.resets == 1
    assert "shown again" in window.reset_never_done.text()


def test_privacy_tables_show_pending_and_sent_telemetry(
    server_core: FakeCore, qtbot: QtBot
) -> None:
    core = server_core
    core.settings.set("consent", "granted")
    core.outbox.append(record("shown", "share-link", NOW))
    sent_id = core.outbox.append(record("snoozed", "use-teams", NOW + 60))
    core.outbox.flush()
    core.outbox.accept([sent_id], now=NOW + 120)
    window = window_for(core, qtbot)
    window.show_page("privacy")
    pending, sent = table_rows(window.pending_table), table_rows(window.sent_table)
    assert [r[1:3] for r in pending] == [["Tip shown", "Share a link instead"]]
    assert [r[1:3] for r in sent] == [["Snoozed", "use-teams"]]  # a rule no longer in the pack
    assert window.pending_table.accessibleName() == "Waiting to be sent"
    assert not window.sent_table.isHidden()


def test_empty_privacy_tables_say_so(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    window = window_for(core, qtbot)
    window.show_page("privacy")
    assert table_rows(window.pending_table)[0][0] == "Nothing yet."


def test_about_shows_version_pack_server_and_sync(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    core.last_sync = NOW
    window = window_for(core, qtbot)
    window.show_page("about")
    assert window.current_page() == "about"
    assert window.about_values["about_pack"].text() == "m365-habits v7"
    assert window.about_values["about_server"].text() == "none (nothing leaves this computer)"
    assert window.about_values["about_last_sync"].text().startswith("20")
    assert window.about_values["about_sources"].text() == (
        "It sees which app is in front, keyboard shortcuts and clicks."
    )


@pytest.mark.parametrize(
    ("problem", "words"),
    [
        ("upload: ConnectError: [Errno 111] Connection refused", "could not be reached"),
        ("no OS keyring is available to keep the device secret (on Linux: …); sync is off",
         "no password store"),
        ("pack refused: signature by unknown key 3f9a…", "did not pass their safety checks"),
        ("not enrolled and the policy has no enroll_token", "not registered"),
        (WAITING_FOR_APPROVAL, "waits for your IT team to approve it"),
    ],
)  # fmt: skip
def test_about_says_why_sync_fails_in_plain_words(
    core: FakeCore, qtbot: QtBot, problem: str, words: str
) -> None:
    core.sync_problem = problem
    window = window_for(core, qtbot)
    window.show_page("about")
    label = window.about_values["about_last_sync"]
    assert label.text().startswith("never — ") and words in label.text()
    for raw in ("Errno", "ConnectError", "enroll_token", "keyring (on", "3f9a"):
        assert raw not in label.text()
    assert label.toolTip() == problem  # the details stay for the help desk


def test_about_has_no_repository_path_and_links_to_the_privacy_page(
    core: FakeCore, qtbot: QtBot
) -> None:
    core.settings.set("consent", "declined")
    window = window_for(core, qtbot)
    window.show_page("about")
    texts = " ".join(w.text() for w in window.findChildren(QLabel))
    assert "docs/" not in texts and ".md" not in texts
    assert "What Waymark observes and sends" in window.privacy_link.text()


def test_about_names_a_missing_session_bus_in_plain_words(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    detail = "lock events unavailable: no session bus; system bus unreachable (FileNotFoundError)"
    core.states = [SourceState("focus", True), SourceState("lock", False, detail)]
    window = window_for(core, qtbot)
    window.show_page("about")
    assert window.about_values["about_sources"].text().splitlines() == [
        "It sees which app is in front.",
        "Waymark cannot see when the screen is locked: the desktop's message service "
        "(D-Bus) is not available.",
    ]
    assert "FileNotFoundError" in window.about_values["about_sources"].toolTip()


def test_language_change_rebuilds_the_window_in_italian(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    window = window_for(core, qtbot)
    combo = window.fields["language"].editor
    assert isinstance(combo, QComboBox)
    combo.activated.emit(combo.findData("it"))
    window.setting_changed("language")
    assert window.windowTitle() == "Impostazioni di Waymark"
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Suggerimenti", "Privacy", "Informazioni"
    ]  # fmt: skip


def test_closing_hides_the_window_and_keeps_the_agent(core: FakeCore, qtbot: QtBot) -> None:
    window = window_for(core, qtbot)
    window.show_page()
    assert window.close() is False or not window.isVisible()
    assert not window.isVisible()


# -- first-run and privacy wording (issue 11, items 3-5) --------------------------------


def _page_text(widget: QWidget) -> str:
    return " ".join(label.text() for label in widget.findChildren(QLabel))


def test_without_a_server_the_consent_page_says_nothing_leaves_this_computer(
    core: FakeCore, qtbot: QtBot
) -> None:
    window = window_for(core, qtbot)
    window.show_page()
    assert window.consent is not None
    text = _page_text(window.consent)
    assert "No server is set up yet, so nothing leaves this computer" in text
    assert "go to no server" not in text and "run for" not in text
    assert "They go to" not in text


def test_with_a_server_the_consent_page_names_it(server_core: FakeCore, qtbot: QtBot) -> None:
    window = window_for(server_core, qtbot)
    window.show_page()
    assert window.consent is not None
    assert "They go to https://waymark.example.com, run for Example Corp" in _page_text(
        window.consent
    )


def test_org_notice_pages_say_what_the_person_can_do_and_lock_the_choice(
    data_dir: Path, qtbot: QtBot, qapp: QApplication
) -> None:
    core = FakeCore(data_dir, {"telemetry_mode": "org-notice", "organisation": "Example Corp",
                               "server_url": "https://waymark.example.com"})  # fmt: skip
    window = window_for(core, qtbot)
    window.show_page()
    assert window.consent is not None and window.consent.notice_mode
    notice = _page_text(window.consent)
    assert "change this choice" not in notice and "You stay in control" not in notice
    assert "pause Waymark" in notice and "see every record" in notice
    assert "Example Corp's decision" in notice
    assert window.consent.ok_button is not None
    window.consent.ok_button.click()
    field = window.fields["consent"]
    combo = field.editor
    assert isinstance(combo, QComboBox)
    assert not combo.isEnabled()
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "Shared: your organisation decided (organisation notice)"
    ]
    assert not field.note.isHidden() and field.note.text() == "Managed by Example Corp"
    assert not window.can_do.isHidden()
    assert "pause Waymark" in window.can_do.text() and "every record" in window.can_do.text()
    with pytest.raises(PermissionError):
        core.settings.set("consent", "declined")  # not the person's choice in this mode
    core.close()


def test_held_back_and_chosen_records_are_in_plain_words(
    server_core: FakeCore, qtbot: QtBot
) -> None:
    from agent.rules.records import Record

    core = server_core
    core.settings.set("consent", "granted")
    core.outbox.append(Record(NOW, "suppressed", "m365-habits", 7, rule="welcome",
                              habit="welcome", reason="rule_total_cap"))  # fmt: skip
    core.outbox.append(Record(NOW + 1, "acted", "m365-habits", 7, rule="share-link",
                              habit="share-links", action="got-it"))  # fmt: skip
    core.outbox.append(Record(NOW + 2, "acted", "m365-habits", 7, rule="share-link",
                              habit="share-links", action="how"))  # fmt: skip
    core.outbox.append(Record(NOW + 3, "suppressed", "m365-habits", 7, rule="share-link",
                              habit="share-links", reason="rule_total_cap"))  # fmt: skip
    core.outbox.append(Record(NOW + 4, "suppressed", "m365-habits", 7, rule="share-link",
                              habit="share-links", reason="pack_gap"))  # fmt: skip
    core.outbox.flush()
    window = window_for(core, qtbot)
    window.show_page("privacy")
    rows = [r[1:3] for r in table_rows(window.pending_table)]
    assert rows == [
        ["Tip held back: another tip was shown a moment ago", "Share a link instead"],
        ["Tip held back: already shown 6 times", "Share a link instead"],
        ["You chose “Show me how”", "Share a link instead"],
        ["You chose “Got it”", "Share a link instead"],
        ["Tip held back: already shown once", "Waymark is here to help"],
    ]
    text = " ".join(cells(window.pending_table))
    for raw in ("rule_total_cap", "got-it", "pack_gap", "share-link ", "welcome "):
        assert raw not in text + " "
    item = window.pending_table.item(4, 1)
    assert item is not None and '"reason": "rule_total_cap"' in item.toolTip()


def test_tip_titles_on_the_privacy_page_follow_the_pack_languages(
    server_core: FakeCore, qtbot: QtBot
) -> None:
    server_core.settings.set("consent", "granted")
    server_core.outbox.append(record("shown", "welcome", NOW))
    server_core.outbox.flush()
    window = SettingsWindow(server_core, lang=lambda: "en", now=lambda: NOW,
                            text_langs=lambda: ("de-CH",))  # fmt: skip
    qtbot.addWidget(window)
    window.show_page("privacy")
    assert table_rows(window.pending_table)[0][1:3] == ["Tip shown", "Waymark hilft"]


def test_without_a_server_the_privacy_page_says_nothing_is_sent(
    core: FakeCore, qtbot: QtBot
) -> None:
    core.settings.set("consent", "granted")
    core.outbox.append(record("shown", "share-link", NOW))
    core.outbox.flush()
    window = window_for(core, qtbot)
    window.show_page("privacy")
    assert window.pending_heading.text() == "Kept on this computer"
    assert "waiting" not in _page_text(window).lower()
    assert not window.nothing_sent.isHidden()
    assert window.nothing_sent.text() == "No server is set up, so nothing is sent."
    assert window.sent_table.isHidden() and window.sent_heading.isHidden()
    assert "nothing is sent" in window.consent_state.text()


def test_the_privacy_tables_fit_the_window_without_scrolling_sideways(
    server_core: FakeCore, qtbot: QtBot
) -> None:
    from agent.rules.records import Record

    core = server_core
    core.settings.set("consent", "granted")
    for i, reason in enumerate(("quiet", "holdout", "outranked", "adopted_enough")):
        core.outbox.append(Record(NOW + i, "suppressed", "m365-habits", 7, rule="share-link",
                                  habit="share-links", reason=reason))  # fmt: skip
    core.outbox.flush()
    window = window_for(core, qtbot)
    window.resize(window.minimumSize())
    window.show_page("privacy")
    qtbot.waitExposed(window)
    table = window.pending_table
    widths = [table.columnWidth(c) for c in range(table.columnCount())]
    assert sum(widths) <= table.viewport().width() + 1
    assert table.horizontalScrollBar().maximum() == 0
    # The time column shows the whole time.
    when = table.item(0, 0)
    assert when is not None
    assert table.columnWidth(0) >= table.fontMetrics().horizontalAdvance(when.text())


# -- one page less, the language of any pack, never-interrupt picker (item 6, 8) --------


def test_language_is_on_the_coaching_page_and_offers_every_pack_language(
    server_core: FakeCore, qtbot: QtBot
) -> None:
    window = window_for(server_core, qtbot)
    server_core.settings.set("consent", "declined")
    combo = window.fields["language"].editor
    assert isinstance(combo, QComboBox)
    coaching = window.tabs.widget(0)
    assert coaching is not None and coaching.isAncestorOf(combo)
    offered = {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}
    assert offered["system"] == "As the system"
    assert offered["de"] == "Deutsch" and offered["it"] == "Italiano"
    assert offered["fr-CA"].startswith("Français (")
    combo.activated.emit(combo.findData("de"))
    assert server_core.settings.get("language") == "de"


def test_the_never_interrupt_picker_offers_recent_and_known_apps(
    server_core: FakeCore, qtbot: QtBot
) -> None:
    server_core.settings.set("consent", "declined")
    server_core.recent = ["zoom", "thunderbird", "gnome-terminal"]
    server_core.settings.set("never_interrupt", ["gnome-terminal"])
    window = window_for(server_core, qtbot)
    apps = window.fields["never_interrupt"].editor
    assert isinstance(apps, AppListEditor)
    recent, known = apps.choices()
    assert recent == ["zoom", "thunderbird"]  # already listed: not offered again
    assert [name for name, _ in known] == ["outlook", "teams"]
    assert dict(known)["outlook"].startswith("outlook (")
    assert "WM_CLASS" not in _page_text(window)  # nobody is asked for identifiers


@pytest.mark.parametrize("page", ["coaching", "privacy", "about"])
def test_every_page_fits_the_window_as_it_first_opens(
    server_core: FakeCore, qtbot: QtBot, page: str
) -> None:
    server_core.settings.set("consent", "granted")
    for i in range(30):
        server_core.outbox.append(record("shown", "share-link", NOW + i))
    server_core.outbox.flush()
    window = window_for(server_core, qtbot)
    window.show_page(page)  # as the tray and `waymark settings` open it
    qtbot.waitExposed(window)
    scroll = window.tabs.currentWidget()
    assert isinstance(scroll, QScrollArea)
    # Nothing below the window's edge: no sliver of a clipped frame at the bottom.
    assert scroll.verticalScrollBar().maximum() == 0, window.size()
    assert window.height() <= 800 * 0.9 + 1  # and it still fits a small laptop screen
