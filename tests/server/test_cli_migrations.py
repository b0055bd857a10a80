"""The admin CLI and the migrations (the schema they build is the declared one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from agent.rules.bundle import key_id, public_key_text
from devtools.waiting import free_port, stop_process, wait_for
from server import cli
from server.db import make_engine, migration_state, normalise_url
from server.schema import metadata


def test_migrations_build_exactly_the_declared_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    assert migration_state(engine) == "empty"
    assert cli.main(["migrate", "--db", db_url]) == 0
    assert migration_state(engine) == "current"
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_a_database_from_a_newer_server_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert cli.main(["migrate", "--db", url]) == 0
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'fff999'"))
    engine.dispose()
    assert cli.main(["tenant", "create", "acme", "--db", url]) == 2
    assert "newer waymark-server" in capsys.readouterr().err


def test_the_admin_cli_creates_tenants_tokens_and_publisher_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAYMARK_SERVER_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["tenant", "create", "acme"]) == 0
    assert (tmp_path / "data" / "waymark.db").exists()
    assert cli.main(["tenant", "create", "acme"]) == 2
    assert cli.main(["token", "enroll", "acme"]) == 0
    assert cli.main(["token", "admin", "acme", "--role", "analyst"]) == 0
    assert cli.main(["token", "enroll", "nobody"]) == 2
    key = Ed25519PrivateKey.generate().public_key()
    pub_file = tmp_path / "publisher.pub"
    pub_file.write_text(public_key_text(key) + "\n")
    assert cli.main(["publisher-key", "add", "acme", str(pub_file)]) == 0
    assert cli.main(["publisher-key", "add", "acme", "not-a-key"]) == 2
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[1].startswith("wme_") and lines[2].startswith("wma_")
    assert f"publisher key {key_id(key)} added" in lines[3]
    assert "no tenant named 'nobody'" in out.err


def test_postgres_urls_use_psycopg_3() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_creates_the_schema_and_answers_on_loopback(tmp_path: Path, workers: int) -> None:
    port = free_port()
    env = {**os.environ, "WAYMARK_SERVER_DATA_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "server", "serve", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:

        def answers() -> bool:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).is_success
            except httpx.HTTPError:
                return False

        wait_for(answers, 60, "waymark-server serve")
        assert (tmp_path / "waymark.db").exists()
        spec = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert spec["info"]["title"] == "Waymark reference server"
    finally:
        stop_process(proc, 20)
        if proc.stderr:
            proc.stderr.close()
