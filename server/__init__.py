"""Waymark reference backend (installed with the ``server`` extra)."""

from server.app import ApiError, ServerSettings, create_app
from server.store import Store

__all__ = ["ApiError", "ServerSettings", "Store", "create_app"]
