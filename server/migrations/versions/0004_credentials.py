"""Credentials: revocation of devices, admin tokens and publisher keys, admin token
expiry, the audit log's object, dashboard sessions.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("revoked", sa.Float))
    with op.batch_alter_table("admin_tokens") as batch:
        batch.add_column(sa.Column("expires", sa.Float))
        batch.add_column(sa.Column("revoked", sa.Float))
    with op.batch_alter_table("publisher_keys") as batch:
        batch.add_column(sa.Column("revoked", sa.Float))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("object_id", sa.String(160)))
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("admin_token_id", sa.Integer, sa.ForeignKey("admin_tokens.id"), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("expires", sa.Float, nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
    )
    op.create_index("ix_dashboard_sessions_admin_token", "dashboard_sessions", ["admin_token_id"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_sessions_admin_token", "dashboard_sessions")
    op.drop_table("dashboard_sessions")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("object_id")
    with op.batch_alter_table("publisher_keys") as batch:
        batch.drop_column("revoked")
    with op.batch_alter_table("admin_tokens") as batch:
        batch.drop_column("revoked")
        batch.drop_column("expires")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("revoked")
