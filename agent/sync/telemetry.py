"""The telemetry gate: which records enter the outbox, and what they keep.

It listens to the engine's effects.  A record is stored only while telemetry
may be sent (the person agreed, or policy set the organisation-notice mode);
its ``app`` is removed unless policy sets ``send_app_names``.  When telemetry
is turned off, the records still waiting are deleted: saying no also covers
what was not sent yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from agent.config.settings import SettingsStore
from agent.rules.effects import Effect
from agent.rules.records import Record
from agent.sync.outbox import Outbox

__all__ = ["TelemetryGate"]

log = logging.getLogger(__name__)


class TelemetryGate:
    """Effect listener (engine thread) and settings subscriber (any thread)."""

    def __init__(
        self,
        settings: SettingsStore,
        outbox: Outbox,
        on_enabled: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        #: Called when telemetry becomes allowed (the sync worker may send now).
        self.on_enabled = on_enabled

    def __call__(self, effect: Effect) -> None:
        if not isinstance(effect, Record) or not self._settings.telemetry_enabled:
            return
        keep_app = bool(self._settings.get("send_app_names"))
        self._outbox.append(effect if keep_app else replace(effect, app=None))

    def setting_changed(self, key: str) -> None:
        if key not in ("consent", "telemetry_mode"):
            return
        if not self._settings.telemetry_enabled:
            dropped = self._outbox.discard_pending()
            log.info("statistics turned off; %d waiting record(s) deleted", dropped)
        elif self.on_enabled is not None:
            self.on_enabled()
