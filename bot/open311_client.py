"""The assistant's client of any Open311 GeoReport v2 server (the project's backend or the city's).

Exceptions carry a Vietnamese message that is safe to show a citizen (`str(exc)`) and keep the
technical detail apart for the logs. The api key never appears in either.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import quote

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

from .report_codes import normalize_report_code
from .settings import Settings

log = logging.getLogger(__name__)

_UNAVAILABLE = "Hệ thống tiếp nhận phản ánh đang tạm gián đoạn, vui lòng thử lại sau ít phút."


class BackendUnavailable(Exception):
    """The server cannot be reached, timed out, answered 5xx or nonsense."""

    def __init__(self, detail: str) -> None:
        super().__init__(_UNAVAILABLE)
        self.detail = detail


class BackendRejected(Exception):
    """The server refused the request (4xx) with an Open311 error body."""

    def __init__(self, code: int, description: str) -> None:
        self.code = code
        self.description = description
        if code in (401, 403):
            # The citizen can do nothing about the assistant's own credentials.
            message = _UNAVAILABLE
        else:
            # The project's backend writes "Vietnamese / English"; show a citizen the first half.
            message = f"Hệ thống tiếp nhận không nhận yêu cầu: {description.split(' / ')[0]}"
        super().__init__(message)


def _error_description(body: Any, fallback: str) -> str:
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("description") or fallback)
    return fallback


class _ServerError(Exception):
    """A 5xx answer: the server may have acted on the request before failing."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _safe_to_repeat(idempotent: bool) -> Callable[[BaseException], bool]:
    if idempotent:
        return lambda exc: isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, _ServerError))
    # Only a connection never made proves the server never saw the request.
    return lambda exc: isinstance(exc, aiohttp.ClientConnectorError)


