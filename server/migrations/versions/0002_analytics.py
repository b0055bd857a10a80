"""Analytics: tenant time zone, device last seen, rollups, exposures and cohort counts,
rollout log, audit log.

The rollups start empty: `waymark-server rollups rebuild` fills them from the
raw events a database already holds.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC")
        )
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("last_seen", sa.Float))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("group_set_id", sa.Integer))
    op.create_table(
        "group_sets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("groups", sa.Text, nullable=False),
        sa.UniqueConstraint("tenant_id", "digest", name="uq_group_sets_tenant_digest"),
    )
    op.create_table(
        "report_cells",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("pack_id", sa.String(128), nullable=False),
        sa.Column("habit", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.UniqueConstraint(
            "tenant_id", "pack_id", "habit", "rule", "kind", "reason", name="uq_report_cells_key"
        ),
    )
    op.create_table(
        "daily_rollups",
        sa.Column("cell_id", sa.Integer, sa.ForeignKey("report_cells.id"), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("group_set_id", sa.Integer, sa.ForeignKey("group_sets.id"), primary_key=True),
        sa.Column("shard", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("devices", sa.Integer, nullable=False),
    )
    op.create_index("ix_daily_rollups_tenant_day", "daily_rollups", ["tenant_id", "day"])
    op.create_table(
        "device_days",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("device_id", sa.String(36), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("cells", sa.Text, nullable=False),
    )
    op.create_table(
        "exposures",
        sa.Column("device_id", sa.String(36), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("habit", sa.String(128), primary_key=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("pack_id", sa.String(128), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("first_t", sa.Float, nullable=False),
        sa.Column("first_week", sa.String(10), nullable=False),
        sa.Column("group_set_id", sa.Integer, sa.ForeignKey("group_sets.id"), nullable=False),
        sa.Column("shown_t", sa.Float),
        sa.Column("adopted_t", sa.Float),
    )
    op.create_index("ix_exposures_tenant_week", "exposures", ["tenant_id", "first_week"])
    op.create_table(
        "cohort_counts",
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("pack_id", sa.String(128), primary_key=True),
        sa.Column("habit", sa.String(128), primary_key=True),
        sa.Column("first_week", sa.String(10), primary_key=True),
        sa.Column("group_set_id", sa.Integer, sa.ForeignKey("group_sets.id"), primary_key=True),
        sa.Column("arm", sa.String(16), primary_key=True),
        sa.Column("shown_days", sa.Integer, primary_key=True),
        sa.Column("adopted_days", sa.Integer, primary_key=True),
        sa.Column("shard", sa.Integer, primary_key=True),
        sa.Column("devices", sa.Integer, nullable=False),
    )
    op.create_table(
        "rollout_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("pack_id", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("rollout", sa.Integer, nullable=False),
        sa.Column("groups", sa.Text),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id")),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "audit_log",
        "rollout_log",
        "cohort_counts",
        "exposures",
        "device_days",
        "daily_rollups",
        "report_cells",
        "group_sets",
    ):
        op.drop_table(table)
    with op.batch_alter_table("events") as batch:
        batch.drop_column("group_set_id")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("last_seen")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("time_zone")
