"""AWS Lambda entry point (installers/server/template.yaml): the app behind Mangum.

The database URL comes from ``WAYMARK_SERVER_DB``; migrations are run by the
deploy step (``waymark-server migrate``), never by a cold start.
"""

from __future__ import annotations

import os
from typing import Any

from mangum import Mangum

from server.app import ServerSettings, create_app
from server.db import make_engine
from server.store import Store

__all__ = ["handler"]

_app = create_app(
    Store(make_engine(os.environ["WAYMARK_SERVER_DB"])),
    ServerSettings(rate_per_second=float(os.environ.get("WAYMARK_RATE_PER_SECOND", "2"))),
)
handler: Any = Mangum(_app, lifespan="off")
