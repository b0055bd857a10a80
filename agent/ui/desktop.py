"""The desktop UI entry point: ``run_desktop(core)``.

Builds, on the Qt main thread: the bridge (effects from the engine thread
arrive as queued signals), the toast stack, the tray and — on demand — the
settings window; holds a per-user single-instance server so that a second
start (or ``waymark settings``) brings the running agent's settings forward.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QLocale, QObject, QSocketNotifier, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication

from agent.events import Action, ToastNotShown, ToastShown
from agent.rules.effects import ShowToast
from agent.ui.bridge import UiBridge
from agent.ui.core import CoreLike
from agent.ui.icons import app_icon
from agent.ui.presenters import NotificationAdapter, QtToastPresenter, TrayMessagePresenter
from agent.ui.settings_window import SettingsWindow, needs_consent_page
from agent.ui.strings import resolve_language, text_preferences, tr
from agent.ui.theme import Theme, system_theme
from agent.ui.toast import SAMPLE_RULE, ToastStack, sample_tip
from agent.ui.tray import TrayController

__all__ = [
    "DesktopUi",
    "SingleInstance",
    "exit_event_loop",
    "forward_to_running_instance",
    "instance_name",
    "run_desktop",
]

log = logging.getLogger(__name__)

SHOW_SETTINGS = "show-settings"
SHOW_SAMPLE_TIP = "show-sample-tip"


def instance_name(user: str | None = None) -> str:
    """The per-user local socket name (a named pipe on Windows, a socket file elsewhere)."""
    try:
        who = user or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        who = "user"
    return "waymark-" + re.sub(r"[^A-Za-z0-9_.-]", "_", who)


def forward_to_running_instance(
    message: str = SHOW_SETTINGS, *, name: str | None = None, timeout_ms: int = 1000
) -> bool:
    """Send ``message`` to a running Waymark of this user; False when none runs."""
    client = QLocalSocket()
    client.connectToServer(name or instance_name())
    if not client.waitForConnected(timeout_ms):
        return False
    client.write((message + "\n").encode())
    client.flush()
    client.waitForBytesWritten(timeout_ms)
    client.disconnectFromServer()
    return True


class SingleInstance(QObject):
    """Listens on the per-user name; each line received is a request (``show-settings[:page]``)."""

    message_received = Signal(str)

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name or instance_name()
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_connection)
        self._clients: list[QLocalSocket] = []

    def listen(self) -> bool:
        if self._server.listen(self.name):
            return True
        # A crashed agent leaves a stale socket file behind on Unix; nobody answered
        # on it (the caller checked), so it is safe to remove and retry.
        QLocalServer.removeServer(self.name)
        return self._server.listen(self.name)

    def close(self) -> None:
        for client in self._clients:
            client.readyRead.disconnect()
            client.disconnected.disconnect()
            client.abort()  # the server owns its sockets and deletes them with itself
        self._clients.clear()
        self._server.close()

    def _on_connection(self) -> None:
        while self._server.hasPendingConnections():
            client = self._server.nextPendingConnection()
            # Kept until close(): deleting a server socket from Python while Qt still
            # has events queued for it crashed PySide6 6.12; a few stay per second start.
            self._clients.append(client)
            client.readyRead.connect(self._reader(client))
            client.disconnected.connect(self._forget(client))
            self._read(client)

    def _reader(self, client: QLocalSocket) -> Callable[[], None]:
        def slot() -> None:
            self._read(client)

        return slot

    def _forget(self, client: QLocalSocket) -> Callable[[], None]:
        def slot() -> None:
            self._read(client)

        return slot

    def _read(self, client: QLocalSocket) -> None:
        while client.canReadLine():
            line = bytes(client.readLine().data()).decode(errors="replace").strip()
            if line:
                self.message_received.emit(line)


class DesktopUi(QObject):
    """Everything the person sees, wired to ``core``. Lives on the Qt main thread."""

    def __init__(
        self,
        core: CoreLike,
        *,
        now: Callable[[], float] = time.time,
        theme: Callable[[], Theme] = system_theme,
        image_root: Path | None = None,
        quit_app: Callable[[], None] | None = None,
        open_url: Callable[[str], object] | None = None,
    ) -> None:
        super().__init__()
        self.core = core
        self._now = now
        self._quit = quit_app or exit_event_loop
        self.bridge = UiBridge()
        self.toasts = ToastStack(
            self._post_action,
            corner=lambda: str(core.settings.get("toast_position")),
            ui_lang=self.lang,
            text_langs=self.text_langs,
            theme=theme,
            now=now,
            image_root=image_root,
            open_url=open_url,
        )
        self.tray = TrayController(
            core,
            lang=self.lang,
            open_settings=self.open_settings,
            focus_newest_toast=self._focus_newest,
            quit_app=self.quit,
            now=now,
            show_sample_tip=self.show_sample_tip,
        )
        self.presenters = NotificationAdapter(
            [
                lambda: QtToastPresenter(self.toasts),
                lambda: TrayMessagePresenter(
                    self.tray.icon, self._post_action, self.lang, now, self.text_langs
                ),
            ]
        )
        self.settings_window: SettingsWindow | None = None
        self.bridge.toast_requested.connect(self._present)
        self.bridge.setting_changed.connect(self._on_setting_changed)
        self.bridge.show_settings_requested.connect(self.open_settings)
        core.settings.subscribe(self.bridge.setting_did_change)
        core.add_effect_listener(self.bridge.deliver)

    def lang(self) -> str:
        """Waymark's own language (English or Italian)."""
        return resolve_language(self.core.settings.get("language"), QLocale.system().name())

    def text_langs(self) -> tuple[str, ...]:
        """The languages wanted for the pack's texts, best first (any the pack has)."""
        return text_preferences(self.core.settings.get("language"), QLocale.system().uiLanguages())

    def show_sample_tip(
        self,
        on_screen: Callable[[], None] | None = None,
        on_closed: Callable[[str], None] | None = None,
    ) -> bool:
        """Show a sample tip (tray "Show a sample tip", ``waymark tip --test``).

        It is not a coaching tip: nothing is recorded and its buttons only close it.
        ``on_closed`` receives the choice that closed it (``got-it``, ``dismiss`` …).
        """

        def shown() -> None:
            log.info("the sample tip is on screen")
            if on_screen is not None:
                on_screen()

        def closed(action: Action) -> None:
            log.info("the sample tip was closed (%s)", action.action)
            if on_closed is not None:
                on_closed(action.action)

        ok = self.presenters.present(sample_tip(self._now()), shown, closed)
        if not ok:
            log.warning("no way to show a tip here: %s", "; ".join(self.presenters.problems))
        return ok

    def open_settings(self, page: str = "coaching") -> SettingsWindow:
        """Create the settings window on first use and bring it forward on ``page``."""
        if self.settings_window is None:
            self.settings_window = SettingsWindow(
                self.core, lang=self.lang, now=self._now, text_langs=self.text_langs
            )
        self.settings_window.show_page(page or "coaching")
        return self.settings_window

    @Slot(str)
    def handle_message(self, message: str) -> None:
        """A request from another start of Waymark (``show-settings[:page]``)."""
        command, _, page = message.partition(":")
        if command == SHOW_SETTINGS:
            self.open_settings(page or "coaching")
        elif command == SHOW_SAMPLE_TIP:
            self.show_sample_tip()

    def quit(self) -> None:
        if not self.core.settings.get("allow_quit"):
            return
        self.presenters.close_all()
        self._quit()

    def _present(self, effect: ShowToast) -> None:
        """Show a tip from the engine and tell it whether the tip reached the screen."""
        toast_id = effect.toast_id

        def on_screen() -> None:
            if toast_id:
                self.core.post(ToastShown(self._now(), toast_id))

        if not self.presenters.present(effect, on_screen):
            why = "; ".join(self.presenters.problems) or "no presenter"
            log.warning("no way to show a tip here: %s", why)
            if toast_id:
                self.core.post(ToastNotShown(self._now(), toast_id, why))

    def _focus_newest(self) -> bool:
        return self.presenters.focus_newest()

    def _post_action(self, action: Action) -> None:
        if action.rule == SAMPLE_RULE:
            return  # the sample tip is not coaching: nothing to record
        self.core.post(action)

    def _on_setting_changed(self, key: str) -> None:
        self.tray.refresh()
        if self.settings_window is not None:
            self.settings_window.setting_changed(key)
        if key == "toast_position":
            self.toasts.relayout()


