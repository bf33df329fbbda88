"""`python -m bot.admin.server`, started by `make run`: the admins' operations over HTTP on
HOST:ADMIN_PORT, for the console's admin section (`backend/console/`), which may not import them.

Every route but `GET /health` and `GET /metrics` (Prometheus; 404 through a proxy) needs
`Authorization: Bearer <ADMIN_API_TOKEN>` (the service refuses to start without one), and every
POST names who acts in `X-Admin-User`, for the audit log. No CORS:
only the console's server calls it, never a browser. Answers are JSON; what cannot be done is
`{"error": "<Vietnamese message>"}` with the AdminError's status. Every SCAN_INTERVAL_S (and before
each inbox read) the tracker store is scanned, so that the inbox shows what citizens just said.
"""
from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
import os
import sys
from argparse import ArgumentTypeError
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Optional

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot import metrics
from bot.admin import audit, dashboard, inbox, labels, models, retrain
from bot.admin.cli import bounded, require_job
from bot.admin.errors import AdminError
from bot.settings import Settings, SettingsError, start_process

logger = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
SCAN_LOCK = web.AppKey("scan_lock", asyncio.Lock)

SCAN_INTERVAL_S = 30.0
# A label or discard names groups by key; a few hundred keys fit many times over.
MAX_JSON_BODY = 128 * 1024
MAX_WHO_CHARS = 100
PUBLIC_PATHS = ("/health", "/metrics")  # /metrics: refused through a proxy, like every process's

# aiohttp's own refusals, said in the admins' language.
_HTTP_MESSAGES = {
    404: "Không tìm thấy.",
    405: "Phương thức không được hỗ trợ.",
    413: "Dữ liệu gửi lên quá lớn.",
}
UNAUTHORIZED = "Thiếu hoặc sai mã truy cập của dịch vụ quản trị."
NO_WHO = "Thiếu người thực hiện (tiêu đề X-Admin-User)."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_dumps = functools.partial(json.dumps, ensure_ascii=False)


class AccessLogger(AbstractAccessLogger):
    """One line a request: method, path (no query, no headers: the token stays out), status, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.0fms", request.method, request.rel_url.raw_path, response.status,
                         time * 1000)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


@web.middleware
async def admin_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """AdminError and aiohttp's refusals as `{"error"}` with their status; anything else is a bug
    or an outage, logged with its cause and answered 500."""
    try:
        return await handler(request)
    except AdminError as exc:
        # Not the message: it may quote what a citizen wrote (a group's key).
        logger.info("refused %s %s: %s", request.method, request.rel_url.raw_path, exc.status)
        return _error(exc.status, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, _HTTP_MESSAGES.get(exc.status, "Yêu cầu không hợp lệ."))
    except Exception:
        logger.exception("failed %s %s", request.method, request.rel_url.raw_path)
        return _error(500, "Lỗi hệ thống, vui lòng thử lại sau.")


def bearer_token(token: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: 401 unless the request carries `token` (compared in constant time, so that its
    characters cannot be guessed one by one from response times); 400 for a POST without who."""
    expected = token.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS and request.method == "GET":
            return await handler(request)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(errors="surrogateescape"), expected):
            response = _error(401, UNAUTHORIZED)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        if request.method == "POST":
            who_of(request)
        return await handler(request)

    return check


def who_of(request: web.Request) -> str:
    """Who acts, as the console names them: one line of printable text, for the audit log."""
    who = request.headers.get("X-Admin-User", "").strip()
    if not who or len(who) > MAX_WHO_CHARS or not who.isprintable():
        raise AdminError(NO_WHO)
    return who


