"""The settings window: first-run consent (or notice), then Coaching, Language,
Privacy and About pages.

Fields are generated from the declared options (``core.settings.options()``);
a field set by managed policy is shown disabled with "Managed by <organisation>".
Every change goes through ``SettingsStore.set``, which validates it; a refused
value is shown next to the field and the field reverts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agent import __version__
from agent.config.options import Option
from agent.events import Pause
from agent.rules.records import RECORD_KINDS, WireRecord
from agent.ui.core import CoreLike
from agent.ui.icons import app_icon
from agent.ui.strings import tr
from agent.ui.tray import paused_until, status_text

__all__ = ["PAGES", "ConsentPage", "SettingsWindow", "needs_consent_page"]

PAGES = ("coaching", "language", "privacy", "about")
_MUTED = "color: palette(placeholder-text);"


def needs_consent_page(core: CoreLike) -> bool:
    """First run: the person has not decided yet (opt-in), or has not seen the notice."""
    return bool(core.settings.get("consent") == "unknown")


def _org(core: CoreLike, lang: str) -> str:
    return core.settings.organisation or tr("your_org", lang)


def _server(core: CoreLike, lang: str) -> str:
    return core.server_url or tr("no_server", lang)


def _heading(text: str, size: float = 1.0) -> QLabel:
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    font.setPointSizeF(font.pointSizeF() * size)
    label.setFont(font)
    label.setWordWrap(True)
    label.setAccessibleName(text)
    return label


def _paragraph(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setAccessibleName(text)
    return label


class ConsentPage(QWidget):
    """Plain-words consent (opt-in mode) or notice (organisation-notice mode)."""

    decided = Signal(str)  # "granted", "declined" or "noticed"

    def __init__(self, core: CoreLike, lang: str) -> None:
        super().__init__()
        self.setObjectName("consent")
        org, server = _org(core, lang), _server(core, lang)
        self.notice_mode = core.settings.get("telemetry_mode") == "org-notice"
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 28, 32, 24)
        layout.setSpacing(10)
        top = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(48, 48))
        logo.setAccessibleName(tr("app_name", lang))
        top.addWidget(logo)
        title_key = "notice_title" if self.notice_mode else "consent_title"
        self.title = _heading(tr(title_key, lang, org=org), 1.5)
        top.addWidget(self.title, 1)
        layout.addLayout(top)
        layout.addSpacing(6)
        sections = [("consent_observes_h", "consent_observes")]
        if self.notice_mode:
            sections.append(("consent_sends_h", "notice_sends"))
        else:
            sections.append(("consent_sends_h", "consent_sends"))
        sections.append(("consent_control_h", "consent_control"))
        for head, body in sections:
            layout.addWidget(_heading(tr(head, lang)))
            layout.addWidget(_paragraph(tr(body, lang, org=org, server=server)))
            layout.addSpacing(4)
        layout.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.opt_in_button: QPushButton | None = None
        self.not_now_button: QPushButton | None = None
        self.ok_button: QPushButton | None = None
        if self.notice_mode:
            ok = QPushButton(tr("notice_ok", lang))
            ok.setAccessibleName(tr("notice_ok", lang))
            ok.setDefault(True)
            ok.clicked.connect(lambda: self.decided.emit("noticed"))
            buttons.addWidget(ok)
            self.ok_button = ok
        else:
            question = _heading(tr("consent_question", lang, org=org))
            layout.addWidget(question)
            not_now = QPushButton(tr("not_now", lang))
            not_now.setAccessibleName(tr("not_now", lang))
            not_now.clicked.connect(lambda: self.decided.emit("declined"))
            opt_in = QPushButton(tr("opt_in", lang))
            opt_in.setAccessibleName(tr("opt_in", lang))
            opt_in.setDefault(True)
            opt_in.clicked.connect(lambda: self.decided.emit("granted"))
            buttons.addWidget(not_now)
            buttons.addWidget(opt_in)
            self.opt_in_button, self.not_now_button = opt_in, not_now
        layout.addLayout(buttons)


class _Field:
    """One generated setting row: its editor, managed note and error line."""

    def __init__(self, option: Option, editor: QWidget, note: QLabel, error: QLabel) -> None:
        self.option = option
        self.editor = editor
        self.note = note
        self.error = error


class SettingsWindow(QWidget):
    """The opt-in settings window. ``show_page(name)`` brings it forward on a page."""

    closed = Signal()  # the person closed the window (it hides; the agent keeps running)

    def __init__(
        self,
        core: CoreLike,
        *,
        lang: Callable[[], str],
        now: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self._core = core
        self._lang = lang
        self._now = now
        self._notice_seen = False
        self.fields: dict[str, _Field] = {}
        self.setWindowIcon(app_icon())
        self.setMinimumSize(660, 560)
        self.stack = QStackedWidget(self)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)
        self.consent: ConsentPage | None = None
        self.tabs = QTabWidget()
        self.rebuild()

    # -- building -----------------------------------------------------------------

    def rebuild(self) -> None:
        """(Re)create every page in the current language."""
        lang = self._lang()
        current = self.tabs.currentIndex() if self.tabs.count() else 0
        while self.stack.count():
            widget = self.stack.widget(0)
            if widget is None:
                break
            self.stack.removeWidget(widget)
            widget.deleteLater()
        self.fields.clear()
        self.setWindowTitle(tr("settings_title", lang))
        self.setAccessibleName(tr("settings_title", lang))
        self.consent = ConsentPage(self._core, lang)
        self.consent.decided.connect(self._on_consent)
        self.stack.addWidget(self.consent)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName(tr("settings_title", lang))
        self.tabs.setDocumentMode(True)
        builders = {
            "coaching": self._coaching_page,
            "language": self._language_page,
            "privacy": self._privacy_page,
            "about": self._about_page,
        }
        for name in PAGES:
            page = builders[name](lang)
            page.setObjectName(f"page-{name}")
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(page)
            self.tabs.addTab(scroll, tr(f"page_{name}", lang))
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.tabs.setCurrentIndex(current)
        self.stack.addWidget(self.tabs)
        self.stack.setCurrentWidget(self.consent if self._consent_due() else self.tabs)

    def _page(self) -> tuple[QWidget, QVBoxLayout]:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.setSpacing(10)
        return page, layout

    def _form(self, layout: QVBoxLayout, page_name: str, lang: str) -> None:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(4)
        for option in self._core.settings.options():
            if option.page != page_name or not option.user_editable:
                continue
            self._add_field(form, option, lang)
        layout.addLayout(form)

    def _add_field(self, form: QFormLayout, option: Option, lang: str) -> None:
        label_text = option.label.get(lang) or option.label["en"]
        description = option.description.get(lang) or option.description["en"]
        editor: QWidget
        kind = option.type.editor
        if kind == "checkbox":
            box = QCheckBox(label_text)
            box.toggled.connect(self._bool_slot(option))
            editor = box
        elif kind == "choice":
            combo = QComboBox()
            for choice in option.type.choices:
                combo.addItem(option.type.label(choice, lang), choice)
            combo.activated.connect(self._combo_slot(option, combo))
            editor = combo
        else:
            line = QLineEdit()
            if option.type.placeholder:
                line.setPlaceholderText(tr(option.type.placeholder, lang))
            line.editingFinished.connect(self._text_slot(option, line))
            editor = line
        editor.setObjectName(f"field-{option.key}")
        editor.setAccessibleName(label_text)
        editor.setAccessibleDescription(description)
        editor.setToolTip(description)
        note = QLabel()
        note.setObjectName(f"managed-{option.key}")
        note.setStyleSheet("color: #8a5a00; font-style: italic;")
        error = QLabel()
        error.setObjectName(f"error-{option.key}")
        error.setStyleSheet("color: #c62828;")
        error.setWordWrap(True)
        error.hide()
        help_label = QLabel(description)
        help_label.setWordWrap(True)
        help_label.setStyleSheet(_MUTED)
        box_widget = QWidget()
        col = QVBoxLayout(box_widget)
        col.setContentsMargins(0, 0, 0, 8)
        col.setSpacing(2)
        col.addWidget(editor)
        col.addWidget(help_label)
        col.addWidget(note)
        col.addWidget(error)
        if kind == "checkbox":
            form.addRow(box_widget)
        else:
            row_label = QLabel(label_text)
            row_label.setBuddy(editor)
            form.addRow(row_label, box_widget)
        field = _Field(option, editor, note, error)
        self.fields[option.key] = field
        self._load_field(field)

    def _coaching_page(self, lang: str) -> QWidget:
        page, layout = self._page()
        status_row = QHBoxLayout()
        self.status_label = QLabel()
        self.status_label.setObjectName("status")
        self.status_label.setWordWrap(True)
        status_row.addWidget(self.status_label, 1)
        self.pause_button = QPushButton(tr("pause_hour", lang))
        self.pause_button.setAccessibleName(tr("pause_hour", lang))
        self.pause_button.clicked.connect(self._pause_hour)
        self.resume_button = QPushButton(tr("resume", lang))
        self.resume_button.setAccessibleName(tr("resume", lang))
        self.resume_button.clicked.connect(self._resume)
        status_row.addWidget(self.pause_button)
        status_row.addWidget(self.resume_button)
        layout.addLayout(status_row)
        self._form(layout, "coaching", lang)
        reset_row = QHBoxLayout()
        self.reset_never_button = QPushButton(tr("reset_never", lang))
        self.reset_never_button.setAccessibleName(tr("reset_never", lang))
        self.reset_never_button.setAccessibleDescription(tr("reset_never_help", lang))
        self.reset_never_button.setToolTip(tr("reset_never_help", lang))
        self.reset_never_button.clicked.connect(self._reset_never)
        self.reset_never_done = QLabel()
        self.reset_never_done.setStyleSheet(_MUTED)
        reset_row.addWidget(self.reset_never_button)
        reset_row.addWidget(self.reset_never_done, 1)
        layout.addLayout(reset_row)
        layout.addStretch(1)
        self._refresh_status()
        return page

    def _language_page(self, lang: str) -> QWidget:
        page, layout = self._page()
        self._form(layout, "language", lang)
        layout.addStretch(1)
        return page

    def _privacy_page(self, lang: str) -> QWidget:
        page, layout = self._page()
        self.consent_state = QLabel()
        self.consent_state.setObjectName("consent-state")
        self.consent_state.setWordWrap(True)
        layout.addWidget(self.consent_state)
        layout.addWidget(_paragraph(tr("consent_observes", lang)))
        self._form(layout, "privacy", lang)
        self.pending_table = self._table(lang, "pending_title")
        self.sent_table = self._table(lang, "sent_title")
        for head, table in (("pending_title", self.pending_table),
                            ("sent_title", self.sent_table)):  # fmt: skip
            layout.addWidget(_heading(tr(head, lang)))
            layout.addWidget(table)
        refresh = QPushButton(tr("refresh", lang))
        refresh.setAccessibleName(tr("refresh", lang))
        refresh.clicked.connect(self.refresh_privacy)
        self.refresh_button = refresh
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(refresh)
        layout.addLayout(row)
        self.refresh_privacy()
        return page

    def _table(self, lang: str, name_key: str) -> QTableWidget:
        columns = ["col_time", "col_what", "col_tip", "col_habit", "col_detail", "col_app"]
        table = QTableWidget(0, len(columns))
        table.setHorizontalHeaderLabels([tr(c, lang) for c in columns])
        table.setAccessibleName(tr(name_key, lang))
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setMinimumHeight(140)
        table.setAlternatingRowColors(True)
        return table

    def _about_page(self, lang: str) -> QWidget:
        page, layout = self._page()
        top = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(64, 64))
        logo.setAccessibleName(tr("app_name", lang))
        top.addWidget(logo)
        top.addWidget(_heading(f"Waymark {__version__}", 1.4), 1)
        layout.addLayout(top)
        layout.addWidget(_paragraph(tr("about_blurb", lang)))
        form = QFormLayout()
        self.about_values: dict[str, QLabel] = {}
        for key in ("about_version", "about_pack", "about_server", "about_last_sync",
                    "about_sources"):  # fmt: skip
            value = QLabel()
            value.setObjectName(key)
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(tr(key, lang), value)
            self.about_values[key] = value
        layout.addLayout(form)
        layout.addStretch(1)
        self.refresh_about()
        return page

    # -- refreshing -------------------------------------------------------------------

    def _load_field(self, field: _Field) -> None:
        key, editor = field.option.key, field.editor
        value = self._core.settings.get(key)
        editor.blockSignals(True)
        try:
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                index = editor.findData(value)
                editor.setCurrentIndex(max(index, 0))
            elif isinstance(editor, QLineEdit):
                editor.setText(field.option.type.to_text(value))
        finally:
            editor.blockSignals(False)
        managed = self._core.settings.is_managed(key)
        editor.setEnabled(not managed)
        lang = self._lang()
        field.note.setText(tr("managed_by", lang, org=_org(self._core, lang)))
        field.note.setVisible(managed)
        if managed:
            editor.setAccessibleDescription(tr("managed_by", lang, org=_org(self._core, lang)))

    def setting_changed(self, key: str) -> None:
        """Slot for the bridge's ``setting_changed`` (main thread)."""
        if key == "language":
            self.rebuild()
            return
        field = self.fields.get(key)
        if field is not None:
            self._load_field(field)
        if key in ("paused_until", "coaching_enabled"):
            self._refresh_status()
        if key in ("consent", "telemetry_mode"):
            self._refresh_consent_state()

    def _refresh_status(self) -> None:
        lang, now = self._lang(), self._now()
        self.status_label.setText(status_text(self._core, lang, now))
        paused = paused_until(self._core, now) is not None
        self.resume_button.setVisible(paused)
        enabled = bool(self._core.settings.get("coaching_enabled"))
        self.pause_button.setVisible(not paused and enabled)

    def _refresh_consent_state(self) -> None:
        lang = self._lang()
        org = _org(self._core, lang)
        if self._core.settings.get("telemetry_mode") == "org-notice":
            text = tr("consent_notice_state", lang, org=org)
        elif self._core.settings.get("consent") == "granted":
            text = tr("consent_granted", lang, org=org)
        else:
            text = tr("consent_declined", lang)
        self.consent_state.setText(text)
        self.consent_state.setAccessibleName(text)

    def refresh_privacy(self) -> None:
        """Reload the consent sentence and both telemetry tables from the outbox."""
        self._refresh_consent_state()
        lang = self._lang()
        self._fill(self.pending_table, self._core.outbox.pending(200), lang)
        self._fill(self.sent_table, self._core.outbox.recent_sent(200), lang)

    def _fill(self, table: QTableWidget, rows: Sequence[WireRecord], lang: str) -> None:
        table.setRowCount(0)
        if not rows:
            table.setRowCount(1)
            item = QTableWidgetItem(tr("nothing_here", lang))
            table.setItem(0, 0, item)
            table.setSpan(0, 0, 1, table.columnCount())
            return
        table.clearSpans()
        table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            when = datetime.fromtimestamp(row.t).astimezone().strftime("%d %b %H:%M:%S")
            kind_key = f"kind_{row.kind}"
            what = tr(kind_key, lang) if kind_key in _KINDS else row.kind
            detail = row.reason or row.action or ""
            cells = [when, what, row.rule or "", row.habit or "", detail, row.app or "—"]
            for j, text in enumerate(cells):
                table.setItem(i, j, QTableWidgetItem(text))

    def refresh_about(self) -> None:
        lang = self._lang()
        pack = self._core.pack_info()
        last = self._core.last_sync
        states = self._core.source_states()
        sources = ", ".join(
            f"{s.name}: {tr('about_ok', lang) if s.ok else s.detail or '✗'}" for s in states
        )
        values = {
            "about_version": __version__,
            "about_pack": f"{pack[0]} v{pack[1]}" if pack else tr("about_none", lang),
            "about_server": _server(self._core, lang),
            "about_last_sync": (
                datetime.fromtimestamp(last).astimezone().strftime("%Y-%m-%d %H:%M")
                if last
                else tr("about_never", lang)
            )
            + (f" — {self._core.sync_problem}" if self._core.sync_problem else ""),
            "about_sources": sources or tr("about_none", lang),
        }
        for key, text in values.items():
            self.about_values[key].setText(text)
            self.about_values[key].setAccessibleName(f"{tr(key, lang)}: {text}")

    # -- actions -------------------------------------------------------------------

    def show_page(self, name: str = "coaching") -> None:
        """Show the window on ``name`` (consent first if it is still due) and raise it."""
        if self._consent_due() and self.consent is not None:
            self.stack.setCurrentWidget(self.consent)
        else:
            self.stack.setCurrentWidget(self.tabs)
            if name in PAGES:
                self.tabs.setCurrentIndex(PAGES.index(name))
        self.show()
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.raise_()
        self.activateWindow()

    def current_page(self) -> str:
        if self.stack.currentWidget() is self.consent:
            return "consent"
        return PAGES[self.tabs.currentIndex()]

    def _consent_due(self) -> bool:
        if self._core.settings.get("telemetry_mode") == "org-notice":
            return needs_consent_page(self._core) and not self._core.settings.get("notice_seen")
        return needs_consent_page(self._core)

    def _on_consent(self, decision: str) -> None:
        if decision == "noticed":
            self._core.settings.set_internal("notice_seen", True)
        else:
            self._core.settings.set("consent", decision)
        self.stack.setCurrentWidget(self.tabs)
        self.tabs.setCurrentIndex(PAGES.index("privacy"))
        self.refresh_privacy()

    # Closures without default arguments (see agent.ui.toast._slot).
    def _bool_slot(self, option: Option) -> Callable[[bool], None]:
        def slot(on: bool) -> None:
            self._apply(option, bool(on))

        return slot

    def _combo_slot(self, option: Option, combo: QComboBox) -> Callable[[int], None]:
        def slot(index: int) -> None:
            self._apply(option, combo.itemData(index))

        return slot

    def _text_slot(self, option: Option, line: QLineEdit) -> Callable[[], None]:
        def slot() -> None:
            self._apply_text(option, line)

        return slot

    def _apply(self, option: Option, value: Any) -> None:
        field = self.fields[option.key]
        try:
            self._core.settings.set(option.key, value)
        except (ValueError, PermissionError) as exc:
            field.error.setText(str(exc))
            field.error.show()
            self._load_field(field)
            return
        field.error.hide()

    def _apply_text(self, option: Option, editor: QLineEdit) -> None:
        text = editor.text().strip()
        if text == option.type.to_text(self._core.settings.get(option.key)):
            return
        self._apply(option, option.type.from_text(text))

    def _pause_hour(self) -> None:
        now = self._now()
        self._core.post(Pause(now, now + 3600))
        self._refresh_status()

    def _resume(self) -> None:
        self._core.post(Pause(self._now(), None))
        self._refresh_status()

    def _reset_never(self) -> None:
        self._core.reset_never()
        self.reset_never_done.setText(tr("reset_never_done", self._lang()))

    def _on_tab_changed(self, index: int) -> None:
        if 0 <= index < len(PAGES):
            if PAGES[index] == "privacy":
                self.refresh_privacy()
            elif PAGES[index] == "about":
                self.refresh_about()
            elif PAGES[index] == "coaching":
                self._refresh_status()

    def showEvent(self, event: QShowEvent) -> None:
        self._on_tab_changed(self.tabs.currentIndex())
        super().showEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        # Closing the window never quits the agent; it keeps running in the tray.
        event.ignore()
        self.hide()
        self.closed.emit()


_KINDS = frozenset(f"kind_{k}" for k in RECORD_KINDS)
