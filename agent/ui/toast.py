"""Guidance toasts: a frameless window that never takes keyboard focus.

``ToastWindow`` shows one :class:`agent.events.ShowToast`; ``ToastStack``
places toasts in the chosen corner of the screen under the pointer, stacks
them, and turns every choice into an :class:`agent.events.Action` posted to
the engine.  Nothing here runs on the engine thread: effects arrive through
:mod:`agent.ui.bridge` as queued Qt signals.

Focus: the window is ``Qt.Tool | FramelessWindowHint | WindowStaysOnTopHint |
WindowDoesNotAcceptFocus`` with ``WA_ShowWithoutActivating``, so the app the
person is typing in keeps the keyboard.  Only :meth:`ToastWindow.take_keyboard`
(the tray's "Go to the newest tip") lets it accept focus, on request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QEvent, QObject, QPoint, QRect, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAccessible,
    QAccessibleAnnouncementEvent,
    QCloseEvent,
    QCursor,
    QDesktopServices,
    QEnterEvent,
    QGuiApplication,
    QKeyEvent,
    QPaintEvent,
    QPixmap,
    QScreen,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agent.events import Action
from agent.rules.effects import ShowToast
from agent.rules.model import Toast
from agent.ui.icons import app_icon
from agent.ui.markdown import is_safe_url, render_markdown, to_plain_text
from agent.ui.strings import LANGUAGES, lookup_locale, pick_locale, tr
from agent.ui.theme import Theme, toast_stylesheet
from agent.ui.windowing import can_round_corners

__all__ = [
    "SAMPLE_RULE",
    "TOAST_WIDTH",
    "Choice",
    "ToastAction",
    "ToastContent",
    "ToastStack",
    "ToastWindow",
    "content_for",
    "duration_label",
    "flow_rows",
    "sample_tip",
]

TOAST_WIDTH = 380
ACCENT_WIDTH = 5
PADDING = (16, 10, 12, 14)  # left, top, right, bottom inside the accent bar
TEXT_WIDTH = TOAST_WIDTH - ACCENT_WIDTH - PADDING[0] - PADDING[2] - 2
MARGIN = 16
GAP = 10
BUTTON_SPACING = 8
IMAGE_MAX_HEIGHT = 160
CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")
#: The rule id of the sample tip; not a valid pack rule id, so it never meets a real one.
SAMPLE_RULE = "waymark:sample-tip"


@dataclass(frozen=True, slots=True)
class ToastAction:
    id: str
    label: str
    open: str | None


@dataclass(frozen=True, slots=True)
class ToastContent:
    """A toast's texts in one language, ready to show."""

    rule: str
    title: str
    body: str
    actions: tuple[ToastAction, ...]
    snooze: tuple[tuple[float, str], ...]
    timeout: float
    image: str | None
    lang: str


def duration_label(seconds: float, lang: str) -> str:
    """``3600`` → "1 hour"; ``5400`` → "90 min"; ``172800`` → "2 days"."""
    s = round(seconds)
    if s >= 86400 and s % 86400 == 0:
        n = s // 86400
        return tr("day", lang) if n == 1 else tr("days", lang, n=n)
    if s >= 3600 and s % 3600 == 0:
        n = s // 3600
        return tr("hour", lang) if n == 1 else tr("hours", lang, n=n)
    return tr("minutes", lang, n=max(1, round(s / 60)))


def content_for(
    effect: ShowToast, ui_lang: str, text_langs: Sequence[str] | None = None
) -> ToastContent:
    """The toast of ``effect``: pack texts in the first of ``text_langs`` the pack has
    (BCP 47 lookup: ``de-CH``, then ``de``), else in its default locale; Waymark's own
    words (durations) in ``ui_lang``."""
    toast = effect.toast
    default = effect.default_locale
    wanted = tuple(text_langs) if text_langs else (ui_lang,)
    return ToastContent(
        rule=effect.rule,
        title=pick_locale(toast.title, wanted, default),
        body=pick_locale(toast.body, wanted, default) if toast.body else "",
        actions=tuple(
            ToastAction(a.id, pick_locale(a.label, wanted, default), a.open) for a in toast.actions
        ),
        snooze=tuple((s, duration_label(s, ui_lang)) for s in toast.snooze),
        timeout=toast.timeout,
        image=toast.image,
        lang=lookup_locale(toast.title, wanted, default) or default,
    )


