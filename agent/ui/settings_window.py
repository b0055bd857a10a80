"""The settings window: first-run consent (or notice), then Coaching, Privacy and
About pages.

Fields are generated from the declared options (``core.settings.options()``);
a field the organisation decides (set by managed policy, or ``consent`` in
organisation-notice mode) is shown disabled with "Managed by <organisation>".
Every change goes through ``SettingsStore.set``, which validates it; a refused
value is shown next to the field and the field reverts.  The Privacy page shows
every record in plain words (hover a row for the record exactly as stored).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import QLocale, QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QFont, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
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
from agent.rules.engine import SUPPRESS_REASONS
from agent.rules.model import Pack
from agent.rules.records import RECORD_KINDS, WireRecord
from agent.ui.core import CoreLike
from agent.ui.icons import app_icon
from agent.ui.strings import LANGUAGES, pick_locale, tr
from agent.ui.tray import paused_until, source_problems, status_text

__all__ = [
    "PAGES",
    "AppListEditor",
    "ConsentPage",
    "SettingsWindow",
    "language_label",
    "needs_consent_page",
    "record_words",
    "sync_problem_words",
]

PAGES = ("coaching", "privacy", "about")
_MUTED = "color: palette(placeholder-text);"
_OS_NAME = {"win32": "windows", "darwin": "macos"}.get(sys.platform, "linux")


def needs_consent_page(core: CoreLike) -> bool:
    """First run: the person has not decided yet (opt-in), or has not seen the notice."""
    return bool(core.settings.get("consent") == "unknown")


def _org(core: CoreLike, lang: str) -> str:
    return core.settings.organisation or tr("your_org", lang)


def _notice_mode(core: CoreLike) -> bool:
    return bool(core.settings.get("telemetry_mode") == "org-notice")


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


def language_label(tag: str) -> str:
    """A language tag in its own words: ``de-CH`` → "Deutsch (Schweiz)"."""
    locale = QLocale(tag.replace("-", "_"))
    if locale.language() == QLocale.Language.C:
        return tag
    # The language's own name ("Français", not "Français canadien"), then the region.
    base = QLocale(locale.language())
    name = base.nativeLanguageName() or locale.nativeLanguageName() or tag
    name = name[:1].upper() + name[1:]
    if "-" in tag and len(tag.rsplit("-", 1)[1]) in (2, 3):
        territory = locale.nativeTerritoryName()
        if territory:
            name += f" ({territory})"
    return name


def pack_locales(pack: Pack | None) -> list[str]:
    """Every locale the texts of ``pack`` come in."""
    if pack is None:
        return []
    found: set[str] = set()
    for rule in pack.rules:
        found.update(rule.toast.title)
        found.update(rule.toast.body)
        for action in rule.toast.actions:
            found.update(action.label)
    return sorted(found)


def record_words(
    row: WireRecord, pack: Pack | None, lang: str, text_langs: Sequence[str]
) -> tuple[str, str]:
    """(what happened, which tip) of a record, in plain words for the Privacy page."""
    rule = next((r for r in pack.rules if r.id == row.rule), None) if pack is not None else None
    default = pack.default_locale if pack is not None else "en"
    wanted = tuple(text_langs) or (lang,)
    tip = pick_locale(rule.toast.title, wanted, default) if rule is not None else row.rule or ""
    kind = row.kind
    if kind == "suppressed":
        reason = row.reason or ""
        if reason == "rule_total_cap" and rule is not None and rule.limits.max_total:
            n = rule.limits.max_total
            why = tr("reason_total_once", lang) if n == 1 else tr("reason_total_n", lang, n=n)
        elif f"reason_{reason}" in _REASONS:
            why = tr(f"reason_{reason}", lang)
        else:
            why = reason
        return tr("kind_held_back", lang, why=why), tip
    if kind == "acted":
        action = row.action or ""
        label = action
        if action == "got-it":
            label = tr("got_it", lang)
        elif rule is not None:
            for a in rule.toast.actions:
                if a.id == action:
                    label = pick_locale(a.label, wanted, default)
        return tr("kind_acted_with", lang, choice=label), tip
    key = f"kind_{kind}"
    return (tr(key, lang) if key in _KINDS else kind), tip


def sync_problem_words(problem: str, lang: str) -> str:
    """Why sync does not work, in words a person understands (the details go in a tooltip)."""
    text = problem.lower()
    if "waiting for approval" in text:
        key = "sync_waiting_approval"
    elif "keyring" in text:
        key = "sync_no_keyring"
    elif "pack refused" in text:
        key = "sync_pack_refused"
    elif "enroll" in text:
        key = "sync_not_enrolled"
    elif "http" in text and ("plain" in text or "address" in text or "url" in text):
        key = "sync_bad_address"
    elif any(w in text for w in ("connect", "network", "timed out", "timeout", "resolve")):
        key = "sync_unreachable"
    elif any(w in text for w in ("401", "403", "refused", "unauthor", "forbidden")):
        key = "sync_refused"
    else:
        key = "sync_failed"
    return tr(key, lang)


class ConsentPage(QWidget):
    """Plain-words consent (opt-in mode) or notice (organisation-notice mode)."""

    decided = Signal(str)  # "granted", "declined" or "noticed"

    def __init__(self, core: CoreLike, lang: str) -> None:
        super().__init__()
        self.setObjectName("consent")
        org = _org(core, lang)
        server = core.server_url
        self.notice_mode = _notice_mode(core)
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
        sends = "notice_sends" if self.notice_mode else "consent_sends"
        if not server:
            sends += "_no_server"
        control = "notice_control" if self.notice_mode else "consent_control"
        sections = [
            ("consent_observes_h", "consent_observes"),
            ("consent_sends_h", sends),
            ("consent_control_h" if not self.notice_mode else "notice_control_h", control),
        ]
        for head, body in sections:
            layout.addWidget(_heading(tr(head, lang)))
            layout.addWidget(_paragraph(tr(body, lang, org=org, server=server or "")))
            layout.addSpacing(4)
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
            layout.addSpacing(4)
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
        layout.addStretch(1)  # the question and its answers stay next to the text


class AppListEditor(QWidget):
    """A list of apps with *Add an app ▾* (apps recently in front, the pack's apps,
    or one typed in) and *Remove*; emits ``changed`` with the new list."""

    changed = Signal(list)

    def __init__(self, core: CoreLike, lang: str) -> None:
        super().__init__()
        self._core = core
        self._lang = lang
        self._apps: list[str] = []
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setMaximumHeight(96)
        self.list.setAccessibleName(tr("apps_list", lang))
        layout.addWidget(self.list, 1)
        column = QVBoxLayout()
        self.add_button = QPushButton(tr("add_app", lang) + " ▾")
        self.add_button.setAccessibleName(tr("add_app", lang))
        self.menu = QMenu(self.add_button)
        self.menu.aboutToShow.connect(self._fill_menu)
        self.add_button.setMenu(self.menu)
        self.remove_button = QPushButton(tr("remove_app", lang))
        self.remove_button.setAccessibleName(tr("remove_app", lang))
        self.remove_button.clicked.connect(self._remove)
        column.addWidget(self.add_button)
        column.addWidget(self.remove_button)
        column.addStretch(1)
        layout.addLayout(column)
        self.list.itemSelectionChanged.connect(self._update_buttons)

    def set_apps(self, apps: Sequence[str]) -> None:
        self._apps = list(apps)
        self.list.clear()
        for app in self._apps:
            item = QListWidgetItem(self._label(app))
            item.setData(Qt.ItemDataRole.UserRole, app)
            self.list.addItem(item)
        if not self._apps:
            placeholder = QListWidgetItem(tr("no_apps", self._lang))
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.list.addItem(placeholder)
        self._update_buttons()

    def apps(self) -> list[str]:
        return list(self._apps)

    def choices(self) -> tuple[list[str], list[tuple[str, str]]]:
        """(apps recently in front, [(pack app name, its label)]) not in the list yet."""
        have = {a.lower() for a in self._apps}
        recent = [a for a in self._core.recent_apps() if a.lower() not in have]
        pack = self._core.running_pack()
        known = []
        if pack is not None:
            for name in sorted(pack.apps):
                if name.lower() not in have:
                    known.append((name, self._label(name)))
        return recent, known

    def add(self, app: str) -> None:
        app = app.strip()
        if app and app.lower() not in {a.lower() for a in self._apps}:
            self.changed.emit([*self._apps, app])

    def _label(self, app: str) -> str:
        pack = self._core.running_pack()
        alias = pack.apps.get(app) if pack is not None else None
        if alias is None:
            return app
        ids = getattr(alias, _OS_NAME, ())
        return f"{app} ({', '.join(ids)})" if ids else app

    def _fill_menu(self) -> None:
        self.menu.clear()
        recent, known = self.choices()
        lang = self._lang
        if recent:
            self.menu.addSection(tr("apps_recent", lang))
            for app in recent:
                self.menu.addAction(app).triggered.connect(_adder(self, app))
        if known:
            self.menu.addSection(tr("apps_known", lang))
            for name, label in known:
                self.menu.addAction(label).triggered.connect(_adder(self, name))
        self.menu.addSeparator()
        self.menu.addAction(tr("app_other", lang)).triggered.connect(self._ask)

    def _ask(self) -> None:
        text, ok = QInputDialog.getText(self, tr("add_app", self._lang), tr("app_other_help",
                                        self._lang))  # fmt: skip
        if ok:
            self.add(text)

    def _remove(self) -> None:
        item = self.list.currentItem()
        app = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if isinstance(app, str):
            self.changed.emit([a for a in self._apps if a != app])

    def _update_buttons(self) -> None:
        item = self.list.currentItem()
        selected = item is not None and isinstance(item.data(Qt.ItemDataRole.UserRole), str)
        self.remove_button.setEnabled(self.isEnabled() and selected)


def _adder(editor: AppListEditor, app: str) -> Callable[[], None]:
    def slot() -> None:
        editor.add(app)

    return slot


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
        text_langs: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        super().__init__()
        self._core = core
        self._lang = lang
        self._text_langs = text_langs or (lambda: (lang(),))
        self._now = now
        self._notice_seen = False
        self.fields: dict[str, _Field] = {}
        self.setWindowIcon(app_icon())
        self.setMinimumSize(660, 480)
        self._sized = False
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
            "privacy": self._privacy_page,
            "about": self._about_page,
        }
        for name in PAGES:
            page = builders[name](lang)
            page.setObjectName(f"page-{name}")
            scroll = QScrollArea()
            scroll.setObjectName(f"scroll-{name}")
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(page)
            self.tabs.addTab(scroll, tr(f"page_{name}", lang))
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.tabs.setCurrentIndex(min(current, len(PAGES) - 1))
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
        elif kind in ("choice", "language"):
            combo = QComboBox()
            combo.activated.connect(self._combo_slot(option, combo))
            editor = combo
        elif kind == "app_list":
            apps = AppListEditor(self._core, lang)
            apps.changed.connect(self._list_slot(option))
            editor = apps
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
        note.setWordWrap(True)
        error = QLabel()
        error.setObjectName(f"error-{option.key}")
        error.setStyleSheet("color: #c62828;")
        error.setWordWrap(True)
        error.hide()
        help_label = QLabel(_help_text(option, lang))
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
        status_row.addWidget(self.pause_button, 0, Qt.AlignmentFlag.AlignTop)
        status_row.addWidget(self.resume_button, 0, Qt.AlignmentFlag.AlignTop)
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

    def _privacy_page(self, lang: str) -> QWidget:
        page, layout = self._page()
        self.consent_state = QLabel()
        self.consent_state.setObjectName("consent-state")
        self.consent_state.setWordWrap(True)
        layout.addWidget(self.consent_state)
        self.can_do = _paragraph("")
        self.can_do.setObjectName("what-you-can-do")
        layout.addWidget(self.can_do)
        layout.addWidget(_paragraph(tr("consent_observes", lang)))
        self._form(layout, "privacy", lang)
        self.pending_table = self._table(lang, "pending_title")
        self.sent_table = self._table(lang, "sent_title")
        self.pending_heading = _heading(tr("pending_title", lang))
        self.nothing_sent = _paragraph(tr("no_server_nothing_sent", lang))
        self.nothing_sent.setObjectName("nothing-sent")
        self.sent_heading = _heading(tr("sent_title", lang))
        layout.addWidget(self.pending_heading)
        layout.addWidget(self.nothing_sent)
        layout.addWidget(self.pending_table)
        layout.addWidget(self.sent_heading)
        layout.addWidget(self.sent_table)
        refresh = QPushButton(tr("refresh", lang))
        refresh.setAccessibleName(tr("refresh", lang))
        refresh.clicked.connect(self.refresh_privacy)
        self.refresh_button = refresh
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(refresh)
        layout.addLayout(row)
        layout.addStretch(1)  # spare height below the content, not between its lines
        self.refresh_privacy()
        return page

    def _table(self, lang: str, name_key: str) -> QTableWidget:
        columns = ["col_time", "col_what", "col_tip", "col_app"]
        table = QTableWidget(0, len(columns))
        table.setHorizontalHeaderLabels([tr(c, lang) for c in columns])
        table.setAccessibleName(tr(name_key, lang))
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.verticalHeader().setVisible(False)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = table.horizontalHeader()
        # Time and app fit their text; what happened and the tip share the rest (elided
        # with the whole text in the tooltip), so the columns never scroll sideways.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        table.setMinimumHeight(128)
        table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
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
        self.privacy_link = QLabel(f'<a href="#privacy">{tr("about_privacy_link", lang)}</a>')
        self.privacy_link.setObjectName("privacy-link")
        self.privacy_link.setTextFormat(Qt.TextFormat.RichText)
        self.privacy_link.setAccessibleName(tr("about_privacy_link", lang))
        self.privacy_link.linkActivated.connect(lambda _link: self.show_page("privacy"))
        layout.addWidget(self.privacy_link)
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
        settings = self._core.settings
        value = settings.get(key)
        lang = self._lang()
        locked = settings.locked_by(key)
        editor.blockSignals(True)
        try:
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                self._fill_combo(field.option, editor, value, lang)
                if locked is not None:
                    # The organisation decides: show its decision, not the person's old value.
                    editor.clear()
                    editor.addItem(locked.shown.get(lang) or locked.shown["en"], value)
            elif isinstance(editor, AppListEditor):
                editor.set_apps(value if isinstance(value, list) else [])
            elif isinstance(editor, QLineEdit):
                editor.setText(field.option.type.to_text(value))
        finally:
            editor.blockSignals(False)
        managed = settings.is_managed(key)
        editor.setEnabled(not managed)
        if isinstance(editor, AppListEditor):
            editor.add_button.setEnabled(not managed)
            editor._update_buttons()
        field.note.setText(tr("managed_by", lang, org=_org(self._core, lang)))
        field.note.setVisible(managed)
        if managed:
            editor.setAccessibleDescription(tr("managed_by", lang, org=_org(self._core, lang)))

    def _fill_combo(self, option: Option, combo: QComboBox, value: Any, lang: str) -> None:
        combo.clear()
        if option.type.editor == "language":
            tags = sorted({*LANGUAGES, *pack_locales(self._core.running_pack())}
                          | ({value} if isinstance(value, str) and value != "system" else set()),
                          key=lambda t: language_label(t).lower())  # fmt: skip
            combo.addItem(tr("language_system", lang), "system")
            for tag in tags:
                combo.addItem(language_label(tag), tag)
        else:
            for choice in option.type.choices:
                combo.addItem(option.type.label(choice, lang), choice)
        combo.setCurrentIndex(max(combo.findData(value), 0))

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
        server = self._core.server_url
        if _notice_mode(self._core):
            text = tr("consent_notice_state", lang, org=org)
            can_do = tr("notice_can_do", lang)
        elif self._core.settings.get("consent") == "granted":
            text = tr("consent_granted", lang, org=org)
            can_do = ""
        else:
            text = tr("consent_declined", lang)
            can_do = ""
        if not server and text != tr("consent_declined", lang):
            text += " " + tr("no_server_nothing_sent", lang)
        self.consent_state.setText(text)
        self.consent_state.setAccessibleName(text)
        self.can_do.setText(can_do)
        self.can_do.setAccessibleName(can_do)
        self.can_do.setVisible(bool(can_do))

    def refresh_privacy(self) -> None:
        """Reload the consent sentence and both telemetry tables from the outbox."""
        self._refresh_consent_state()
        lang = self._lang()
        server = self._core.server_url
        self.pending_heading.setText(tr("pending_title" if server else "kept_title", lang))
        self.pending_table.setAccessibleName(self.pending_heading.text())
        self.nothing_sent.setVisible(not server)
        self.sent_heading.setVisible(bool(server))
        self.sent_table.setVisible(bool(server))
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
        pack = self._core.running_pack()
        text_langs = self._text_langs()
        for i, row in enumerate(rows):
            when = datetime.fromtimestamp(row.t).astimezone().strftime("%d %b %H:%M:%S")
            what, tip = record_words(row, pack, lang, text_langs)
            stored = json.dumps(_stored(row), ensure_ascii=False)
            tooltip = tr("stored_as", lang, record=stored)
            for j, text in enumerate([when, what, tip, row.app or "—"]):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{text}\n\n{tooltip}" if j in (1, 2) else tooltip)
                table.setItem(i, j, item)

    def refresh_about(self) -> None:
        lang = self._lang()
        pack = self._core.pack_info()
        last = self._core.last_sync
        states = self._core.source_states()
        seeing = [tr(f"sees_{s.name}", lang) for s in states if s.ok and _sees(s.name)]
        lines = []
        if seeing:
            lines.append(tr("about_sees", lang, what=", ".join(seeing)))
        lines += source_problems(self._core, lang)
        problem = self._core.sync_problem
        last_sync = (
            datetime.fromtimestamp(last).astimezone().strftime("%Y-%m-%d %H:%M")
            if last
            else tr("about_never", lang)
        )
        if problem:
            last_sync += " — " + sync_problem_words(problem, lang)
        server = self._core.server_url or tr("no_server", lang)
        values = {
            "about_version": __version__,
            "about_pack": f"{pack[0]} v{pack[1]}" if pack else tr("about_none", lang),
            "about_server": server,
            "about_last_sync": last_sync,
            "about_sources": "\n".join(lines) or tr("about_none", lang),
        }
        for key, text in values.items():
            self.about_values[key].setText(text)
            self.about_values[key].setAccessibleName(f"{tr(key, lang)}: {text}")
        # The technical details, for the help desk, where they do not get in the way.
        self.about_values["about_last_sync"].setToolTip(problem or "")
        self.about_values["about_sources"].setToolTip(
            "\n".join(f"{s.name}: {s.detail}" for s in states if s.detail)
        )

    # -- actions -------------------------------------------------------------------

    def natural_size(self) -> QSize:
        """Big enough for every page without scrolling (as far as the screen allows)."""
        width, height = self.minimumWidth(), self.minimumHeight()
        tabs = self.tabs.tabBar().sizeHint().height()
        for i in range(self.tabs.count()):
            scroll = self.tabs.widget(i)
            page = scroll.widget() if isinstance(scroll, QScrollArea) else None
            if page is not None:
                hint = page.sizeHint()
                width, height = max(width, hint.width()), max(height, hint.height() + tabs + 2)
        if self.consent is not None:
            hint = self.consent.sizeHint()
            width, height = max(width, hint.width()), max(height, hint.height())
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            width = min(width, int(area.width() * 0.9))
            height = min(height, int(area.height() * 0.9))
        return QSize(width, height)

    def show_page(self, name: str = "coaching") -> None:
        """Show the window on ``name`` (consent first if it is still due) and raise it."""
        if not self._sized:
            # The first time, big enough for every page: no page starts out cut off at
            # the bottom with a sliver of its next frame showing.
            self._sized = True
            self.resize(self.natural_size().expandedTo(self.size()))
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
        if _notice_mode(self._core):
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

    def _list_slot(self, option: Option) -> Callable[[list[str]], None]:
        def slot(values: list[str]) -> None:
            self._apply(option, list(values))

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
        if isinstance(field.editor, AppListEditor):
            self._load_field(field)  # the list shows what was stored

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


def _help_text(option: Option, lang: str) -> str:
    """The short help under a field (the person's words, not the admin guide's)."""
    key = f"help_{option.key}"
    return tr(key, lang) if key in _HELP else (option.description.get(lang) or "")


def _sees(name: str) -> bool:
    return name in ("input", "focus", "idle", "lock", "quiet", "accessibility", "files")


def _stored(row: WireRecord) -> dict[str, object]:
    """The record as it is stored and would be sent (docs/api.md's event object)."""
    return row.to_wire()


_KINDS = frozenset(f"kind_{k}" for k in RECORD_KINDS)
_REASONS = frozenset(f"reason_{r}" for r in SUPPRESS_REASONS)
_HELP = frozenset({"help_consent", "help_never_interrupt", "help_language"})
