"""Open311 error bodies (`[{"code": ..., "description": ...}]`) for every failure, and request ids.

Descriptions are Vietnamese first (the assistant may show them to the citizen) and English after
" / " for integrators.
"""
from __future__ import annotations

import logging
import re
import uuid

from aiohttp import web

log = logging.getLogger(__name__)

REQUEST_ID = "request_id"
_CLEAN_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# aiohttp's own refusals (unknown route, wrong method, body too large), reworded for citizens.
_HTTP_DESCRIPTIONS = {
    404: ("Không tìm thấy.", "Not found."),
    405: ("Phương thức không được hỗ trợ.", "Method not allowed."),
    413: ("Dữ liệu gửi lên quá lớn.", "Request body too large."),
}


def logged_path(request: web.BaseRequest) -> str:
    """The path as sent, still percent-encoded: a decoded `%0a` would forge a line in the log. The
    query string is left out, since GET callers may put their api_key there."""
    return request.rel_url.raw_path


class Open311Error(Exception):
    def __init__(self, status: int, vietnamese: str, english: str) -> None:
        super().__init__(english)
        self.status = status
        self.description = f"{vietnamese} / {english}"

    def response(self) -> web.Response:
        return error_response(self.status, self.description)


def bad_request(vietnamese: str, english: str) -> Open311Error:
    return Open311Error(400, vietnamese, english)


def not_found(vietnamese: str, english: str) -> Open311Error:
    return Open311Error(404, vietnamese, english)


def error_response(status: int, description: str) -> web.Response:
    return web.json_response([{"code": status, "description": description}], status=status)


@web.middleware
async def open311_errors(request: web.Request, handler) -> web.StreamResponse:
    # A caller's id is kept so that one report can be followed across the assistant and backend.
    given = request.headers.get("X-Request-Id", "")
    request_id = given if _CLEAN_REQUEST_ID.match(given) else uuid.uuid4().hex[:12]
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except Open311Error as exc:
        log.info("refused %s %s [%s]: %s", request.method, logged_path(request), request_id, exc)
        response = exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        vietnamese, english = _HTTP_DESCRIPTIONS.get(exc.status, ("Yêu cầu không hợp lệ.", exc.reason))
        log.info("refused %s %s [%s]: %s", request.method, logged_path(request), request_id, exc.status)
        response = error_response(exc.status, f"{vietnamese} / {english}")
    except Exception:
        # Input is validated before it reaches the database, so this is our bug or an outage.
        log.exception("failed %s %s [%s]", request.method, logged_path(request), request_id)
        response = error_response(500, "Lỗi hệ thống, vui lòng thử lại sau. / Internal error.")
    response.headers["X-Request-Id"] = request_id
    return response
