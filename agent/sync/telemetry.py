"""The telemetry gate: which records enter the outbox, and what they keep.

It listens to the engine's effects.  A record is stored only while telemetry
may be sent (the person agreed, or policy set the organisation-notice mode);
its ``app`` is removed unless policy sets ``send_app_names``.  When telemetry
is turned off, the records still waiting are deleted: saying no also covers
what was not sent yet.

A rule that reacts to the agent's ``start`` and is held back for good
(``rule_total_cap``, ``never``) would add a "held back" record at every
restart — about the agent's life, not the person's habits — so that record
is not kept (the engine still decides it; replay and ``--json`` still show it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Final

from agent.config.settings import SettingsStore
from agent.rules.effects import Effect
from agent.rules.records import Record
from agent.sync.outbox import Outbox

__all__ = ["SPENT_REASONS", "TelemetryGate"]

log = logging.getLogger(__name__)

#: Suppression reasons after which a rule is never shown again.
SPENT_REASONS: Final = frozenset({"rule_total_cap", "never"})


class TelemetryGate:
    """Effect listener (engine thread) and settings subscriber (any thread)."""

    def __init__(
        self,
        settings: SettingsStore,
        outbox: Outbox,
        on_enabled: Callable[[], None] | None = None,
        start_rules: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        #: The ids of the running pack's rules that react to ``start``.
        self._start_rules = start_rules
        #: Called when telemetry becomes allowed (the sync worker may send now).
        self.on_enabled = on_enabled

    def __call__(self, effect: Effect) -> None:
        if not isinstance(effect, Record) or not self._settings.telemetry_enabled:
            return
        if (
            effect.kind == "suppressed"
            and effect.reason in SPENT_REASONS
            and effect.rule in self._start_rules()
        ):
            return  # a spent start-rule, again at a restart: nothing new to tell
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
