"""The routing backend's aiohttp application."""
from __future__ import annotations

from typing import AsyncIterator

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.area import load_area
from bot.settings import Settings

from . import api, db
from .appkeys import AREA, DIRECTORY, MEDIA, SESSIONS, SETTINGS
from .directory import load_directory
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


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[open311_errors])
    app[SETTINGS] = settings
    app[AREA] = load_area()
    app[DIRECTORY] = load_directory()
    app[MEDIA] = MediaStore(settings.media_dir, settings.effective_backend_public_url)
    app.cleanup_ctx.append(_database)
    app.add_routes(api.routes())
    return app
