"""Waymark reference backend (installed with the ``server`` extra)."""

from server.app import create_app
from server.settings import ServerSettings
from server.store import Store

__all__ = ["ServerSettings", "Store", "create_app"]
