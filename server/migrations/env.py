"""Alembic environment: always run online, on the connection server.db passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from server.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through `waymark-server migrate`, not the alembic CLI")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
