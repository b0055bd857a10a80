"""Alembic migrations shipped inside the package (run by ``waymark-server migrate``)."""
