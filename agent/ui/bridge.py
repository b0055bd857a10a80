"""The one crossing from the engine thread to the Qt main thread.

The engine calls :meth:`UiBridge.deliver` on its own thread; the signal it
emits is connected with a queued connection, so slots run on the main thread
and no widget is ever touched from another thread (qutebrowser's
``message.global_bridge`` pattern).  Settings changes cross the same way.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal

from agent.rules.effects import Effect, ShowToast

__all__ = ["UiBridge"]


class UiBridge(QObject):
    """Receives effects and setting changes from any thread; re-emits them on the main thread."""

    toast_requested = Signal(object)  # ShowToast
    setting_changed = Signal(str)
    show_settings_requested = Signal(str)  # page name or ""
    _effect = Signal(object)
    _setting = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        queued = Qt.ConnectionType.QueuedConnection
        self._effect.connect(self._on_effect, queued)
        self._setting.connect(self.setting_changed, queued)

    def deliver(self, effect: Effect) -> None:
        """Effect listener: safe to call from the engine thread."""
        if isinstance(effect, ShowToast):
            self._effect.emit(effect)

    def setting_did_change(self, key: str) -> None:
        """Settings subscriber: safe to call from any thread."""
        self._setting.emit(key)

    def _on_effect(self, effect: object) -> None:
        self.toast_requested.emit(effect)
