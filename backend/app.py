"""The routing backend's aiohttp application."""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from sqlalchemy import text

from bot.area import load_area
from bot.settings import Settings, SettingsError

from . import api, console, db, follows, monitoring, stats, stats_page
from .appkeys import AREA, DIRECTORY, MEDIA, SESSIONS, SETTINGS, UPLOADS
from .directory import Directory, load_directory
from .errors import logged_path, open311_errors
from .guards import MAX_FORM_BODY, UploadLimits, served_host
from .media import MediaStore
from .sweep import orphan_sweeper

logger = logging.getLogger(__name__)
HEALTH_TIMEOUT_S = 5


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


async def health(request: web.Request) -> web.Response:
    """200 while the database answers, else 503: what `make run` and a load balancer wait for."""
    try:
        async with request.app[SESSIONS]() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), HEALTH_TIMEOUT_S)
    # Whatever the failure: drivers raise their own errors on connect (asyncpg's are no SQLAlchemyError).
    except Exception as exc:
        logger.warning("health: the database does not answer: %s: %s", type(exc).__name__, exc)
        return web.json_response({"status": "database unreachable"}, status=503)
    return web.json_response({"status": "ok"})


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
    # A foreign Host is refused inside open311_errors, so that it gets an Open311 body too.
    app = web.Application(middlewares=[monitoring.counted, open311_errors, served_host(settings)],
                          client_max_size=MAX_FORM_BODY)
    app[SETTINGS] = settings
    app[AREA] = load_area()
    app[DIRECTORY] = directory
    app[MEDIA] = MediaStore(settings.media_dir, settings.effective_backend_public_url)
    app[UPLOADS] = UploadLimits(settings.backend_uploads_per_hour)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(orphan_sweeper)  # after the database it queries
    app.add_routes(api.routes())
    app.router.add_get("/health", health)
    monitoring.setup(app)
    stats.setup(app)
    stats_page.setup(app)
    console.setup(app, settings)
    follows.setup(app)
    return app
