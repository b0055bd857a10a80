"""Managed policy takes effect without a restart: the wired agent follows its policy file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.app import AgentCore, AgentOptions
from agent.events import Chord, Focus
from agent.rules.effects import Effect
from agent.rules.records import Record
from devtools.live_server import running_server
from server.cli import open_store
from server.settings import ServerSettings
from tests.fakes import MemoryCredentials
from tests.xserver import wait_for

PACK = """\
waymark: 1
id: policy-pack
version: 1
title: Policy
apps:
  editor: {linux: [gedit]}
rules:
  - id: paste
    when: {event: chord, app: editor, chord: ctrl+v}
    toast: {title: {en: Paste plain}}
"""


@pytest.fixture
def policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "policy.json"
    path.write_text("{}", encoding="utf-8")
    monkeypatch.setenv("WAYMARK_POLICY_FILE", str(path))
    return path


def _core(tmp_path: Path, creds: MemoryCredentials | None = None) -> AgentCore:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    return AgentCore(
        AgentOptions(
            pack_path=pack, data_dir=tmp_path / "data", hooks=False, watch_every=0.05,
            sync_every=0.1, credentials=creds or MemoryCredentials(),
        )
    )  # fmt: skip


def _paste(core: AgentCore, seen: list[Effect]) -> Record:
    start = len(seen)
    now = core.clock.now()
    core.post(Focus(now, "gedit", "notes"))
    core.post(Chord(now, "ctrl+v"))
    assert core.wait_idle()
    return next(r for r in seen[start:] if isinstance(r, Record) and r.rule == "paste")


def _write(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    tmp.replace(path)  # an admin's tool writes the whole file at once


@pytest.mark.allow_log("policy changed but cannot be used")
def test_never_interrupt_from_policy_applies_at_once_and_a_broken_file_keeps_it(
    tmp_path: Path, policy_file: Path
) -> None:
    core = _core(tmp_path)
    seen: list[Effect] = []
    core.add_effect_listener(seen.append)
    core.start()
    try:
        assert _paste(core, seen).kind == "shown"
        _write(policy_file, {"never_interrupt": ["GEDIT"], "organisation": "Acme"})
        wait_for(lambda: core.settings.get("never_interrupt") == ["GEDIT"], 10, "the new policy")
        assert core.settings.is_managed("never_interrupt")
        record = _paste(core, seen)
        assert (record.kind, record.reason) == ("suppressed", "quiet")
        _write(policy_file, '{"never_interrupt": [')  # half-written by a careless tool
        wait_for(lambda: core.policy_problem, 10, "the broken policy to be noticed")
        assert "invalid JSON" in core.policy_problem
        assert core.settings.get("never_interrupt") == ["GEDIT"]  # the last good one
        assert _paste(core, seen).reason == "quiet"
        _write(policy_file, {})
        wait_for(lambda: not core.settings.is_managed("never_interrupt"), 10, "policy removed")
        assert core.policy_problem == ""
        assert _paste(core, seen).kind == "shown"
    finally:
        core.stop()


def test_a_server_url_set_by_policy_starts_sync_without_a_restart(
    tmp_path: Path, policy_file: Path
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'server.db'}")
    tenant = store.create_tenant("acme")
    creds = MemoryCredentials()
    core = _core(tmp_path, creds)
    seen: list[Effect] = []
    core.add_effect_listener(seen.append)
    with running_server(store, ServerSettings(rate_per_second=100)) as srv:
        core.start()
        try:
            assert core.sync_status() is None  # no server yet: no sync
            policy = {"server_url": srv.url, "enroll_token": store.add_enroll_token(tenant),
                      "telemetry_mode": "org-notice"}  # fmt: skip
            _write(policy_file, policy)
            wait_for(lambda: creds.saves == 1, 10, "enrollment after the policy change")
            _paste(core, seen)
            wait_for(lambda: core.outbox.count_pending() == 0 and core.last_sync, 10, "a sync")
        finally:
            core.stop()
    store.engine.dispose()
