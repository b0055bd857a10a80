"""A stand-in for AgentCore that the UI tests drive: the real SettingsStore and
Outbox (SQLite), plus a record of every event the UI posted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.config.policy import Policy
from agent.config.settings import SettingsStore
from agent.events import InputEvent, Pause
from agent.hooks.base import SourceState
from agent.rules.effects import Effect, ShowToast
from agent.rules.model import Pack, Toast, ToastAction
from agent.rules.records import Record
from agent.sync.outbox import Outbox


class FakeCore:
    """Implements agent.ui.core.CoreLike; effects are injected with :meth:`emit_effect`."""

    def __init__(self, data_dir: Path, policy: dict[str, Any] | None = None) -> None:
        self.settings = SettingsStore.open(data_dir, Policy(values=policy or {}, source="test"))
        self.outbox = Outbox(data_dir / "outbox.db")
        self.posted: list[InputEvent] = []
        self.listeners: list[Callable[[Effect], None]] = []
        self.last_sync: float | None = None
        self.sync_problem: str | None = None
        self.resets = 0
        self.states = [SourceState("focus", True), SourceState("input", True)]
        self.pack: tuple[str, int] | None = ("m365-habits", 7)
        self.rules_pack: Pack | None = None
        self.recent: list[str] = []

    @property
    def server_url(self) -> str | None:
        url = self.settings.get("server_url")
        return url if isinstance(url, str) and url else None

    def post(self, event: InputEvent) -> None:
        self.posted.append(event)
        if isinstance(event, Pause):  # as AgentCore does: the pause is a setting
            self.settings.set_internal("paused_until", event.until)

    def add_effect_listener(self, callback: Callable[[Effect], None]) -> None:
        self.listeners.append(callback)

    def emit_effect(self, effect: Effect) -> None:
        for callback in self.listeners:
            callback(effect)

    def pack_info(self) -> tuple[str, int] | None:
        return self.pack

    def running_pack(self) -> Pack | None:
        return self.rules_pack

    def recent_apps(self) -> list[str]:
        return list(self.recent)

    def source_states(self) -> list[SourceState]:
        return list(self.states)

    def reset_never(self) -> None:
        self.resets += 1

    def close(self) -> None:
        self.outbox.close()


def make_toast(
    *,
    rule: str = "share-link",
    title: dict[str, str] | None = None,
    body: dict[str, str] | None = None,
    actions: tuple[ToastAction, ...] | None = None,
    snooze: tuple[float, ...] = (3600.0, 86400.0),
    timeout: float = 15.0,
    image: str | None = None,
    default_locale: str = "en",
) -> ShowToast:
    """A ShowToast like the engine sends, with the issue's example texts."""
    toast = Toast(
        title=title or {"en": "Share a link instead", "it": "Condividi un link"},
        body=body
        if body is not None
        else {
            "en": "You are attaching a 20 MB file. Links keep **one** version of the file.",
            "it": "Stai allegando un file di 20 MB. I link mantengono **una** sola versione.",
        },
        actions=actions
        if actions is not None
        else (
            ToastAction(
                "how",
                {"en": "Show me how", "it": "Mostrami come"},
                "https://intranet.example/links",
            ),
        ),
        snooze=snooze,
        timeout=timeout,
        image=image,
    )
    return ShowToast(
        t=1_700_000_000.0,
        rule=rule,
        habit="share-links",
        pack_id="m365-habits",
        pack_version=7,
        toast=toast,
        default_locale=default_locale,
    )


def record(kind: str = "shown", rule: str = "share-link", t: float = 1_700_000_000.0) -> Record:
    return Record(t=t, kind=kind, pack_id="m365-habits", pack_version=7, rule=rule,  # type: ignore[arg-type]
                  habit="share-links")  # fmt: skip


def make_pack() -> Pack:
    """A small running pack: tip titles in English, Italian and German, two apps."""
    from agent.rules.loader import load_pack_text

    return load_pack_text(
        """\
waymark: 1
id: m365-habits
version: 7
title: Habits
default_locale: en
apps:
  outlook: {windows: [outlook.exe], macos: [com.microsoft.Outlook], linux: [thunderbird]}
  teams: {windows: [ms-teams.exe], macos: [com.microsoft.teams2], linux: [teams-for-linux]}
rules:
  - id: welcome
    habit: welcome
    when: {event: start}
    limits: {max_total: 1}
    toast: {title: {en: Waymark is here to help, it: Waymark è qui per aiutarti, de: Waymark hilft}}
  - id: share-link
    habit: share-links
    when: {event: chord, app: outlook, chord: ctrl+v}
    limits: {max_total: 6}
    toast:
      title: {en: Share a link instead, it: Condividi un link, fr-CA: Partagez un lien}
      actions: [{id: how, label: {en: Show me how, it: Mostrami come}}]
""",
        "test-pack.yaml",
    )
