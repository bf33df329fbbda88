"""The api_key of Open311 callers, checked without leaking timing or the keys themselves."""
from __future__ import annotations

import hmac
from typing import Iterable, Mapping, Optional, Tuple

from aiohttp import web

from bot.settings import Settings

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
        raise _invalid_key()


def any_role_keys(settings: Settings) -> Tuple[str, ...]:
    """Every key the backend accepts, whatever its role."""
    agency_keys = tuple(key for _agency, key in settings.backend_agency_keys)
    return settings.effective_backend_api_keys + settings.effective_backend_operator_keys + agency_keys


def _invalid_key() -> Open311Error:
    return Open311Error(403, "Khóa truy cập (api_key) không hợp lệ.", "Invalid or missing api_key.")


def state_changer(
    given: Optional[str],
    operator_keys: Iterable[str],
    agency_keys: Iterable[Tuple[str, str]],
    other_keys: Iterable[str] = (),
) -> Optional[str]:
    """Who may change a report's state: None for an operator (any report), else the agency id
    whose reports the key may change. Any other key, `other_keys` (the assistant's) included,
    gets 403. Every key is compared, so the time taken tells nothing about the roles."""
    operator = key_accepted(given, operator_keys)
    agencies = [agency for agency, key in agency_keys if key_accepted(given, (key,))]
    known = key_accepted(given, other_keys)
    if operator:
        return None
    if agencies:
        return agencies[0]
    if known:
        raise Open311Error(
            403,
            "Khóa truy cập này không được đổi trạng thái phản ánh (chỉ trung tâm điều hành và cơ quan xử lý).",
            "This api_key may not change a report's state (operators and agencies only).",
        )
    raise _invalid_key()


def wrong_agency() -> Open311Error:
    return Open311Error(
        403,
        "Khóa truy cập của cơ quan chỉ đổi được trạng thái phản ánh giao cho cơ quan đó.",
        "An agency's api_key may only change the state of that agency's reports.",
    )
