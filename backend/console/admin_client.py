"""The console's client of the admins' service (`python -m bot.admin.server`, on ADMIN_PORT): the
backend may not import the assistant, so inbox, labelling, training and models are reached over
HTTP, as the signed-in admin (`X-Admin-User`, for the service's audit log) with the shared token.

Whatever goes wrong on the way becomes an `AdminProblem` whose message an admin can act on (in
Vietnamese): the service not configured, not reachable, too slow, refusing the token, or refusing
what was asked (its own `{"error"}` message, with its status).
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, AsyncIterator, Dict, List, Optional
from urllib.parse import quote

import aiohttp
from aiohttp import web

from bot.settings import Settings

from ..appkeys import SETTINGS

log = logging.getLogger(__name__)

# Every call answers at once (a retraining runs in the background), but labelling writes files.
TIMEOUT_S = 15
MAX_ANSWER_BYTES = 4 * 1024 * 1024

HTTP = web.AppKey("console_admin_http", aiohttp.ClientSession)


class AdminProblem(Exception):
    """What the admins' service could not do, said to the admin; `status` for the console's page."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


async def http_session(app: web.Application) -> AsyncIterator[None]:
    """One connection pool for the console's calls to the service (a cleanup_ctx of the backend)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session:
        app[HTTP] = session
        yield


def client(request: web.Request, who: str) -> "AdminClient":
    return AdminClient(request.config_dict[SETTINGS], request.config_dict[HTTP], who)


class AdminClient:
    """The service's HTTP API (design of issue 11), one method a route, called as `who`."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession, who: str) -> None:
        self._base = settings.effective_admin_url
        self._token = settings.admin_api_token
        self._session = session
        self._who = who

    async def inbox(self, status: str, limit: int, offset: int) -> Dict[str, Any]:
        return await self._call("GET", "/inbox", query={"status": status, "limit": limit, "offset": offset})

    async def options(self) -> Dict[str, Any]:
        return await self._call("GET", "/options")

    async def label(self, keys: List[str], intent: str, category: Optional[str],
                    address: Optional[str], confirm_emergency: bool = False) -> Dict[str, Any]:
        return await self._call("POST", "/inbox/label", body={
            "keys": keys, "intent": intent, "category": category, "address": address,
            "confirm_emergency": confirm_emergency})

    async def discard(self, keys: List[str]) -> Dict[str, Any]:
        return await self._call("POST", "/inbox/discard", body={"keys": keys})

    async def undo(self, keys: List[str]) -> Dict[str, Any]:
        return await self._call("POST", "/inbox/undo", body={"keys": keys})

    async def retrain(self) -> Dict[str, Any]:
        return await self._call("POST", "/retrain", body={})

    async def latest_job(self) -> Optional[Dict[str, Any]]:
        """The latest training job, None before the first."""
        return await self._call("GET", "/jobs/latest", none_when_missing=True)

    async def models(self) -> Dict[str, Any]:
        return await self._call("GET", "/models")

    async def report(self, name: str) -> Optional[Dict[str, Any]]:
        """The scores and decision of the model `name`, None when the service knows none so named."""
        return await self._call("GET", f"/models/{quote(name, safe='')}", none_when_missing=True)

    async def rollback(self) -> Dict[str, Any]:
        return await self._call("POST", "/rollback", body={})

    async def put_live(self, name: str) -> Dict[str, Any]:
        return await self._call("POST", f"/models/{quote(name, safe='')}/live", body={})

    async def dashboard(self, days: int) -> Dict[str, Any]:
        return await self._call("GET", "/dashboard", query={"days": days})

    async def audit(self, limit: int) -> List[Dict[str, Any]]:
        return await self._call("GET", "/audit", query={"limit": limit})

    async def _call(self, method: str, path: str, *, query: Optional[Dict[str, Any]] = None,
                    body: Optional[Dict[str, Any]] = None, none_when_missing: bool = False) -> Any:
        if not self._token:
            raise AdminProblem("Khu quản trị chưa được cấu hình: máy chủ điều hành chưa có ADMIN_API_TOKEN "
                               "để gọi dịch vụ quản trị (make run tự tạo khi chạy cả hệ thống).", 503)
        headers = {"Authorization": f"Bearer {self._token}", "X-Admin-User": self._who}
        url = f"{self._base}{path}"
        try:
            async with self._session.request(method, url, params=query, json=body, headers=headers) as response:
                data = await _json(response)
        except asyncio.TimeoutError as exc:
            log.warning("admin service: %s %s took over %s s", method, path, TIMEOUT_S)
            raise AdminProblem(f"Dịch vụ quản trị không trả lời kịp (quá {TIMEOUT_S} giây). "
                               "Vui lòng thử lại sau ít phút.", 504) from exc
        except aiohttp.ClientError as exc:
            log.warning("admin service: %s %s failed: %s: %s", method, path, type(exc).__name__, exc)
            raise AdminProblem(f"Không kết nối được dịch vụ quản trị ({self._base}). Kiểm tra dịch vụ "
                               "python -m bot.admin.server đang chạy (make run khởi động nó).", 502) from exc
        if response.status == 404 and none_when_missing:
            return None
        if response.status == 401:
            log.warning("admin service: %s %s refused the console's token", method, path)
            raise AdminProblem("Dịch vụ quản trị từ chối mã truy cập: ADMIN_API_TOKEN của máy chủ điều hành "
                               "và của dịch vụ quản trị không khớp.", 502)
        if response.status >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            log.info("admin service: %s %s answered %s", method, path, response.status)
            if isinstance(message, str) and message:
                raise AdminProblem(message, response.status if response.status < 500 else 502)
            raise AdminProblem(f"Dịch vụ quản trị gặp lỗi (mã {response.status}). Vui lòng thử lại sau.", 502)
        if data is None:
            raise AdminProblem("Dịch vụ quản trị trả lời không đọc được.", 502)
        return data


async def _json(response: aiohttp.ClientResponse) -> Any:
    """The answer's JSON, None when it is none (a proxy's HTML page, an empty body)."""
    raw = await response.content.read(MAX_ANSWER_BYTES + 1)
    if len(raw) > MAX_ANSWER_BYTES:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:  # also UnicodeDecodeError
        return None
