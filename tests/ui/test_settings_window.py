"""Settings window: consent/notice first run, generated fields, managed fields,
validation, the Privacy tables from the real outbox, About, language."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QTableWidget
from pytestqt.qtbot import QtBot

from agent.events import Pause
from agent.ui.settings_window import SettingsWindow
from tests.ui.fakes import FakeCore, record

NOW = 1_800_000_000.0


def window_for(core: FakeCore, qtbot: QtBot) -> SettingsWindow:
    window = SettingsWindow(core, lang=lambda: _lang(core), now=lambda: NOW)
    qtbot.addWidget(window)
    return window


def _lang(core: FakeCore) -> str:
    value = core.settings.get("language")
    return value if value in ("en", "it") else "en"


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
    pages = ("coaching", "language", "privacy", "about")
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
    line = window.fields["never_interrupt"].editor
    assert isinstance(line, QLineEdit)
    line.setText("zoom.us, ms-teams.exe")
    line.editingFinished.emit()
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


def test_privacy_tables_show_pending_and_sent_telemetry(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "granted")
    core.outbox.append(record("shown", "share-link", NOW))
    sent_id = core.outbox.append(record("snoozed", "use-teams", NOW + 60))
    core.outbox.flush()
    core.outbox.accept([sent_id], now=NOW + 120)
    window = window_for(core, qtbot)
    window.show_page("privacy")
    pending, sent = table_rows(window.pending_table), table_rows(window.sent_table)
    assert [r[1:4] for r in pending] == [["Tip shown", "share-link", "share-links"]]
    assert [r[1:4] for r in sent] == [["Snoozed", "use-teams", "share-links"]]
    assert window.pending_table.accessibleName() == "Waiting to be sent"


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
    assert "no server" in window.about_values["about_server"].text()
    assert window.about_values["about_last_sync"].text().startswith("20")
    assert "focus: working" in window.about_values["about_sources"].text()


def test_about_says_why_sync_fails(core: FakeCore, qtbot: QtBot) -> None:
    core.sync_problem = "upload: ConnectError: connection refused"
    window = window_for(core, qtbot)
    window.show_page("about")
    text = window.about_values["about_last_sync"].text()
    assert text.startswith("never — ") and "connection refused" in text


def test_language_change_rebuilds_the_window_in_italian(core: FakeCore, qtbot: QtBot) -> None:
    core.settings.set("consent", "declined")
    window = window_for(core, qtbot)
    combo = window.fields["language"].editor
    assert isinstance(combo, QComboBox)
    combo.activated.emit(combo.findData("it"))
    window.setting_changed("language")
    assert window.windowTitle() == "Impostazioni di Waymark"
    assert [window.tabs.tabText(i) for i in range(4)] == [
        "Suggerimenti", "Lingua", "Privacy", "Informazioni"
    ]  # fmt: skip


def test_closing_hides_the_window_and_keeps_the_agent(core: FakeCore, qtbot: QtBot) -> None:
    window = window_for(core, qtbot)
    window.show_page()
    assert window.close() is False or not window.isVisible()
    assert not window.isVisible()
