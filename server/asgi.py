"""An app factory for uvicorn's multi-process mode (``waymark-server serve --workers N``).

Each worker process builds its own engine and settings from the environment
that ``serve`` sets: ``WAYMARK_SERVER_DB`` and the variables
:func:`server.settings.settings_from_env` reads.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from server.app import create_app
from server.db import make_engine
from server.settings import settings_from_env
from server.store import Store

__all__ = ["app_from_env"]


def app_from_env() -> FastAPI:
    store = Store(make_engine(os.environ.get("WAYMARK_SERVER_DB") or None))
    return create_app(store, settings_from_env())
