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
    "audit_log",
    "bundles",
    "cohort_counts",
    "daily_rollups",
    "dashboard_sessions",
    "device_days",
    "devices",
    "enroll_tokens",
    "enrollments",
    "events",
    "exposures",
    "group_sets",
    "metadata",
    "publisher_keys",
    "report_cells",
    "rollout_log",
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
    # IANA zone whose calendar days the reports use (events are filed under them).
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    # Device approval (server/enrollment.py): 'auto' approves new devices (at most
    # approval_per_hour per token when set, the rest wait), 'manual' lets all wait.
    Column("approval", String(8), nullable=False, server_default="auto"),
    Column("approval_per_hour", Integer),
)

enroll_tokens = Table(
    "enroll_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created", Float, nullable=False),
    # The first characters (``wme_AbCd``), so a listing can name a token without its secret.
    Column("prefix", String(16)),
    # NULL: never (tokens issued before expiry existed); new ones expire.
    Column("expires", Float),
    # Devices this token may add (NULL: unlimited); re-enrolling an installation is free.
    Column("max_uses", Integer),
    Column("uses", Integer, nullable=False, server_default="0"),
    # Enrollments per rolling hour (NULL: the server's default).
    Column("per_hour", Integer),
    Column("revoked", Float),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created", Float, nullable=False),
    # When it stops working (None: never) and when it was revoked (None: it was not).
    Column("expires", Float),
    Column("revoked", Float),
)

publisher_keys = Table(
    "publisher_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("public_key", String(64), nullable=False),
    Column("created", Float, nullable=False),
    # When it was revoked: no upload signed with it is accepted, none is served.
    Column("revoked", Float),
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
    # When the device last sent telemetry (to the hour): retention forgets the idle.
    Column("last_seen", Float),
    # When an admin revoked it: its secret is refused from the next request on.
    Column("revoked", Float),
    # sha256 of the agent's installation id: re-enrolling it replaces this device.
    Column("installation", String(64)),
    # 'approved' or 'pending' (pending devices may not send telemetry).
    Column("approval", String(16), nullable=False, server_default="approved"),
    # When the device first counted in the reports (approved, active on two local
    # days); until then its events are kept with group_set_id NULL, outside the rollups.
    Column("counted_since", Float),
    # The enroll_tokens id that added the device (no foreign key: SQLite would have
    # to rebuild the devices table, which the events reference, to add one).
    Column("enroll_token_id", Integer),
    Index("uq_devices_tenant_installation", "tenant_id", "installation", unique=True),
)

