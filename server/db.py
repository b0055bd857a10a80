"""Database engines and migrations: the only place that knows about URLs and dialects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

__all__ = [
    "MigrationState",
    "checkpoint",
    "default_url",
    "head_revision",
    "make_engine",
    "migration_state",
    "normalise_url",
    "upgrade",
]

MIGRATIONS = Path(__file__).parent / "migrations"
MigrationState = Literal["empty", "current", "behind", "ahead"]


def data_dir() -> Path:
    """Where the embedded SQLite database lives (WAYMARK_SERVER_DATA_DIR overrides)."""
    override = os.environ.get("WAYMARK_SERVER_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("waymark-server", appauthor=False))


def default_url() -> str:
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'waymark.db'}"


def normalise_url(url: str) -> str:
    """Map ``postgresql://`` and ``postgres://`` to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: SQLite in the data folder)."""
    real = normalise_url(url or default_url())
    if real.startswith("sqlite"):
        engine = create_engine(
            real, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=8
        )
        _sqlite_tuning(engine)
        return engine
    # No pre-ping: it costs a round trip per request; recycle instead.
    return create_engine(real, pool_size=10, max_overflow=10, pool_recycle=1800)


def _sqlite_tuning(engine: Engine) -> None:
    # WAL lets readers run beside the one writer; BEGIN IMMEDIATE takes the write
    # lock up front so two writers queue on busy_timeout instead of deadlocking.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # Deleted rows (retention, erasure) are overwritten, not left in free pages.
        cur.execute("PRAGMA secure_delete=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def checkpoint(engine: Engine) -> None:
    """Copy SQLite's write-ahead log into the database file and empty it (after an erasure,
    so deleted rows leave no copy in the -wal file); nothing to do on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return
    # On the driver's connection: SQLAlchemy's would open a transaction first, and a
    # checkpoint cannot run inside one.
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    finally:
        raw.close()


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The revision the newest migration of this code builds."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "server/migrations has no revision"
    return head


def migration_state(engine: Engine) -> MigrationState:
    """Whether the database is empty, up to date, behind or ahead of this code."""
    head = head_revision()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is None:
        return "empty"
    if current == head:
        return "current"
    known = {
        rev.revision for rev in ScriptDirectory.from_config(_alembic_config()).walk_revisions()
    }
    return "behind" if current in known else "ahead"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database in place to the newest schema (or to ``revision``)."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
