"""Typed keys of what the console application holds."""
from __future__ import annotations

import jinja2
from aiohttp import web

from .security import LoginLimits

LIMITS = web.AppKey("console_login_limits", LoginLimits)
TILE_URL = web.AppKey("console_tile_url", str)  # "" for none: the map shows its pins alone
TILE_ATTRIBUTION = web.AppKey("console_tile_attribution", str)  # the tiles' credit, plain text
TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