async def _body(request: web.Request) -> Dict[str, Any]:
    """The JSON object posted (an empty body is `{}`); past MAX_JSON_BODY aiohttp answers 413."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise AdminError("Dữ liệu gửi lên không phải JSON hợp lệ.") from exc
    if not isinstance(body, dict):
        raise AdminError("Dữ liệu gửi lên phải là một đối tượng JSON.")
    return body


def _text(body: Dict[str, Any], name: str) -> Optional[str]:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise AdminError(f"Trường {name} phải là chuỗi.")
    return value or None


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    try:
        return bounded(name)(raw)
    except ArgumentTypeError as exc:
        raise AdminError(f"Tham số {exc}.") from exc


async def scan_inbox(app: web.Application) -> None:
    """Brings the inbox up to date with the tracker store, one scan at a time. A failure is
    logged and leaves the inbox as it was: the admins still see what was already collected."""
    async with app[SCAN_LOCK]:
        try:
            added = await asyncio.to_thread(inbox.scan, app[SETTINGS])
        except Exception:
            logger.exception("inbox: scanning the tracker store failed")
            return
    if added:
        logger.info("inbox: %d new messages", added)


async def _inbox_scanner(app: web.Application) -> AsyncIterator[None]:
    async def scan_forever() -> None:
        while True:
            await scan_inbox(app)
            await asyncio.sleep(SCAN_INTERVAL_S)

    task = asyncio.create_task(scan_forever())
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def health(request: web.Request) -> web.Response:
    return _json({"ok": True})


async def get_inbox(request: web.Request) -> web.Response:
    await scan_inbox(request.app)
    status = request.query.get("status", "open")
    limit = _int_param(request, "limit", 100)
    offset = _int_param(request, "offset", 0)
    return _json(await asyncio.to_thread(inbox.groups, status, limit, offset))


async def get_options(request: web.Request) -> web.Response:
    return _json(await asyncio.to_thread(labels.options, request.app[SETTINGS]))


async def post_label(request: web.Request) -> web.Response:
    body = await _body(request)
    # The keys are checked where they are looked up (inbox.open_groups).
    confirm = body.get("confirm_emergency", False)
    if not isinstance(confirm, bool):
        raise AdminError("Trường confirm_emergency phải là true hoặc false.")
    result = await asyncio.to_thread(labels.label, request.app[SETTINGS], body.get("keys"), _text(body, "intent"),
                                     _text(body, "category"), _text(body, "address"), who_of(request), confirm)
    return _json(result)


async def post_discard(request: web.Request) -> web.Response:
    body = await _body(request)
    return _json(await asyncio.to_thread(inbox.discard, body.get("keys"), who_of(request)))


async def post_undo(request: web.Request) -> web.Response:
    body = await _body(request)
    return _json(await asyncio.to_thread(labels.undo, request.app[SETTINGS], body.get("keys"), who_of(request)))


async def post_retrain(request: web.Request) -> web.Response:
    await _body(request)
    return _json(await asyncio.to_thread(retrain.start, request.app[SETTINGS], who_of(request)), 202)


async def get_latest_job(request: web.Request) -> web.Response:
    return _json(await asyncio.to_thread(require_job, request.app[SETTINGS]))


async def get_job(request: web.Request) -> web.Response:
    return _json(await asyncio.to_thread(require_job, request.app[SETTINGS], int(request.match_info["id"])))


async def get_models(request: web.Request) -> web.Response:
    return _json(await asyncio.to_thread(models.history, request.app[SETTINGS]))


async def get_model_report(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    return _json(await asyncio.to_thread(models.report, request.app[SETTINGS], name))


async def post_rollback(request: web.Request) -> web.Response:
    await _body(request)
    return _json(await asyncio.to_thread(models.rollback, request.app[SETTINGS], who_of(request)))


async def post_put_live(request: web.Request) -> web.Response:
    await _body(request)
    name = request.match_info["name"]
    return _json(await asyncio.to_thread(models.put_live, request.app[SETTINGS], name, who_of(request)))


async def get_dashboard(request: web.Request) -> web.Response:
    days = _int_param(request, "days", 30)
    return _json(await asyncio.to_thread(dashboard.dashboard, request.app[SETTINGS], days))


async def get_audit(request: web.Request) -> web.Response:
    limit = _int_param(request, "limit", 100)
    return _json(await asyncio.to_thread(audit.entries, limit))


def create_app(settings: Settings) -> web.Application:
    if not settings.admin_api_token:
        raise SettingsError("ADMIN_API_TOKEN is unset: the admin service serves no one without it "
                            "(`make run` generates one for its processes)")
    app = web.Application(middlewares=[admin_errors, bearer_token(settings.admin_api_token)],
                          client_max_size=MAX_JSON_BODY)
    app[SETTINGS] = settings
    app[SCAN_LOCK] = asyncio.Lock()
    app.cleanup_ctx.append(_inbox_scanner)
    app.add_routes([
        web.get("/health", health),
        web.get("/metrics", metrics.scrape),
        web.get("/inbox", get_inbox),
        web.get("/options", get_options),
        web.post("/inbox/label", post_label),
        web.post("/inbox/discard", post_discard),
        web.post("/inbox/undo", post_undo),
        web.post("/retrain", post_retrain),
        web.get("/jobs/latest", get_latest_job),
        web.get(r"/jobs/{id:\d+}", get_job),
        web.get("/models", get_models),
        web.get("/models/{name}", get_model_report),
        web.post("/rollback", post_rollback),
        web.post("/models/{name}/live", post_put_live),
        web.get("/dashboard", get_dashboard),
        web.get("/audit", get_audit),
    ])
    return app


def main() -> None:
    settings = start_process()
    try:
        app = create_app(settings)
    except SettingsError as exc:
        sys.exit(f"error: {exc}")
    # The inbox keeps what citizens wrote: readable by this service's user only.
    os.umask(0o077)
    print(f"Admin service on http://{settings.host}:{settings.admin_port}", flush=True)
    web.run_app(app, host=settings.host, port=settings.admin_port, access_log_class=AccessLogger, print=None)


if __name__ == "__main__":
    main()
