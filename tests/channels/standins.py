"""Small local stand-ins of the Telegram Bot API and the Zalo OA API, recording every call.

They answer like the real services for the calls the channels make, so that the tests run the
real python-telegram-bot and Zalo client code over real HTTP.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import web

Call = Tuple[str, Dict[str, Any]]


async def serve(app: web.Application) -> Tuple[web.AppRunner, str]:
    # No access log: it would print the Bot API token from the URLs, as the real server's does.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def _decoded(value: str) -> Any:
    # python-telegram-bot sends form fields; objects (reply_markup, allowed_updates) as JSON text.
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class TelegramStandin:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: List[Call] = []
        self.files: Dict[str, bytes] = {}  # file_id -> content
        self.updates: List[Dict[str, Any]] = []  # served by getUpdates
        self.url = ""
        self._ids = itertools.count(1000)
        self._runner: Optional[web.AppRunner] = None

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    async def start(self) -> "TelegramStandin":
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def sent(self, method: str) -> List[Dict[str, Any]]:
        return [params for name, params in self.calls if name == method]

    def texts(self) -> List[str]:
        return [params["text"] for params in self.sent("sendMessage")]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10) -> List[Dict]:
        deadline = time.monotonic() + timeout
        while len(self.sent(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} called {len(self.sent(method))} times, not {count}")
            await asyncio.sleep(0.02)
        return self.sent(method)

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = {k: _decoded(v) for k, v in (await request.post()).items() if isinstance(v, str)}
        self.calls.append((method, params))
        result = await self._result(method, params)
        if result is None:
            return web.json_response(
                {"ok": False, "error_code": 400, "description": f"Bad Request: {method}"}
            )
        return web.json_response({"ok": True, "result": result})

    async def _result(self, method: str, params: Dict[str, Any]) -> Any:
        if method == "getMe":
            return {"id": 4242, "is_bot": True, "first_name": "Phản ánh Huế",
                    "username": "hue_phan_anh_test_bot"}
        if method == "getFile":
            file_id = params["file_id"]
            if file_id not in self.files:
                return None
            return {"file_id": file_id, "file_unique_id": f"u{file_id}",
                    "file_size": len(self.files[file_id]), "file_path": f"photos/{file_id}.jpg"}
        if method in ("sendMessage", "sendPhoto"):
            message = {"message_id": next(self._ids), "date": int(time.time()),
                       "chat": {"id": int(params["chat_id"]), "type": "private"}}
            if method == "sendMessage":
                message["text"] = params["text"]
            return message
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook"):
            return True
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            pending = [u for u in self.updates if u["update_id"] >= offset]
            if not pending:
                await asyncio.sleep(min(float(params.get("timeout") or 0), 0.2))
            return pending
        return None

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id], content_type="image/jpeg")


class ZaloStandin:
    """The OA message API (`/v3.0/oa/message/cs`), the OAuth refresh and a CDN for photos."""

    def __init__(self, access_token: str, refresh_token: str, app_id: str, app_secret: str) -> None:
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.app_id = app_id
        self.app_secret = app_secret
        self.expire_token = False  # True: the current access token answers -216 from now on
        self.messages: List[Dict[str, Any]] = []  # accepted message bodies
        self.refreshes: List[Dict[str, str]] = []
        self.files: Dict[str, bytes] = {}
        self.url = ""
        self._generation = itertools.count(2)
        self._runner: Optional[web.AppRunner] = None

    @property
    def oauth_url(self) -> str:
        return f"{self.url}/v4/oa/access_token"

    def file_url(self, name: str) -> str:
        return f"{self.url}/cdn/{name}"

    async def start(self) -> "ZaloStandin":
        app = web.Application()
        app.router.add_post("/v3.0/oa/message/cs", self._message)
        app.router.add_post("/v4/oa/access_token", self._refresh)
        app.router.add_get("/cdn/{name}", self._file)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def texts(self, user_id: Optional[str] = None) -> List[str]:
        return [m["message"]["text"] for m in self.messages
                if "text" in m["message"] and user_id in (None, m["recipient"]["user_id"])]

    async def wait_for_messages(self, count: int, timeout: float = 10) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages)} Zalo messages sent, not {count}")
            await asyncio.sleep(0.02)
        return self.messages

    async def _message(self, request: web.Request) -> web.Response:
        if self.expire_token or request.headers.get("access_token") != self.access_token:
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        self.messages.append(await request.json())
        return web.json_response({"error": 0, "message": "Success", "data": {"message_id": "m1"}})

    async def _refresh(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.refreshes.append(form)
        if (request.headers.get("secret_key") != self.app_secret
                or form.get("app_id") != self.app_id
                or form.get("grant_type") != "refresh_token"
                or form.get("refresh_token") != self.refresh_token):
            return web.json_response({"error": -14014, "error_description": "Invalid refresh token"})
        generation = next(self._generation)
        self.access_token = f"access-{generation}"
        self.refresh_token = f"refresh-{generation}"  # Zalo refresh tokens are single-use
        self.expire_token = False
        return web.json_response({"access_token": self.access_token,
                                  "refresh_token": self.refresh_token, "expires_in": "90000"})

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/jpeg")