def sample_tip(t: float) -> ShowToast:
    """A tip that checks that tips can be shown here (``waymark tip --test``); not coaching."""
    texts = {lang: (tr("sample_title", lang), tr("sample_body", lang)) for lang in LANGUAGES}
    toast = Toast(
        title={lang: title for lang, (title, _) in texts.items()},
        body={lang: body for lang, (_, body) in texts.items()},
        snooze=(3600.0, 86400.0),
        timeout=60.0,
    )
    return ShowToast(t, SAMPLE_RULE, "", "", 0, toast, "en", 0)


def flow_rows(widths: Sequence[int], available: int, spacing: int = BUTTON_SPACING) -> list[int]:
    """How many of ``widths`` go on each row, in order, so that no row is wider than
    ``available`` (a widget wider than a whole row gets a row of its own)."""
    rows: list[int] = []
    used = 0
    for width in widths:
        if rows and used + spacing + width <= available:
            rows[-1] += 1
            used += spacing + width
        else:
            rows.append(1)
            used = width
    return rows


@dataclass(frozen=True, slots=True)
class Choice:
    """What the person chose on ``window``."""

    window: ToastWindow
    action: str
    snooze_for: float | None


def _slot(fn: Callable[..., object], *args: object) -> Callable[[], None]:
    """A no-argument slot calling ``fn(*args)``.

    Used instead of ``lambda _=False, x=x: …``: a closure without default
    arguments, so PySide passes no signal arguments and holds no defaults.
    """

    def slot() -> None:
        fn(*args)

    return slot


