"""The api_key of Open311 callers, checked without leaking timing or the keys themselves."""
from __future__ import annotations

import hmac
from typing import Iterable, Mapping, Optional

from aiohttp import web

from .errors import Open311Error

HEADER = "X-Api-Key"


def given_key(request: web.Request, fields: Optional[Mapping] = None) -> Optional[str]:
    """The key from the form (Open311's place), else the header, else the query string.

    The header is what the project's client uses on GETs, so keys stay out of URLs and the
    access logs of any proxy in between.
    """
    return (
        (fields or {}).get("api_key")
        or request.headers.get(HEADER)
        or request.query.get("api_key")
    )


def key_accepted(given: Optional[str], keys: Iterable[str]) -> bool:
    given_bytes = (given or "").encode()
    # Compare against every key so the time taken does not tell which one nearly matched.
    matches = [hmac.compare_digest(given_bytes, key.encode()) for key in keys]
    return bool(given) and any(matches)


def require_api_key(given: Optional[str], keys: Iterable[str]) -> None:
    if not key_accepted(given, keys):
        raise Open311Error(403, "Khóa truy cập (api_key) không hợp lệ.", "Invalid or missing api_key.")
