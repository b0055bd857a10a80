"""What the desktop UI needs from the running agent, as Protocols.

The UI is typed against these and never against :class:`agent.app.AgentCore`,
so tests can hand it a fake core and the UI never reaches into engine state.
Every method here is safe to call from the Qt main thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from agent.config.options import LockedWhen, Option
from agent.events import InputEvent
from agent.hooks.base import SourceState
from agent.rules.effects import Effect
from agent.rules.model import Pack
from agent.rules.records import WireRecord

__all__ = ["CoreLike", "OutboxLike", "SettingsLike"]


class SettingsLike(Protocol):
    """The slice of :class:`agent.config.settings.SettingsStore` the UI uses."""

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...

    def set_internal(self, key: str, value: Any) -> None: ...

    def is_managed(self, key: str) -> bool: ...

    def locked_by(self, key: str) -> LockedWhen | None: ...

    @property
    def organisation(self) -> str | None: ...

    def subscribe(self, callback: Callable[[str], None]) -> None: ...

    def options(self) -> list[Option]: ...

    @property
    def telemetry_enabled(self) -> bool: ...


class OutboxLike(Protocol):
    def pending(self, limit: int = 200) -> Sequence[WireRecord]: ...

    def recent_sent(self, limit: int = 200) -> Sequence[WireRecord]: ...


class CoreLike(Protocol):
    """The running agent as the UI sees it (implemented by ``agent.app.AgentCore``)."""

    @property
    def settings(self) -> SettingsLike: ...

    @property
    def outbox(self) -> OutboxLike: ...

    @property
    def last_sync(self) -> float | None: ...

    @property
    def server_url(self) -> str | None: ...

    @property
    def sync_problem(self) -> str | None:
        """Why the last sync round failed (None when it worked or there is no server)."""

    def post(self, event: InputEvent) -> None:
        """Hand an event (Action, Pause …) to the engine; thread-safe, never blocks."""

    def add_effect_listener(self, callback: Callable[[Effect], None]) -> None:
        """``callback`` runs on the engine thread for every effect."""

    def pack_info(self) -> tuple[str, int] | None: ...

    def running_pack(self) -> Pack | None:
        """The coaching pack in use (its tip titles, languages and apps), if known."""

    def recent_apps(self) -> list[str]:
        """Apps recently in front, as OS identifiers, newest first (may be empty)."""

    def source_states(self) -> list[SourceState]: ...

    def reset_never(self) -> None: ...
