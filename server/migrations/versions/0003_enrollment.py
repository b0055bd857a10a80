"""Enrollment an employee cannot abuse: token expiry, uses and rate; installation ids;
device approval; devices counted from their second active day; the enrollments log.

Devices enrolled before this revision are approved and already counted (their
events are in the rollups); tokens issued before it never expire until revoked.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("approval", sa.String(8), nullable=False, server_default="auto"))
        batch.add_column(sa.Column("approval_per_hour", sa.Integer))
    with op.batch_alter_table("enroll_tokens") as batch:
        batch.add_column(sa.Column("prefix", sa.String(16)))
        batch.add_column(sa.Column("expires", sa.Float))
        batch.add_column(sa.Column("max_uses", sa.Integer))
        batch.add_column(sa.Column("uses", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("per_hour", sa.Integer))
        batch.add_column(sa.Column("revoked", sa.Float))
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("installation", sa.String(64)))
        batch.add_column(
            sa.Column("approval", sa.String(16), nullable=False, server_default="approved")
        )
        batch.add_column(sa.Column("counted_since", sa.Float))
        batch.add_column(sa.Column("enroll_token_id", sa.Integer))
    op.create_index(
        "uq_devices_tenant_installation", "devices", ["tenant_id", "installation"], unique=True
    )
    op.execute("UPDATE devices SET counted_since = created")
    op.create_table(
        "enrollments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("token_id", sa.Integer, sa.ForeignKey("enroll_tokens.id"), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("device_id", sa.String(36), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_enrollments_token_at", "enrollments", ["token_id", "at"])


def downgrade() -> None:
    op.drop_table("enrollments")
    op.drop_index("uq_devices_tenant_installation", "devices")
    with op.batch_alter_table("devices") as batch:
        for name in ("enroll_token_id", "counted_since", "approval", "installation"):
            batch.drop_column(name)
    with op.batch_alter_table("enroll_tokens") as batch:
        for name in ("revoked", "per_hour", "uses", "max_uses", "expires", "prefix"):
            batch.drop_column(name)
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("approval_per_hour")
        batch.drop_column("approval")
