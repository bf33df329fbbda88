"""The routing backend's aiohttp application."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.area import load_area
from bot.settings import Settings, SettingsError

from . import api, db
from .appkeys import AREA, DIRECTORY, MEDIA, SESSIONS, SETTINGS
from .directory import Directory, load_directory
from .errors import logged_path, open311_errors
from .media import MediaStore


class AccessLogger(AbstractAccessLogger):
    """One line a request, its path as `logged_path` gives it."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.0fms [%s]", request.method, logged_path(request), response.status, time * 1000,
            response.headers.get("X-Request-Id", "-"),
        )


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = db.create_engine(app[SETTINGS].effective_database_url)
    try:
        await db.migrate(engine)
        app[SESSIONS] = db.session_factory(engine)
        yield
    finally:
        await engine.dispose()


def check_agency_keys(settings: Settings, directory: Directory) -> None:
    """SettingsError naming the first BACKEND_AGENCY_KEYS entry whose agency is not in the
    directory: its key would open nothing, and nobody would know."""
    known = directory.agency_ids()
    for number, (agency, _key) in enumerate(settings.backend_agency_keys, 1):
        if agency not in known:
            raise SettingsError(
                f"BACKEND_AGENCY_KEYS entry {number} names unknown agency id {agency!r} "
                "(see the ids of backend/data/agencies.yml)"
            )


def create_app(settings: Settings) -> web.Application:
    directory = load_directory()
    check_agency_keys(settings, directory)
    app = web.Application(middlewares=[open311_errors])
    app[SETTINGS] = settings
    app[AREA] = load_area()
    app[DIRECTORY] = directory
    app[MEDIA] = MediaStore(settings.media_dir, settings.effective_backend_public_url)
    app.cleanup_ctx.append(_database)
    app.add_routes(api.routes())
    return app