def exit_event_loop() -> None:
    """End the Qt event loop now.

    Not ``QApplication.quit()``: since Qt 6 that first asks every window to
    close and is cancelled when one refuses — and the settings window refuses
    (it hides instead, so that closing it never stops the agent).
    """
    QApplication.exit(0)


class QuitOnSignal(QObject):
    """Ctrl+C / SIGTERM end the Qt loop cleanly (so the agent can flush and stop).

    Python runs signal handlers only between bytecodes, which never happens
    while Qt waits in ``exec()``; ``signal.set_wakeup_fd`` writes to a socket
    that Qt watches instead, so there is no polling timer.
    """

    def __init__(self, quit_app: Callable[[], None]) -> None:
        super().__init__()
        self._quit = quit_app
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno())
        self._previous = {s: signal.signal(s, self._noop) for s in _QUIT_SIGNALS}
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_wakeup)

    @staticmethod
    def _noop(signum: int, frame: object) -> None:
        """The wake-up byte does the work; the handler only stops the default action."""

    def _on_wakeup(self) -> None:
        with contextlib.suppress(OSError):
            self._reader.recv(64)
        self._quit()

    def close(self) -> None:
        self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._reader.close()
        self._writer.close()


_QUIT_SIGNALS = tuple(
    s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None
)


def run_desktop(
    core: CoreLike,
    *,
    start: Callable[[], None] | None = None,
    show_settings: bool = False,
    now: Callable[[], float] = time.time,
    image_root: Path | None = None,
) -> int:
    """Run the desktop UI until Quit; returns the process exit code.

    ``start`` (the agent's ``AgentCore.start``) runs once the UI listens to
    the engine's effects, so no effect — the ``start`` event's welcome tip
    above all — is produced before the UI can show it.  A second start of
    Waymark for the same user asks the running one to show its settings and
    returns 0 at once (``start`` is not called).
    """
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    app.setApplicationName("Waymark")
    app.setOrganizationName("Waymark")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)  # toasts and settings close; the agent stays
    if forward_to_running_instance():
        log.info("Waymark is already running for this user; asked it to show its settings")
        return 0
    instance = SingleInstance()
    if not instance.listen():
        log.warning("single-instance socket %s unavailable; continuing", instance.name)
    ui = DesktopUi(core, now=now, image_root=image_root)
    instance.message_received.connect(ui.handle_message)
    stopper = (
        QuitOnSignal(exit_event_loop)
        if threading.current_thread() is threading.main_thread()
        else None
    )
    if ui.tray.available:
        ui.tray.show()
    else:
        # Said once per start, on stderr and in the log (info: it is not a fault).
        message = tr("no_tray", ui.lang())
        log.info("%s", message)
        print(f"waymark: {message}", file=sys.stderr)
    if start is not None:
        start()
    if show_settings or needs_consent_page(core):
        ui.open_settings("coaching")
    try:
        return int(app.exec())
    finally:
        ui.presenters.close_all()
        ui.tray.hide()
        instance.close()
        if stopper is not None:
            stopper.close()