class ToastWindow(QFrame):
    """One toast. Emits ``chosen(action, snooze_for)`` once, then closes itself.

    Buttons, in reading order: the pack's first action (primary), *Got it*, the
    pack's other actions, *Remind me later ▾* and *Don't show this again*, in
    rows that fit the toast.  *Remind me later* unfolds the snooze choices inside
    the toast rather than in a popup menu: a popup opened from a window that
    refuses focus can end up under it (openbox raises the toast on the click
    that opens the menu) and cannot take the keyboard.

    ``rounded``: draw rounded corners on a transparent background (needs a
    compositing window manager); otherwise square corners with a 1 px border, so
    the toast looks finished where nothing can make its corners transparent.
    """

    chosen = Signal(object)  # Choice
    painted = Signal()
    resized = Signal()  # the snooze choices unfolded or folded

    def __init__(
        self,
        content: ToastContent,
        theme: Theme,
        *,
        ui_lang: str,
        image_root: Path | None = None,
        open_url: Callable[[str], object] | None = None,
        rounded: bool | None = None,
    ) -> None:
        super().__init__(None)
        self.content = content
        self.theme = theme
        self.rounded = can_round_corners() if rounded is None else rounded
        self._ui_lang = ui_lang
        self._open_url = open_url or (lambda url: QDesktopServices.openUrl(QUrl(url)))
        self._decided = False
        self._painted_once = False
        self._remaining_ms = int(content.timeout * 1000)
        self._clock = QElapsedTimer()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timeout)
        self.hovered = False
        self.keyboard_taken = False

        self.setObjectName("WaymarkToast")
        self.setWindowFlags(
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint
            | Qt.WindowType.WindowDoesNotAcceptFocus
        )
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, True)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        # Rounded corners need the pixels outside them to be see-through.
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground, self.rounded)
        self.setWindowTitle(tr("toast_caption", ui_lang))
        self.setStyleSheet(toast_stylesheet(theme, rounded=self.rounded))
        self.setFixedWidth(TOAST_WIDTH)
        self._build(image_root)
        announce = tr("toast_announce", ui_lang, title=content.title)
        self.setAccessibleName(announce)
        self.setAccessibleDescription(to_plain_text(content.body))

    # -- construction -------------------------------------------------------------

    def _build(self, image_root: Path | None) -> None:
        c, lang = self.content, self._ui_lang
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        bar = QWidget(self)
        bar.setObjectName("accent")
        bar.setFixedWidth(ACCENT_WIDTH)
        outer.addWidget(bar)
        inner = QVBoxLayout()
        inner.setContentsMargins(*PADDING)
        inner.setSpacing(8)
        outer.addLayout(inner)

        header = QHBoxLayout()
        header.setSpacing(6)
        logo = QLabel(self)
        logo.setPixmap(app_icon().pixmap(16, 16))
        logo.setAccessibleName(tr("app_name", lang))
        header.addWidget(logo)
        self.caption = QLabel(tr("toast_caption", lang), self)
        self.caption.setObjectName("caption")
        header.addWidget(self.caption, 1)
        self.close_button = QToolButton(self)
        self.close_button.setObjectName("close")
        self.close_button.setText("✕")
        self.close_button.setToolTip(tr("close", lang))
        self.close_button.setAccessibleName(tr("close", lang))
        self.close_button.clicked.connect(lambda: self.choose("dismiss"))
        header.addWidget(self.close_button)
        inner.addLayout(header)

        self.title_label = QLabel(c.title, self)
        self.title_label.setObjectName("title")
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setWordWrap(True)
        self.title_label.setAccessibleName(c.title)
        self.title_label.setFixedWidth(TEXT_WIDTH)  # wrapped labels need a fixed width to size
        inner.addWidget(self.title_label)

        self.body_label: QLabel | None = None
        if c.body:
            body = QLabel(self)
            body.setObjectName("body")
            body.setTextFormat(Qt.TextFormat.RichText)
            body.setText(render_markdown(c.body, self.theme.link))
            body.setWordWrap(True)
            body.setOpenExternalLinks(False)  # opened by us, after re-checking the scheme
            body.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
            body.linkActivated.connect(self._on_link)
            body.setAccessibleName(to_plain_text(c.body))
            body.setFixedWidth(TEXT_WIDTH)
            inner.addWidget(body)
            self.body_label = body

        self.image_label: QLabel | None = None
        if c.image:
            pixmap = _load_image(c.image, image_root)
            if pixmap is not None:
                image = QLabel(self)
                image.setPixmap(pixmap)
                image.setAccessibleName(tr("toast_image", lang))
                inner.addWidget(image)
                self.image_label = image

        self.action_buttons: dict[str, QPushButton] = {}
        for i, action in enumerate(c.actions):
            button = QPushButton(action.label, self)
            button.setObjectName("primary" if i == 0 else "secondary")
            button.setAccessibleName(action.label)
            button.clicked.connect(_slot(self._on_action, action))
            self.action_buttons[action.id] = button
        self.got_it_button = QPushButton(tr("got_it", lang), self)
        self.got_it_button.setObjectName("secondary" if c.actions else "primary")
        self.got_it_button.setAccessibleName(tr("got_it", lang))
        self.got_it_button.clicked.connect(lambda: self.choose("got-it"))

        self.snooze_button: QPushButton | None = None
        self.snooze_choices: list[QPushButton] = []
        self.snooze_row: QWidget | None = None
        if c.snooze:
            snooze = QPushButton(tr("snooze", lang) + " ▾", self)
            snooze.setObjectName("secondary")
            snooze.setAccessibleName(tr("snooze", lang))
            snooze.setCheckable(True)
            snooze.toggled.connect(self._show_snooze_choices)
            self.snooze_button = snooze
        self.never_button = QPushButton(tr("never", lang), self)
        self.never_button.setObjectName("never")
        self.never_button.setAccessibleName(tr("never", lang))
        self.never_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.never_button.clicked.connect(lambda: self.choose("never"))

        actions = list(self.action_buttons.values())
        first: list[QWidget] = [*actions[:1], self.got_it_button]
        rest: list[QWidget] = list(actions[1:])
        last: list[QWidget] = [w for w in (self.snooze_button, self.never_button) if w is not None]
        for group in (first, rest, last):
            if group:
                self._add_rows(inner, group)

        if c.snooze:
            row = QWidget(self)
            row.setObjectName("snooze-choices")
            row_layout = QHBoxLayout(row)
            row_layout.setContentsMargins(0, 0, 0, 0)
            row_layout.setSpacing(BUTTON_SPACING)
            for seconds, label in c.snooze:
                text = tr("snooze_for", lang, duration=label)
                choice = QPushButton(text, row)
                choice.setObjectName("snooze-choice")
                choice.setAccessibleName(tr("snooze_choice", lang, duration=label))
                choice.clicked.connect(_slot(self.choose, "snooze", seconds))
                row_layout.addWidget(choice)
                self.snooze_choices.append(choice)
            row_layout.addStretch(1)
            row.setAccessibleName(tr("snooze", lang))
            row.hide()
            inner.addWidget(row)
            self.snooze_row = row
        for w in self.findChildren(QPushButton) + self.findChildren(QToolButton):
            w.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.adjustSize()

    def _add_rows(self, layout: QVBoxLayout, widgets: Sequence[QWidget]) -> None:
        """``widgets`` in rows as wide as the text, in order, left-aligned."""
        for w in widgets:
            w.ensurePolished()  # the stylesheet's padding is part of the width
        counts = flow_rows([w.sizeHint().width() for w in widgets], TEXT_WIDTH)
        index = 0
        for count in counts:
            row = QHBoxLayout()
            row.setSpacing(BUTTON_SPACING)
            for w in widgets[index : index + count]:
                row.addWidget(w)
            row.addStretch(1)
            layout.addLayout(row)
            index += count

    # -- behaviour -----------------------------------------------------------------

    def choose(self, action: str, snooze_for: float | None = None) -> None:
        """Record the person's choice (once) and close."""
        if self._decided:
            return
        self._decided = True
        self._timer.stop()
        self.chosen.emit(Choice(self, action, snooze_for))
        self.close()

    def _show_snooze_choices(self, unfold: bool) -> None:
        if self.snooze_row is None or self.snooze_button is None:
            return
        self.snooze_row.setVisible(unfold)
        arrow = " ▴" if unfold else " ▾"
        self.snooze_button.setText(tr("snooze", self._ui_lang) + arrow)
        self.adjustSize()
        self.resized.emit()
        if unfold and self.keyboard_taken and self.snooze_choices:
            self.snooze_choices[0].setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_action(self, action: ToastAction) -> None:
        if action.open and is_safe_url(action.open):
            self._open_url(action.open)
        self.choose(action.id)

    def _on_link(self, url: str) -> None:
        if is_safe_url(url):
            self._open_url(url)

    def _on_timeout(self) -> None:
        if not self.hovered and not self.keyboard_taken:
            self.choose("dismiss")

    def start_timer(self) -> None:
        """Start (or resume) the auto-dismiss countdown; a timeout ≤ 0 means none."""
        if self.content.timeout <= 0 or self._decided:
            return
        self._clock.start()
        self._timer.start(max(0, self._remaining_ms))

    def pause_timer(self) -> None:
        if self._timer.isActive():
            self._remaining_ms = max(0, self._remaining_ms - int(self._clock.elapsed()))
            self._timer.stop()

    @property
    def timer_running(self) -> bool:
        return self._timer.isActive()

    @property
    def remaining_ms(self) -> int:
        if self._timer.isActive():
            return max(0, self._remaining_ms - int(self._clock.elapsed()))
        return self._remaining_ms

    def take_keyboard(self) -> None:
        """Let the keyboard reach this toast (asked for by the person) and focus it."""
        self.keyboard_taken = True
        self.pause_timer()
        self.setWindowFlag(Qt.WindowType.WindowDoesNotAcceptFocus, False)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating, False)
        self.show()  # setWindowFlag hides the window; show it again where it was
        self.raise_()
        self.activateWindow()
        first = next(iter(self.action_buttons.values()), self.got_it_button)
        first.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def buttons(self) -> list[QPushButton]:
        """Every choice button in reading order (snooze choices only while unfolded)."""
        actions = list(self.action_buttons.values())
        order = [*actions[:1], self.got_it_button, *actions[1:]]
        if self.snooze_button is not None:
            order.append(self.snooze_button)
        order.append(self.never_button)
        if self.snooze_row is not None and self.snooze_row.isVisible():
            order += self.snooze_choices
        return order

    def announce(self) -> None:
        """Tell screen readers that a tip appeared (where the platform bridge supports it)."""
        event = QAccessibleAnnouncementEvent(self, self.accessibleName())
        QAccessible.updateAccessibility(event)

    # -- Qt events ------------------------------------------------------------------

    def enterEvent(self, event: QEnterEvent) -> None:
        self.hovered = True
        self.pause_timer()
        super().enterEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self.hovered = False
        if not self.keyboard_taken:
            self.start_timer()
        super().leaveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Escape:
            if self.snooze_button is not None and self.snooze_button.isChecked():
                self.snooze_button.setChecked(False)  # fold the choices first
                self.snooze_button.setFocus(Qt.FocusReason.OtherFocusReason)
                return
            self.choose("dismiss")
            return
        focused = self.focusWidget()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and isinstance(focused, QPushButton):
            focused.click()  # Enter presses the focused button, as Space does
            return
        super().keyPressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted_once:
            self._painted_once = True
            self.painted.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._decided:  # closed by the window manager or the app: a dismissal
            self._decided = True
            self.chosen.emit(Choice(self, "dismiss", None))
        self._timer.stop()
        super().closeEvent(event)