enrollments = Table(
    "enrollments",
    metadata,
    # Every accepted enrollment: what the per-token rate, the auto-approval quota and
    # the burst notice count.  No address, no name: token, device, outcome, time.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("token_id", Integer, ForeignKey("enroll_tokens.id"), nullable=False),
    Column("at", Float, nullable=False),
    Column("device_id", String(36), nullable=False),
    # new (approved) | pending | replaced
    Column("outcome", String(16), nullable=False),
    Index("ix_enrollments_token_at", "token_id", "at"),
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
    # The device's group set when it sent the event: the rollup cell it counted in.
    Column("group_set_id", Integer),
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

# ---------------------------------------------------------------- analytics
#
# The report reads these, never the raw events: they are kept up to date in the
# transaction that stores each batch (server.rollup_store), from the rows that
# were new, so a resend never counts twice.  Text keys are '' rather than NULL,
# because NULLs never conflict in a unique index and the upserts rely on it.

group_sets = Table(
    "group_sets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    # sha256 of the canonical JSON list, so the unique key stays short.
    Column("digest", String(64), nullable=False),
    Column("groups", Text, nullable=False),
    UniqueConstraint("tenant_id", "digest", name="uq_group_sets_tenant_digest"),
)

report_cells = Table(
    "report_cells",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("pack_id", String(128), nullable=False),
    Column("habit", String(128), nullable=False),
    # A rule id, '' for habit-level adoptions, '*' for a habit's total over its rules.
    Column("rule", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reason", String(64), nullable=False),
    UniqueConstraint(
        "tenant_id", "pack_id", "habit", "rule", "kind", "reason", name="uq_report_cells_key"
    ),
)

daily_rollups = Table(
    "daily_rollups",
    metadata,
    Column("cell_id", Integer, ForeignKey("report_cells.id"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("group_set_id", Integer, ForeignKey("group_sets.id"), primary_key=True),
    # Concurrent writers add to different rows of a cell (a report sums them), so
    # they never wait for each other's lock on it; old days are merged into shard 0.
    Column("shard", Integer, primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("events", BigInteger, nullable=False),
    # Distinct devices; a device is counted in the group set it had when first seen.
    Column("devices", Integer, nullable=False),
    Index("ix_daily_rollups_tenant_day", "tenant_id", "day"),
)

device_days = Table(
    "device_days",
    metadata,
    # Which cells already counted a device on a day: what makes `devices` exact.
    # One row per device and day, the cells as "cell:group set" pairs (the group
    # set it was counted in, for erasure).  Kept only as long as the raw events.
    Column("day", String(10), primary_key=True),
    Column("device_id", String(36), ForeignKey("devices.id"), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("cells", Text, nullable=False),
)

exposures = Table(
    "exposures",
    metadata,
    # One row per device and habit: the arm of its first trigger and what followed.
    Column("device_id", String(36), ForeignKey("devices.id"), primary_key=True),
    Column("habit", String(128), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("pack_id", String(128), nullable=False),
    Column("arm", String(16), nullable=False),
    Column("first_t", Float, nullable=False),
    # The Monday (tenant time) of the week of the first trigger: the cohort.
    Column("first_week", String(10), nullable=False),
    Column("group_set_id", Integer, ForeignKey("group_sets.id"), nullable=False),
    Column("shown_t", Float),
    Column("adopted_t", Float),
    Index("ix_exposures_tenant_week", "tenant_id", "first_week"),
)

cohort_counts = Table(
    "cohort_counts",
    metadata,
    # The exposures counted without device ids: what the lift reads.  Devices
    # forgotten for inactivity stay counted, so a closed cohort does not change.
    Column("tenant_id", Integer, ForeignKey("tenants.id"), primary_key=True),
    Column("pack_id", String(128), primary_key=True),
    Column("habit", String(128), primary_key=True),
    Column("first_week", String(10), primary_key=True),
    Column("group_set_id", Integer, ForeignKey("group_sets.id"), primary_key=True),
    Column("arm", String(16), primary_key=True),
    # Whole days from the first trigger to the first toast / adoption (at most 90); -1: not.
    Column("shown_days", Integer, primary_key=True),
    Column("adopted_days", Integer, primary_key=True),
    # As for daily_rollups: concurrent writers add to different rows; a report sums.
    Column("shard", Integer, primary_key=True),
    Column("devices", Integer, nullable=False),
)

rollout_log = Table(
    "rollout_log",
    metadata,
    # Every upload, rollout change and rollback: the version markers of the charts.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("at", Float, nullable=False),
    Column("pack_id", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("rollout", Integer, nullable=False),
    Column("groups", Text),
)

audit_log = Table(
    "audit_log",
    metadata,
    # What was erased or purged, when and by whom: counts, never a device id.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id")),
    Column("at", Float, nullable=False),
    Column("action", String(32), nullable=False),
    # "cli", "retention", or "token:<id>" (the admin token's row id, never the token).
    Column("actor", String(32), nullable=False),
    # What was acted on: a token id, a key id, a pack version, a device id (never for erasure).
    Column("object_id", String(160)),
    Column("detail", Text, nullable=False),
)

dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    # A signed-in dashboard: the cookie carries a random id, stored only as sha256.
    Column("id_hash", String(64), primary_key=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id"), nullable=False),
    Column("admin_token_id", Integer, ForeignKey("admin_tokens.id"), nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False),
    # The per-session token every dashboard form posts back (CSRF).
    Column("csrf", String(64), nullable=False),
    Index("ix_dashboard_sessions_admin_token", "admin_token_id"),
)
