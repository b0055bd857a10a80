"""AWS Lambda entry point (installers/server/template.yaml): the app behind Mangum.

The database URL comes from ``WAYMARK_SERVER_DB``, the settings from the
variables :func:`server.settings.settings_from_env` reads; migrations run in the
separate ``migrate`` function after a deploy, never during a cold start.  A
Lambda has no thread that outlives a request, so retention runs in ``purge``,
which a schedule calls (hourly or daily).
"""

from __future__ import annotations

import os
from typing import Any

from mangum import Mangum

from server.app import create_app
from server.db import make_engine, migration_state, upgrade
from server.settings import settings_from_env
from server.store import Store

__all__ = ["handler", "migrate", "purge"]

_engine = make_engine(os.environ["WAYMARK_SERVER_DB"])
_settings = settings_from_env()
_app = create_app(Store(_engine), _settings)
handler: Any = Mangum(_app, lifespan="off")


def migrate(_event: object, _context: object) -> dict[str, str]:
    """The Migrate function: upgrade the schema in place (run once after a deploy)."""
    before = migration_state(_engine)
    upgrade(_engine)
    return {"before": before, "after": migration_state(_engine)}


def purge(_event: object, _context: object) -> dict[str, int]:
    """The Purge function: delete raw events past the retention period (run on a schedule)."""
    done = Store(_engine).purge(_settings.retain_days, actor="lambda")
    return {"events": done.events, "exposures_deleted": done.exposures}
