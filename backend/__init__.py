"""The project's own Open311 GeoReport v2 routing backend (see `api` for the endpoints)."""
from .app import create_app

__all__ = ["create_app"]
