"""The database schema, in SQLAlchemy Core (one schema for SQLite and PostgreSQL).

Every row belongs to a tenant.  Secrets (enrollment tokens, admin tokens,
device secrets) are stored only as sha256 hex of a random 256-bit token, and
looked up by that hash.  The columns of an event's own fields come from the
wire table (agent.rules.records); the Alembic migrations in
``server/migrations`` build exactly this schema, and a test compares them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

from agent.rules.records import WIRE_FIELDS, WireField

__all__ = [
    "admin_tokens",
    "bundles",
    "devices",
    "enroll_tokens",
    "events",
    "metadata",
    "publisher_keys",
    "tenants",
]

metadata = MetaData()


#: The SQL type of a wire field by its Python type; text is as wide as its limit.
_SQL_TYPES: Final[dict[type, Callable[[WireField], TypeEngine[Any]]]] = {
    str: lambda f: String(f.kind.max_length),
    int: lambda f: Integer(),
    float: lambda f: Float(),
}


def _wire_column(f: WireField) -> Column[Any]:
    """An event column for a field of the wire table: its type, width and nullability."""
    return Column(f.name, _SQL_TYPES[f.python_type](f), nullable=not f.required)


tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)

enroll_tokens = Table(
    "enroll_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created", Float, nullable=False),
)

publisher_keys = Table(
    "publisher_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("created", Float, nullable=False),
    UniqueConstraint("tenant_id", "key_id", name="uq_publisher_keys_tenant_key"),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("ring", Integer, nullable=False),
    Column("groups", Text, nullable=False),
    Column("os", String(16), nullable=False),
    Column("agent_version", String(32), nullable=False),
    Column("created", Float, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("device_id", String(36), ForeignKey("devices.id"), nullable=False),
    *(_wire_column(f) for f in WIRE_FIELDS),
    Column("day", String(10), nullable=False),
    Column("received", Float, nullable=False),
    UniqueConstraint("device_id", "uuid", name="uq_events_device_uuid"),
    Index("ix_events_tenant_day", "tenant_id", "day"),
)

bundles = Table(
    "bundles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("pack_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    Column("uploaded", Float, nullable=False),
    Column("rollout", Integer, nullable=False),
    Column("groups", Text),
    Column("withdrawn", Integer, nullable=False, server_default="0"),
    UniqueConstraint("tenant_id", "pack_id", "version", name="uq_bundles_tenant_pack_version"),
)
