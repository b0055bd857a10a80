"""The dashboard's stylesheet, served from ``server/static/`` (its CSP allows no inline style)."""

from __future__ import annotations

from importlib import resources
from typing import Final

from fastapi import APIRouter
from fastapi.responses import Response

from server.dashboard import STYLESHEET

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_CSS: Final = resources.files("server").joinpath("static/dashboard.css").read_bytes()


@router.get(STYLESHEET)
def stylesheet() -> Response:
    """The stylesheet every dashboard page links to."""
    return Response(
        _CSS, media_type="text/css; charset=utf-8", headers={"Cache-Control": "max-age=3600"}
    )
