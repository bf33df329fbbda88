"""Typed keys of what the backend application holds."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy.orm import sessionmaker

from bot.area import Area
from bot.settings import Settings

from .directory import Directory
from .guards import UploadLimits
from .media import MediaStore

SETTINGS = web.AppKey("settings", Settings)
AREA = web.AppKey("area", Area)
DIRECTORY = web.AppKey("directory", Directory)
MEDIA = web.AppKey("media", MediaStore)
SESSIONS = web.AppKey("sessions", sessionmaker)
UPLOADS = web.AppKey("uploads", UploadLimits)
