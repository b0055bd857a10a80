"""An app factory for uvicorn's multi-process mode (``waymark-server serve --workers N``).

Each worker process builds its own engine from the environment that
``serve`` sets: ``WAYMARK_SERVER_DB``, ``WAYMARK_RATE_PER_SECOND``,
``WAYMARK_RATE_BURST``, ``WAYMARK_RETAIN_DAYS``, ``WAYMARK_ENROLL_PER_SOURCE_HOUR``,
``WAYMARK_ENROLL_SOURCE_BURST``.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from server.app import create_app
from server.db import make_engine
from server.settings import DEFAULT_RETAIN_DAYS, ServerSettings
from server.store import Store

__all__ = ["app_from_env"]


def app_from_env() -> FastAPI:
    settings = ServerSettings(
        rate_per_second=float(os.environ.get("WAYMARK_RATE_PER_SECOND", "2")),
        rate_burst=int(os.environ.get("WAYMARK_RATE_BURST", "60")),
        retain_days=int(os.environ.get("WAYMARK_RETAIN_DAYS", str(DEFAULT_RETAIN_DAYS))),
        enroll_per_source_hour=float(os.environ.get("WAYMARK_ENROLL_PER_SOURCE_HOUR", "60")),
        enroll_source_burst=int(os.environ.get("WAYMARK_ENROLL_SOURCE_BURST", "20")),
    )
    return create_app(Store(make_engine(os.environ.get("WAYMARK_SERVER_DB") or None)), settings)
