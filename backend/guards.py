"""What the backend refuses before any handler reads a request: a Host it does not serve, a form
body larger than any report, more photo uploads from one address than a channel would make.

Each refusal is an Open311 error (`errors.open311_errors` turns it into the body).
"""
from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiolimiter import AsyncLimiter
from cachetools import TTLCache

from bot.settings import Settings

from .errors import Open311Error, bad_request

# The largest form an Open311 caller sends (a description of 4000 characters, percent-encoded,
# and the other fields) weighs about 40 kB; photos go to media.json, which streams its body and
# applies the photo limit instead (api.MAX_UPLOAD_BODY).
MAX_FORM_BODY = 256 * 1024
UPLOAD_PERIOD_S = 3600
# Client addresses remembered at once; past that the least recent are forgotten.
ADDRESSES = 10_000


def served_host(settings: Settings) -> Middleware:
    """Middleware: 400 unless the Host header names this backend (`Settings.served_hosts`), since
    a web page that points a name of its own at 127.0.0.1 (DNS rebinding) would reach it."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not settings.serves_host(request.headers.get("Host")):
            raise bad_request("Tên máy chủ (Host) không hợp lệ.", "Unknown Host header.")
        return await handler(request)

    return check


class UploadLimits:
    """At most `per_hour` photo uploads from each client address, in a leaky bucket (a burst of
    them at once). The assistant uploads from one address for all its citizens and limits each
    citizen itself (channels/limits.py): this bounds a client as a whole, such as a leaked key."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        self._buckets: TTLCache[str, AsyncLimiter] = TTLCache(maxsize=ADDRESSES, ttl=UPLOAD_PERIOD_S)

    async def take(self, address: str) -> None:
        """Counts one upload of `address`; Open311Error 429 past the limit (nothing counted)."""
        bucket = self._buckets.get(address) or AsyncLimiter(self.per_hour, UPLOAD_PERIOD_S)
        self._buckets[address] = bucket  # set again: kept a period after the last upload
        if not bucket.has_capacity():
            raise Open311Error(
                429, "Tải lên quá nhiều ảnh, vui lòng thử lại sau.", "Too many uploads from this address."
            )
        await bucket.acquire()
