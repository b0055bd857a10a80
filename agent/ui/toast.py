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
from collections.abc import Callable
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
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agent.events import Action
from agent.rules.effects import ShowToast
from agent.ui.icons import app_icon
from agent.ui.markdown import is_safe_url, render_markdown, to_plain_text
from agent.ui.strings import pick_locale, tr
from agent.ui.theme import Theme, toast_stylesheet

__all__ = [
    "TOAST_WIDTH",
    "Choice",
    "ToastAction",
    "ToastContent",
    "ToastStack",
    "ToastWindow",
    "content_for",
    "duration_label",
]

TOAST_WIDTH = 380
ACCENT_WIDTH = 5
PADDING = (16, 10, 12, 14)  # left, top, right, bottom inside the accent bar
TEXT_WIDTH = TOAST_WIDTH - ACCENT_WIDTH - PADDING[0] - PADDING[2] - 2
MARGIN = 16
GAP = 10
IMAGE_MAX_HEIGHT = 160
CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")


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


def content_for(effect: ShowToast, lang: str) -> ToastContent:
    """The toast of ``effect`` in ``lang``, else the pack's default locale."""
    toast = effect.toast
    default = effect.default_locale
    # The texts' language: what the person wants if the pack has it, else the default.
    text_lang = lang if lang in toast.title else default
    return ToastContent(
        rule=effect.rule,
        title=pick_locale(toast.title, lang, default),
        body=pick_locale(toast.body, lang, default) if toast.body else "",
        actions=tuple(
            ToastAction(a.id, pick_locale(a.label, lang, default), a.open) for a in toast.actions
        ),
        snooze=tuple((s, duration_label(s, lang)) for s in toast.snooze),
        timeout=toast.timeout,
        image=toast.image,
        lang=text_lang if text_lang in ("en", "it") else lang,
    )


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
    """One toast. Emits ``chosen(action, snooze_for)`` once, then closes itself."""

    chosen = Signal(object)  # Choice
    painted = Signal()

    def __init__(
        self,
        content: ToastContent,
        theme: Theme,
        *,
        ui_lang: str,
        image_root: Path | None = None,
        open_url: Callable[[str], object] | None = None,
    ) -> None:
        super().__init__(None)
        self.content = content
        self.theme = theme
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
        self.setWindowTitle(tr("toast_caption", ui_lang))
        self.setStyleSheet(toast_stylesheet(theme))
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
        bar.setFixedWidth(ACCENT_WIDTH)
        bar.setStyleSheet(f"background: {self.theme.accent};")
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

        row = QHBoxLayout()
        row.setSpacing(8)
        self.action_buttons: dict[str, QPushButton] = {}
        for action in c.actions:
            button = QPushButton(action.label, self)
            button.setObjectName("primary")
            button.setAccessibleName(action.label)
            button.clicked.connect(_slot(self._on_action, action))
            row.addWidget(button)
            self.action_buttons[action.id] = button
        self.got_it_button = QPushButton(tr("got_it", lang), self)
        if not c.actions:
            self.got_it_button.setObjectName("primary")
        self.got_it_button.setAccessibleName(tr("got_it", lang))
        self.got_it_button.clicked.connect(lambda: self.choose("got-it"))
        row.addWidget(self.got_it_button)
        row.addStretch(1)
        inner.addLayout(row)

        row2 = QHBoxLayout()
        row2.setSpacing(8)
        self.snooze_button: QToolButton | None = None
        self.snooze_menu: QMenu | None = None
        if c.snooze:
            snooze = QToolButton(self)
            snooze.setText(tr("snooze", lang) + " ▾")
            snooze.setAccessibleName(tr("snooze", lang))
            snooze.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            menu = QMenu(snooze)
            menu.setAccessibleName(tr("snooze", lang))
            for seconds, label in c.snooze:
                text = tr("snooze_for", lang, duration=label)
                act = menu.addAction(text)
                act.triggered.connect(_slot(self.choose, "snooze", seconds))
            snooze.setMenu(menu)
            row2.addWidget(snooze)
            self.snooze_button, self.snooze_menu = snooze, menu
        self.never_button = QPushButton(tr("never", lang), self)
        self.never_button.setObjectName("never")
        self.never_button.setAccessibleName(tr("never", lang))
        self.never_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.never_button.clicked.connect(lambda: self.choose("never"))
        row2.addWidget(self.never_button)
        row2.addStretch(1)
        inner.addLayout(row2)
        for w in self.findChildren(QPushButton) + self.findChildren(QToolButton):
            w.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.adjustSize()

    # -- behaviour -----------------------------------------------------------------

    def choose(self, action: str, snooze_for: float | None = None) -> None:
        """Record the person's choice (once) and close."""
        if self._decided:
            return
        self._decided = True
        self._timer.stop()
        self.chosen.emit(Choice(self, action, snooze_for))
        self.close()

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
        if event.key() == Qt.Key.Key_Escape:
            self.choose("dismiss")
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
    ``ui_lang`` and ``theme`` are read at each new toast so settings changes
    apply to the next one.
    """

    shown = Signal(object)  # the ToastWindow, once it is on screen

    def __init__(
        self,
        post_action: Callable[[Action], None],
        *,
        corner: Callable[[], str],
        ui_lang: Callable[[], str],
        theme: Callable[[], Theme],
        now: Callable[[], float] = time.time,
        image_root: Path | None = None,
        open_url: Callable[[str], object] | None = None,
        screen: Callable[[], QScreen | None] | None = None,
    ) -> None:
        super().__init__()
        self._post = post_action
        self._corner = corner
        self._ui_lang = ui_lang
        self._theme = theme
        self._now = now
        self._image_root = image_root
        self._open_url = open_url
        self._screen = screen or _screen_under_cursor
        self.toasts: list[ToastWindow] = []

    def show_toast(self, effect: ShowToast) -> ToastWindow:
        lang = self._ui_lang()
        window = ToastWindow(
            content_for(effect, lang),
            self._theme(),
            ui_lang=lang,
            image_root=self._image_root,
            open_url=self._open_url,
        )
        window.chosen.connect(self._on_chosen)
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
        self._post(Action(self._now(), window.content.rule, choice.action, choice.snooze_for))
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
