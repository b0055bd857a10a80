"""The settings window without a running agent (``waymark settings`` when no
Waymark is running): the same files the agent uses, no engine thread.

Pauses and settings are written to ``settings.json`` and take effect when the
agent starts; "show hidden tips again" clears the flags in ``state.db``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from agent.config.policy import read_policy
from agent.config.settings import SettingsStore
from agent.events import InputEvent, Pause
from agent.hooks.base import SourceState
from agent.rules.effects import Effect
from agent.rules.model import Pack
from agent.sync.outbox import Outbox

__all__ = ["StandaloneCore"]


class StandaloneCore:
    """Implements :class:`agent.ui.core.CoreLike` over the data folder alone."""

    def __init__(
        self, data_dir: Path, platform: str = sys.platform, pack: Pack | None = None
    ) -> None:
        self.data_dir = data_dir
        self.pack = pack
        self.settings = SettingsStore.open(data_dir, read_policy(platform))
        self.outbox = Outbox(data_dir / "outbox.db")
        self.last_sync: float | None = None
        self.sync_problem: str | None = None  # only the running agent syncs

    @property
    def server_url(self) -> str | None:
        url = self.settings.get("server_url")
        return url if isinstance(url, str) and url else None

    def post(self, event: InputEvent) -> None:
        if isinstance(event, Pause):  # the agent reads paused_until when it starts
            self.settings.set_internal("paused_until", event.until)

    def add_effect_listener(self, callback: Callable[[Effect], None]) -> None:
        """No engine runs here, so no effect ever arrives."""

    def pack_info(self) -> tuple[str, int] | None:
        return (self.pack.id, self.pack.version) if self.pack is not None else None

    def running_pack(self) -> Pack | None:
        return self.pack

    def recent_apps(self) -> list[str]:
        return []  # only a running agent sees apps come to the front

    def source_states(self) -> list[SourceState]:
        return []

    def reset_never(self) -> None:
        from agent.rules.state import StateStore

        store = StateStore(self.data_dir / "state.db")
        try:
            for rule, state in store.load_rules().items():
                if state.never:
                    state.never = False
                    store.save_rule(rule, state)
        finally:
            store.close()

    def close(self) -> None:
        self.outbox.close()
