"""The console of IOC operators and agencies, on the backend's port under `/console/`: its routes,
middlewares (sessions, expiry, CSRF, pages for errors), templates and static files.

Its routes sit on the backend's own router rather than in a sub-application: aiohttp 3.9 resolves
sub-applications through `request.url`, which the yarl of the lock refuses to build from a Host
with a port. So its middlewares leave every other path alone, and the parent's Open311 middleware,
which still wraps them, never sees a console error: each is answered here as a page.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware
from aiohttp_security import authorized_userid
from aiohttp_session import Session

from bot import photos
from bot.settings import Settings

from ..appkeys import SESSIONS
from . import admin, admin_client, security, views
from .accounts import Identity
from .keys import LIMITS, TEMPLATES, TILE_ATTRIBUTION, TILE_URL

HERE = Path(__file__).resolve().parent
PREFIX = "/console/"
# A state change carries one photo of the work done (the citizens' limit) with its form.
MAX_FORM_WITH_PHOTO = photos.MAX_PHOTO_BYTES + 64 * 1024
_ERROR_TEXTS = {
    403: "Bạn không có quyền xem hoặc thay đổi nội dung này.",
    404: "Không tìm thấy trang này.",
    405: "Thao tác không hợp lệ.",
    413: "Dữ liệu gửi lên quá lớn (ảnh tối đa 10 MB).",
}


def setup(app: web.Application, settings: Settings) -> None:
    """The console's routes and middlewares on `app`, the backend."""
    security.setup(app, settings, lambda: app[SESSIONS], _in_console)
    app.middlewares.append(_pages(settings))
    app[LIMITS] = security.LoginLimits()
    app[TILE_URL] = settings.map_tile_url or ""
    app[TILE_ATTRIBUTION] = settings.map_tile_attribution
    app.cleanup_ctx.append(admin_client.http_session)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), app_key=TEMPLATES)
    add = app.router
    add.add_get(PREFIX.rstrip("/"), _to_console)
    add.add_get(PREFIX, views.reports, name="console.reports")
    add.add_get(f"{PREFIX}login", views.login_page, name="console.login")
    add.add_post(f"{PREFIX}login", views.login)
    add.add_post(f"{PREFIX}logout", views.logout, name="console.logout")
    add.add_get(f"{PREFIX}reports/{{code}}", views.report_page, name="console.report")
    add.add_post(f"{PREFIX}reports/{{code}}/state", views.move, name="console.move")
    add.add_post(f"{PREFIX}reports/{{code}}/reassign", views.reassign_report, name="console.reassign")
    admin.add_routes(add)
    add.add_static(f"{PREFIX}static/", HERE / "static", name="console.static")


def _in_console(request: web.Request) -> bool:
    return request.path.startswith(PREFIX)


async def _to_console(request: web.Request) -> web.Response:
    raise web.HTTPFound(PREFIX)


def _pages(settings: Settings) -> Middleware:
    idle_s = settings.console_idle_minutes * 60
    tiles = urlsplit(settings.map_tile_url or "")
    media = urlsplit(settings.effective_backend_public_url)
    images = " ".join(f"{p.scheme}://{p.netloc}" for p in (tiles, media) if p.netloc)
    policy = (f"default-src 'self'; img-src 'self' data: blob: {images}; style-src 'self'; script-src 'self'; "
              "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")

    @web.middleware
    async def pages(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _in_console(request) or request.path.startswith(f"{PREFIX}static/"):
            return await handler(request)
        session = await security.fresh_session(request, idle_s)
        try:
            if request.method == "POST":
                request = await _checked_post(request, session)
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = await _error_page(request, exc)
        response.headers.update({
            "Content-Security-Policy": policy, "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
        })
        return response

    return pages


async def _checked_post(request: web.Request, session: Session) -> web.Request:
    """The request to hand on, once its form carries the session's CSRF token; signed-in people
    may send a photo with it (the backend's forms are otherwise small)."""
    if isinstance(await authorized_userid(request), Identity):
        request = request.clone(client_max_size=MAX_FORM_WITH_PHOTO)
    try:
        form = await request.post()
    # aiohttp's complaints about a body it cannot parse (a broken multipart, bytes not UTF-8).
    except (ValueError, AssertionError, LookupError, HttpProcessingError) as exc:
        raise web.HTTPBadRequest(text="Biểu mẫu gửi lên không đọc được.") from exc
    if not security.csrf_valid(session, form.get(security.CSRF_FIELD)):
        # Mostly a form left open past the session's expiry: say so rather than only "forbidden".
        raise web.HTTPForbidden(text="Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và thử lại.")
    return request


async def _error_page(request: web.Request, exc: web.HTTPException) -> web.Response:
    text = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
    message = text or _ERROR_TEXTS.get(exc.status, "Yêu cầu không hợp lệ.")
    return await views.render(request, "error.html", {"message": message, "status": exc.status}, exc.status)