def _load_image(image: str, root: Path | None) -> QPixmap | None:
    path = Path(image)
    if not path.is_absolute() and root is not None:
        path = root / path
    if not path.is_file():
        return None
    pixmap = QPixmap(str(path))
    if pixmap.isNull():
        return None
    width = TOAST_WIDTH - 40
    if pixmap.width() > width:
        pixmap = pixmap.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
    if pixmap.height() > IMAGE_MAX_HEIGHT:
        pixmap = pixmap.scaledToHeight(IMAGE_MAX_HEIGHT, Qt.TransformationMode.SmoothTransformation)
    return pixmap


class ToastStack(QObject):
    """Shows toasts in a screen corner, stacked, and reports every choice.

    ``post_action`` receives the :class:`Action` for the engine; ``corner``,
    ``ui_lang`` (Waymark's own words), ``text_langs`` (the languages wanted for
    the pack's texts, best first) and ``theme`` are read at each new toast so
    settings changes apply to the next one.
    """

    shown = Signal(object)  # the ToastWindow, once show() was called

    def __init__(
        self,
        post_action: Callable[[Action], None],
        *,
        corner: Callable[[], str],
        ui_lang: Callable[[], str],
        theme: Callable[[], Theme],
        text_langs: Callable[[], Sequence[str]] | None = None,
        now: Callable[[], float] = time.time,
        image_root: Path | None = None,
        open_url: Callable[[str], object] | None = None,
        screen: Callable[[], QScreen | None] | None = None,
        rounded: Callable[[], bool] = can_round_corners,
    ) -> None:
        super().__init__()
        self._post = post_action
        self._corner = corner
        self._ui_lang = ui_lang
        self._text_langs = text_langs
        self._theme = theme
        self._now = now
        self._image_root = image_root
        self._open_url = open_url
        self._screen = screen or _screen_under_cursor
        self._rounded = rounded
        self._posts: dict[ToastWindow, Callable[[Action], None]] = {}
        self.toasts: list[ToastWindow] = []

    def show_toast(
        self,
        effect: ShowToast,
        *,
        on_screen: Callable[[], None] | None = None,
        post: Callable[[Action], None] | None = None,
    ) -> ToastWindow:
        """Show ``effect``; ``on_screen`` runs once the toast is first painted (it is on
        screen then), ``post`` replaces ``post_action`` for this toast's choice."""
        lang = self._ui_lang()
        text_langs = self._text_langs() if self._text_langs is not None else None
        window = ToastWindow(
            content_for(effect, lang, text_langs),
            self._theme(),
            ui_lang=lang,
            image_root=self._image_root,
            open_url=self._open_url,
            rounded=self._rounded(),
        )
        window.chosen.connect(self._on_chosen)
        window.resized.connect(self.relayout)
        if on_screen is not None:
            window.painted.connect(on_screen)  # before show(): the first paint follows it
        if post is not None:
            self._posts[window] = post
        self.toasts.append(window)
        self.relayout()
        window.show()
        window.announce()
        window.start_timer()
        self.shown.emit(window)
        return window

    def newest(self) -> ToastWindow | None:
        return self.toasts[-1] if self.toasts else None

    def focus_newest(self) -> bool:
        """Give the keyboard to the newest toast; False when none is open."""
        toast = self.newest()
        if toast is None:
            return False
        toast.take_keyboard()
        return True

    def close_all(self) -> None:
        for toast in list(self.toasts):
            toast.choose("dismiss")

    def relayout(self) -> None:
        """Place every open toast: the newest nearest the corner."""
        screen = self._screen()
        if screen is None:
            return
        area = screen.availableGeometry()
        corner = self._corner()
        if corner not in CORNERS:
            corner = "bottom-right"
        offset = MARGIN
        for toast in reversed(self.toasts):
            toast.adjustSize()
            size = toast.size()
            x = (
                area.right() - MARGIN - size.width() + 1
                if corner.endswith("right")
                else area.left() + MARGIN
            )
            if corner.startswith("bottom"):
                y = area.bottom() - offset - size.height() + 1
            else:
                y = area.top() + offset
            toast.move(QPoint(x, y))
            offset += size.height() + GAP

    def placement(self, toast: ToastWindow) -> QRect:
        return toast.frameGeometry()

    def _on_chosen(self, choice: Choice) -> None:
        window = choice.window
        post = self._posts.pop(window, self._post)
        post(Action(self._now(), window.content.rule, choice.action, choice.snooze_for))
        if window in self.toasts:
            self.toasts.remove(window)
            self.relayout()


def _screen_under_cursor() -> QScreen | None:
    """The screen under the pointer (where the person is working), else the primary one.

    Qt cannot ask which screen holds another program's focused window without
    platform code; the pointer is on that screen in almost every case.
    """
    screen = QGuiApplication.screenAt(QCursor.pos())
    return screen or QGuiApplication.primaryScreen()
