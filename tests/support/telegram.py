"""Telegram for the tests: a stand-in of the Bot API that answers the calls the channel makes and
records them, and the updates Telegram posts to the channel's webhook.

The stand-in runs the real python-telegram-bot code over real HTTP:

    api = await TelegramStandin(TOKEN).start()   # settings: telegram_api_base_url=api.base_url
    await post_update(rasa_url, message_update(1, text="xin chào"), SECRET)
    api.texts()   # what the bot said
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
from aiohttp import web

from tests.support.servers import Standin

Call = Tuple[str, Dict[str, Any]]
CHAT = 777001  # the citizen's private chat with the bot, unless a test says otherwise


class TelegramStandin(Standin):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.calls: List[Call] = []  # (method, parameters) in order
        self.files: Dict[str, bytes] = {}  # file_id -> content, served by getFile
        self.updates: List[Dict[str, Any]] = []  # served by getUpdates
        self._ids = itertools.count(1000)

    @property
    def base_url(self) -> str:
        """What TELEGRAM_API_BASE_URL points at."""
        return f"{self.url}/bot"

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)

    def sent(self, method: str) -> List[Dict[str, Any]]:
        """The parameters of every call of `method`."""
        return [params for name, params in self.calls if name == method]

    def texts(self, chat_id: Optional[int] = None) -> List[str]:
        """The texts of the messages sent (to `chat_id` when given)."""
        return [params["text"] for params in self.messages(chat_id)]

    def messages(self, chat_id: Optional[int] = None) -> List[Dict[str, Any]]:
        return [params for params in self.sent("sendMessage")
                if chat_id is None or params["chat_id"] == str(chat_id)]

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


def _decoded(value: str) -> Any:
    # python-telegram-bot sends form fields; objects (reply_markup, allowed_updates) as JSON text.
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# What Telegram posts to the webhook ------------------------------------------------------------

def _user(chat_id: int) -> Dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Lan"}


def message_update(update_id: int, *, chat_id: int = CHAT, **message: Any) -> Dict[str, Any]:
    """A citizen's message in a private chat: `text=`, `photo=`, `location=`, `contact=`..."""
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "from": _user(chat_id),
        "chat": {"id": chat_id, "type": "private", "first_name": "Lan"}, **message,
    }}


def callback_update(update_id: int, data: str, *, chat_id: int = CHAT) -> Dict[str, Any]:
    """A press on an inline button whose callback data is `data`."""
    return {"update_id": update_id, "callback_query": {
        "id": f"cq{update_id}", "from": _user(chat_id), "chat_instance": "ci", "data": data,
        "message": {"message_id": 5, "date": int(time.time()), "text": "?",
                    "chat": {"id": chat_id, "type": "private"}},
    }}


def photo_sizes(file_id: str) -> List[Dict[str, Any]]:
    """A photo as Telegram lists it: several sizes, the largest (`file_id`) not last."""
    return [
        {"file_id": f"{file_id}-small", "file_unique_id": "s", "width": 90, "height": 67},
        {"file_id": file_id, "file_unique_id": "b", "width": 1280, "height": 960},
        {"file_id": f"{file_id}-mid", "file_unique_id": "m", "width": 320, "height": 240},
    ]


async def post_update(rasa_url: str, update: Dict[str, Any], secret: Optional[str]) -> int:
    """Posts `update` to the channel's webhook as Telegram does (with the secret header unless
    None); the HTTP status."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{rasa_url}/webhooks/telegram/webhook", json=update,
                             headers=headers) as response:
            return response.status
