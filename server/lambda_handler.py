"""AWS Lambda entry point (installers/server/template.yaml): the app behind Mangum.

The database URL comes from ``WAYMARK_SERVER_DB``; migrations run in the
separate ``migrate`` function after a deploy, never during a cold start.
"""

from __future__ import annotations

import os
from typing import Any

from mangum import Mangum

from server.app import create_app
from server.db import make_engine, migration_state, upgrade
from server.settings import ServerSettings
from server.store import Store

__all__ = ["handler", "migrate"]

_engine = make_engine(os.environ["WAYMARK_SERVER_DB"])
_app = create_app(
    Store(_engine),
    ServerSettings(rate_per_second=float(os.environ.get("WAYMARK_RATE_PER_SECOND", "2"))),
)
handler: Any = Mangum(_app, lifespan="off")


def migrate(_event: object, _context: object) -> dict[str, str]:
    """The Migrate function: upgrade the schema in place (run once after a deploy)."""
    before = migration_state(_engine)
    upgrade(_engine)
    return {"before": before, "after": migration_state(_engine)}
