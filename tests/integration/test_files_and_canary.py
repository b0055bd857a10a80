"""File triggers on real inotify, and the privacy canary through the whole wired agent.

The canary test runs the real agent (AgentCore with its desktop sources on
Xvfb, the AT-SPI source on a private accessibility bus, the file source on
temporary well-known folders) against the real server on 127.0.0.1.  It types
one canary into a watched app's text field and names a file with another, and
then looks for both in every event and record the engine saw, every log
record, every file of the agent's data folder (SQLite ``-wal`` files and rows
included) and the server's database.  tests/unit/test_canary_helper.py shows
that the search finds a canary planted on purpose.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.app import AgentCore, AgentOptions
from agent.config.policy import Policy
from agent.events import FileSaved, InputEvent
from agent.hooks.base import Emitter
from agent.hooks.files import FileSource
from agent.rules.effects import Effect
from agent.rules.loader import load_pack_text
from agent.rules.records import Record
from agent.rules.watchlist import Watchlist
from devtools.live_server import running_server
from server.cli import open_store
from server.settings import ServerSettings
from tests.a11y_session import a11y_session
from tests.fakes import MemoryCredentials
from tests.helpers.canary import places_with
from tests.xserver import XServer, wait_for, xdotool

FILE_PACK = """\
waymark: 1
id: files
version: 1
title: Files
rules:
  - id: deck-on-desktop
    when: {event: file, folder: [desktop, downloads], type: [presentation, document]}
    adopted: {event: file, folder: synced}
    toast: {title: {en: Move it to the synced folder}}
  - id: big-download
    when: {event: file, folder: downloads, size_at_least: 1MB}
    toast: {title: {en: A big download}}
"""


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    out = {alias: tmp_path / alias.title() for alias in ("desktop", "downloads", "synced")}
    for folder in out.values():
        folder.mkdir()
    return out


@pytest.fixture
def saved(folders: dict[str, Path]) -> Iterator[queue.Queue[InputEvent]]:
    q: queue.Queue[InputEvent] = queue.Queue()
    source = FileSource(folders, Watchlist(load_pack_text(FILE_PACK), "linux"), debounce=0.2)
    source.start(Emitter(q))
    yield q
    source.stop()


def _next(q: queue.Queue[InputEvent], timeout: float = 10.0) -> InputEvent:
    return q.get(timeout=timeout)


def test_a_save_counts_once_and_temporary_files_never(
    folders: dict[str, Path], saved: queue.Queue[InputEvent]
) -> None:
    desktop = folders["desktop"]
    (desktop / "~$Quarterly.pptx").write_bytes(b"owner file")  # Office's lock file
    (desktop / ".~lock.Quarterly.odp#").write_bytes(b"lock")
    temp = desktop / "Quarterly.pptx.tmp"  # the app writes a temp file, then renames it
    with temp.open("wb") as f:
        for _ in range(5):
            f.write(b"x" * 10_000)
            f.flush()
    temp.rename(desktop / "Quarterly.pptx")
    event = _next(saved)
    assert event == FileSaved(event.t, "desktop", "presentation", 0)
    download = folders["downloads"] / "setup.zip.crdownload"
    download.write_bytes(b"z" * 2_000_000)
    download.rename(folders["downloads"] / "setup.zip")
    big = _next(saved)
    assert big == FileSaved(big.t, "downloads", "archive", 1_000_000)
    (folders["synced"] / "Quarterly.pptx").write_bytes(b"moved")
    moved = _next(saved)
    assert moved == FileSaved(moved.t, "synced", "presentation", 0)
    assert saved.empty()  # nothing for the lock, owner and temporary files


PACK = """\
waymark: 1
id: mail-habits
version: 1
title: Mail habits
apps:
  mail: {linux: [mailapp]}
rules:
  - id: attach-link
    when: {event: element, app: mail, on: invoke, element: {role: button, name: Attach File}}
    toast: {title: {en: Share a link instead}}
  - id: subject-field
    when: {event: element, app: mail, on: focus, element: {role: edit}}
    toast: {title: {en: Write a clear subject}}
  - id: deck-on-desktop
    when: {event: file, folder: desktop}
    toast: {title: {en: Move it to the synced folder}}
"""


@pytest.mark.x11
@pytest.mark.allow_log(r"source lock unavailable")
def test_typed_text_and_file_names_reach_no_event_record_log_file_or_server_row(
    xserver: XServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    typed, file_canary = "Wombat-typed-5521", "Narwhal-file-7740"
    home = tmp_path / "home"
    (home / "Desktop").mkdir(parents=True)
    data_dir = tmp_path / "data"
    pack_file = tmp_path / "pack.yaml"
    pack_file.write_text(PACK, encoding="utf-8")
    (tmp_path / "server").mkdir()
    store = open_store(f"sqlite:///{tmp_path / 'server' / 'server.db'}")
    tenant = store.create_tenant("acme")
    caplog.set_level(logging.DEBUG)
    seen: list[Effect] = []
    with (
        a11y_session(xserver) as session,
        running_server(store, ServerSettings(rate_per_second=100)) as srv,
    ):
        for key, value in {**session.env, "HOME": str(home)}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
        policy = Policy(
            {
                "server_url": srv.url,
                "enroll_token": store.add_enroll_token(tenant),
                "telemetry_mode": "org-notice",
                "publisher_keys": [],
            },
            "test",
        )
        core = AgentCore(
            AgentOptions(
                pack_path=pack_file, data_dir=data_dir, policy=policy, sync_every=0.2,
                credentials=MemoryCredentials(),
            )
        )  # fmt: skip
        core.add_effect_listener(seen.append)
        core.start()
        try:
            mail = session.app("mailapp", "Inbox - Mail")
            mail.activate()
            mail.click("subject")
            xdotool(xserver, "type", "--delay", "5", typed)
            mail.click("attach")
            (home / "Desktop" / f"{file_canary} budget.docx").write_bytes(b"a document")
            shown = {"attach-link", "subject-field", "deck-on-desktop"}
            wait_for(lambda: shown <= _shown(seen), 20, "the three rules")
            wait_for(
                lambda: core.outbox.count_pending() == 0, 20, "the records to reach the server"
            )
        finally:
            core.stop()
    store.engine.dispose()
    needles = [typed, file_canary, "wombat", "narwhal", "budget.docx"]
    assert not [e for e in seen if any(n.lower() in repr(e).lower() for n in needles)]
    logged = [f"{r.name}: {r.getMessage()}" for r in caplog.records]
    assert not [line for line in logged if any(n.lower() in line.lower() for n in needles)]
    assert places_with(data_dir, needles) == []
    assert places_with(tmp_path / "server", needles) == []


def _shown(effects: list[Effect]) -> set[str | None]:
    return {r.rule for r in effects if isinstance(r, Record) and r.kind == "shown"}
