"""Toast presenters behind one adapter (qutebrowser's notification adapter shape).

``NotificationAdapter`` tries an ordered list of presenter factories; a
presenter raises :class:`PresenterUnavailable` in its constructor when it
cannot work here, and the next one is tried.  Set-up is lazy (at the first
toast), and a presenter that reports an ``error`` is dropped and the list is
walked again from the next one.

- :class:`QtToastPresenter` — Waymark's own toast window (buttons, snooze,
  "don't show again"); needs a platform that lets a client place its windows
  (not native Wayland, where a window cannot choose its position or refuse focus).
- :class:`TrayMessagePresenter` — the desktop's own notification through the
  tray icon: title and plain text only; a click counts as "Got it".

Each ``present`` gets ``on_screen``, which the presenter calls once the toast
is on screen (the Qt toast: its first paint; a tray message: once handed to
the desktop, the most it can know); the UI then tells the engine, which
records the tip as shown only then (:class:`agent.events.ToastShown`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QSystemTrayIcon

from agent.events import Action
from agent.rules.effects import ShowToast
from agent.ui.markdown import to_plain_text
from agent.ui.toast import ToastStack, content_for

__all__ = [
    "NotificationAdapter",
    "OnScreen",
    "PostAction",
    "PresenterUnavailable",
    "QtToastPresenter",
    "ToastPresenter",
    "TrayMessagePresenter",
]


log = logging.getLogger(__name__)


class PresenterUnavailable(RuntimeError):
    """This presenter cannot show toasts here; the adapter tries the next one."""


OnScreen = Callable[[], None]
PostAction = Callable[[Action], None]


class ToastPresenter(Protocol):
    name: str

    def present(
        self, effect: ShowToast, on_screen: OnScreen, post: PostAction | None = None
    ) -> None: ...

    def focus_newest(self) -> bool: ...

    def close_all(self) -> None: ...


class QtToastPresenter:
    """Waymark's own toast windows (:class:`agent.ui.toast.ToastStack`)."""

    name = "qt-toast"

    def __init__(self, stack: ToastStack) -> None:
        platform = QGuiApplication.platformName()
        if platform.startswith("wayland"):
            raise PresenterUnavailable(
                "native Wayland does not let a window pick its corner or refuse focus"
            )
        if QGuiApplication.primaryScreen() is None:
            raise PresenterUnavailable("no screen")
        self.stack = stack

    def present(
        self, effect: ShowToast, on_screen: OnScreen, post: PostAction | None = None
    ) -> None:
        self.stack.show_toast(effect, on_screen=on_screen, post=post)

    def focus_newest(self) -> bool:
        return self.stack.focus_newest()

    def close_all(self) -> None:
        self.stack.close_all()


class TrayMessagePresenter:
    """The desktop's notification via the tray icon (no buttons: a click is "Got it")."""

    name = "tray-message"

    def __init__(
        self,
        icon: QSystemTrayIcon | None,
        post_action: Callable[[Action], None],
        ui_lang: Callable[[], str],
        now: Callable[[], float] = time.time,
        text_langs: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        if icon is None or not QSystemTrayIcon.supportsMessages():
            raise PresenterUnavailable("no tray icon that can show messages")
        self._icon = icon
        self._post_default = post_action
        self._post: PostAction = post_action
        self._lang = ui_lang
        self._text_langs = text_langs
        self._now = now
        self._last_rule: str | None = None
        icon.messageClicked.connect(self._clicked)

    def present(
        self, effect: ShowToast, on_screen: OnScreen, post: PostAction | None = None
    ) -> None:
        langs = self._text_langs() if self._text_langs is not None else None
        content = content_for(effect, self._lang(), langs)
        self._last_rule = content.rule
        self._post = post or self._post_default
        timeout_ms = int(content.timeout * 1000) if content.timeout > 0 else 15000
        self._icon.showMessage(content.title, to_plain_text(content.body),
                               QSystemTrayIcon.MessageIcon.Information, timeout_ms)  # fmt: skip
        on_screen()  # handed to the desktop's notifications: the most this presenter can know

    def focus_newest(self) -> bool:
        return False

    def close_all(self) -> None:
        self._last_rule = None

    def _clicked(self) -> None:
        if self._last_rule is not None:
            self._post(Action(self._now(), self._last_rule, "got-it"))
            self._last_rule = None


class NotificationAdapter(QObject):
    """Shows each toast with the first presenter that works here."""

    error = Signal(str)  # a presenter failed; the adapter moves on to the next one

    def __init__(self, factories: Sequence[Callable[[], ToastPresenter]]) -> None:
        super().__init__()
        self._factories = list(factories)
        self._next = 0
        self.presenter: ToastPresenter | None = None
        self.problems: list[str] = []
        self.error.connect(self._drop)

    def _pick(self) -> ToastPresenter | None:
        while self.presenter is None and self._next < len(self._factories):
            factory = self._factories[self._next]
            self._next += 1
            try:
                self.presenter = factory()
            except PresenterUnavailable as exc:
                self.problems.append(str(exc))
        return self.presenter

    def present(
        self, effect: ShowToast, on_screen: OnScreen, post: PostAction | None = None
    ) -> bool:
        """Show ``effect``; False when no presenter works (the toast is dropped).

        ``on_screen`` runs once the toast is on screen; ``post`` receives the
        person's choice instead of the presenter's default (the sample tip).
        """
        while True:
            presenter = self._pick()
            if presenter is None:
                return False
            try:
                presenter.present(effect, on_screen, post)
            except Exception as exc:  # a broken presenter: drop it, try the next
                log.exception("presenter %s failed", presenter.name)
                self._drop(f"{presenter.name}: {type(exc).__name__}: {exc}")
                continue
            return True

    def focus_newest(self) -> bool:
        return self.presenter.focus_newest() if self.presenter is not None else False

    def close_all(self) -> None:
        if self.presenter is not None:
            self.presenter.close_all()

    def _drop(self, why: str) -> None:
        self.problems.append(why)
        if self.presenter is not None:
            self.presenter.close_all()
        self.presenter = None