def _failure(method: str, path: str, exc: BaseException) -> str:
    """What went wrong, for the logs (`BackendUnavailable.detail`)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"{method} {path}: cannot connect ({exc.__class__.__name__})"
    if isinstance(exc, _ServerError):
        return f"{method} {path}: HTTP {exc.status}"
    return f"{method} {path}: {exc.__class__.__name__}"


def _param(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, set)):
        return ",".join(str(item) for item in value)
    return str(value)


class Open311Client:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 10,
        retries: int = 2,
        session: Optional[aiohttp.ClientSession] = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retries = retries
        self._session = session
        self._owns_session = session is None

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> "Open311Client":
        return cls(
            settings.effective_backend_url,
            settings.effective_backend_api_key,
            timeout_s=settings.backend_timeout_s,
            **kwargs,
        )

    def __repr__(self) -> str:  # no api key in tracebacks or logs
        return f"Open311Client({self.base_url!r})"

    async def __aenter__(self) -> "Open311Client":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Dict[str, str]] = None,
        headers: Optional[Dict[str, str]] = None,
        body: Optional[Callable[[], Any]] = None,
        idempotent: bool = True,
        missing_ok: bool = False,
    ) -> Any:
        """The JSON of a 2xx answer (None for a 404 when `missing_ok`).

        `body` builds the payload afresh per attempt (a consumed FormData cannot be resent).
        Retries, with backoff, only what is safe to repeat: idempotent calls after any transport
        error or 5xx; a non-idempotent call (creating a report) only when the connection was
        never made, because after a timeout, a dropped connection or a 5xx the server may
        already have stored the report and a blind re-POST would file it twice.
        """
        url = f"{self.base_url}/{path}"

        def log_retry(state: RetryCallState) -> None:
            if state.outcome is not None and (failed := state.outcome.exception()) is not None:
                log.warning("Open311 %s, retry %d of %d", _failure(method, path, failed),
                            state.attempt_number, self.retries)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=0.2),  # 0.2 s, 0.4 s, 0.8 s...
            retry=retry_if_exception(_safe_to_repeat(idempotent)),
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            answer: Tuple[int, Any] = await retrying(self._send, method, url, params, headers, body)
        except (aiohttp.ClientError, asyncio.TimeoutError, _ServerError) as exc:
            raise BackendUnavailable(_failure(method, path, exc)) from exc
        status, payload = answer
        if 200 <= status < 300:
            if payload is None:
                raise BackendUnavailable(f"{method} {path}: HTTP {status} without JSON")
            return payload
        if status == 404 and missing_ok:
            return None
        if status == 404:
            # A list or a create cannot be "not found": BACKEND_URL points elsewhere.
            raise BackendUnavailable(f"{method} {path}: HTTP 404, check BACKEND_URL")
        raise BackendRejected(status, _error_description(payload, f"HTTP {status}"))

    async def _send(
        self,
        method: str,
        url: str,
        params: Optional[Dict[str, str]],
        headers: Optional[Dict[str, str]],
        body: Optional[Callable[[], Any]],
    ) -> Tuple[int, Any]:
        """One attempt: the status and the JSON (None if the body is not JSON) of a non-5xx answer."""
        async with self._http().request(
            method, url, params=params, headers=headers, data=body() if body else None, timeout=self._timeout,
        ) as response:
            if response.status >= 500:
                raise _ServerError(response.status)
            try:
                return response.status, await response.json(content_type=None)
            except ValueError:
                return response.status, None

    async def services(self) -> List[Dict[str, Any]]:
        return await self._call("GET", "services.json")

    async def create_request(
        self,
        *,
        service_code: str,
        description: str,
        lat: Optional[float] = None,
        long: Optional[float] = None,
        address_string: Optional[str] = None,
        media_urls: Iterable[str] = (),
        phone: Optional[str] = None,
        device_id: Optional[str] = None,
        account_id: Optional[str] = None,
        channel: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> Dict[str, Any]:
        """The first element of the answer: `service_request_id` and `service_notice`.

        With `idempotency_key` (at most 64 characters, the same for every attempt at this report)
        the bundled backend answers a repeat with the report it already stored, so the create is
        retried like a read; without one, only when the connection was never made."""
        fields = [
            ("api_key", self._api_key),
            ("service_code", service_code),
            ("description", description),
            ("lat", lat),
            ("long", long),
            ("address_string", address_string),
            ("phone", phone),
            ("device_id", device_id),
            ("account_id", account_id),
            # Extension of the bundled backend (which channel the citizen used); others ignore it.
            ("channel", channel),
            # Extension of the bundled backend: a repeat files nothing new. Another Open311 server
            # ignores the unknown field and still files the report (see README on retries there).
            ("idempotency_key", idempotency_key),
        ]
        # Repeated `media_url` is what any Open311 server understands for several photos.
        fields += [("media_url", url) for url in media_urls]
        form = [(name, str(value)) for name, value in fields if value not in (None, "")]
        payload = await self._call(
            "POST", "requests.json", body=lambda: aiohttp.FormData(form), idempotent=bool(idempotency_key)
        )
        if not isinstance(payload, list) or not payload or not isinstance(payload[0], dict):
            raise BackendUnavailable("POST requests.json: unexpected answer")
        return payload[0]

    async def get_request(self, code: str) -> Optional[Dict[str, Any]]:
        """The report, or None when the server does not know it."""
        # Another server's ids may look different; quoted so an id cannot reach another path.
        request_id = normalize_report_code(code) or quote(code.strip(), safe="")
        payload = await self._call("GET", f"requests/{request_id}.json", missing_ok=True)
        return payload[0] if isinstance(payload, list) and payload else None

    async def list_requests(self, **filters: Any) -> List[Dict[str, Any]]:
        """Standard filters (`service_request_id`, `service_code`, `start_date`, `end_date`,
        `status`) and the extensions `account_id`, `device_id`, `limit`; lists are comma-joined."""
        params = {name: _param(value) for name, value in filters.items() if value is not None}
        # Filtering by account or device needs the key on the project's backend (personal data);
        # a header keeps it out of URLs, hence out of access logs.
        return await self._call(
            "GET", "requests.json", params=params, headers={"X-Api-Key": self._api_key}
        )

    async def nearby(self, *, lat: float, long: float, service_code: str, radius_m: float,
                     limit: int) -> List[Dict[str, Any]]:
        """Open reports of `service_code` within `radius_m` metres, nearest first (the bundled
        backend's extension `requests.json?lat=&long=&radius=`). A server without it answers
        400 or 404 (BackendRejected, BackendUnavailable), or ignores the position: the caller
        measures the distances again."""
        params = {"lat": _param(lat), "long": _param(long), "radius": _param(radius_m),
                  "service_code": service_code, "status": "open", "limit": _param(limit)}
        payload = await self._call("GET", "requests.json", params=params)
        if not isinstance(payload, list):
            raise BackendUnavailable("GET requests.json (nearby): not a list")
        return [item for item in payload if isinstance(item, dict)]

    async def follow(self, code: str, *, account_id: str) -> Dict[str, Any]:
        """`account_id` follows the report `code` instead of filing it again (extension
        `requests/{id}/follow.json`); the report as it is then. Safe to repeat: a follow counts
        once per account."""
        request_id = normalize_report_code(code) or quote(code.strip(), safe="")
        form = [("api_key", self._api_key), ("account_id", account_id)]
        payload = await self._call("POST", f"requests/{request_id}/follow.json", body=lambda: aiohttp.FormData(form))
        if isinstance(payload, list) and payload and isinstance(payload[0], dict):
            return payload[0]
        raise BackendUnavailable(f"POST requests/{request_id}/follow.json: unexpected answer")

    async def updates(self, start: datetime, end: Optional[datetime] = None) -> List[Dict[str, Any]]:
        """The server's updates feed between `start` and `end` (timezone-aware), oldest first:
        FixMyStreet's Open311 extension `servicerequestupdates.json` (`update_id`,
        `service_request_id`, `updated_datetime`, `status`, `description`, `media_url`; the
        bundled backend adds `state`). A server without the feed answers 404: BackendUnavailable."""
        params = {"start_date": _param(start)}
        if end is not None:
            params["end_date"] = _param(end)
        payload = await self._call("GET", "servicerequestupdates.json", params=params,
                                   headers={"X-Api-Key": self._api_key})
        if not isinstance(payload, list):
            raise BackendUnavailable("GET servicerequestupdates.json: not a list")
        return [item for item in payload if isinstance(item, dict)]

    async def rate(self, code: str, *, account_id: str, rating: Optional[int], comment: Optional[str],
                   fixed: bool = True) -> Dict[str, Any]:
        """The citizen's verdict on their resolved report (extension `requests/{id}/rating.json`):
        `rating` 1-5 (optional when not `fixed`), `comment`, `fixed`; `account_id` must be the
        report's. The report as it is afterwards (reopened or not, as the server decided)."""
        request_id = normalize_report_code(code) or quote(code.strip(), safe="")
        fields = [("api_key", self._api_key), ("account_id", account_id), ("rating", rating),
                  ("comment", comment), ("fixed", "true" if fixed else "false")]
        form = [(name, str(value)) for name, value in fields if value not in (None, "")]
        # Not repeated blindly: a verdict sent twice could count as a second reopening.
        payload = await self._call("POST", f"requests/{request_id}/rating.json",
                                   body=lambda: aiohttp.FormData(form), idempotent=False)
        if isinstance(payload, list) and payload and isinstance(payload[0], dict):
            return payload[0]
        if isinstance(payload, dict):
            return payload
        raise BackendUnavailable(f"POST requests/{request_id}/rating.json: unexpected answer")

    async def upload_media(self, data: bytes, filename: str, content_type: str) -> str:
        """Stores a photo on the backend (extension `media.json`); returns its URL."""

        def form() -> aiohttp.FormData:
            payload = aiohttp.FormData()
            payload.add_field("api_key", self._api_key)
            payload.add_field("file", data, filename=filename, content_type=content_type)
            return payload

        # Repeating an upload is harmless: at worst an unreferenced copy of the photo is stored.
        payload = await self._call("POST", "media.json", body=form)
        if not isinstance(payload, dict) or not payload.get("media_url"):
            raise BackendUnavailable("POST media.json: answer without media_url")
        return payload["media_url"]
