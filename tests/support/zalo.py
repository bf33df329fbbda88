"""Zalo for the tests: a stand-in of the Zalo OA API (messages, the OAuth token refresh, a CDN for
photos) that records what it is sent, and the events Zalo posts to the channel's webhook.

    api = await ZaloStandin("access-1", "refresh-1", APP_ID, APP_SECRET).start()
    await post_event(rasa_url, event("user_send_text", "m1", text="xin chào"), OA_SECRET)
    api.texts()   # what the bot said
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from typing import Any, Dict, List, Optional, Set

import aiohttp
from aiohttp import web

from tests.support.servers import Standin

APP_ID = "1234567890"  # the Zalo app linked to the Official Account
USER = "8000111222"  # the citizen, as the OA sees them

class ZaloStandin(Standin):
    """The OA message API (`/v3.0/oa/message/cs`), the OAuth refresh and a CDN for photos."""

    def __init__(self, access_token: str, refresh_token: str, app_id: str, app_secret: str) -> None:
        super().__init__()
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.app_id = app_id
        self.app_secret = app_secret
        self.expire_token = False  # True: the current access token answers -216 from now on
        self.messages: List[Dict[str, Any]] = []  # accepted message bodies
        self.refreshes: List[Dict[str, Any]] = []  # the refresh forms received
        self.refresh_delay_s = 0.0  # how long a refresh takes (replicas refreshing at once)
        self.files: Dict[str, bytes] = {}  # name -> content, served at file_url(name)
        # Users who last wrote to the OA too long ago: Zalo refuses free messages to them (-230).
        self.out_of_window: Set[str] = set()
        self._generation = itertools.count(2)

    @property
    def oauth_url(self) -> str:
        return f"{self.url}/v4/oa/access_token"

    def file_url(self, name: str) -> str:
        return f"{self.url}/cdn/{name}"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v3.0/oa/message/cs", self._message)
        app.router.add_post("/v4/oa/access_token", self._refresh)
        app.router.add_get("/cdn/{name}", self._file)

    def texts(self, user_id: Optional[str] = None) -> List[str]:
        """The texts sent (to `user_id` when given)."""
        return [m["message"]["text"] for m in self.messages
                if "text" in m["message"] and user_id in (None, m["recipient"]["user_id"])]

    async def _message(self, request: web.Request) -> web.Response:
        if self.expire_token or request.headers.get("access_token") != self.access_token:
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        body = await request.json()
        if body["recipient"]["user_id"] in self.out_of_window:
            return web.json_response({"error": -230,
                                      "message": "User has not interacted with the OA in the past 7 days"})
        self.messages.append(body)
        return web.json_response({"error": 0, "message": "Success", "data": {"message_id": "m1"}})

    async def _refresh(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.refreshes.append(form)
        await asyncio.sleep(self.refresh_delay_s)
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


# What Zalo posts to the webhook ----------------------------------------------------------------

def event(name: str, msg_id: str, *, app_id: str = APP_ID, user: str = USER, **message: Any) -> Dict[str, Any]:
    """An event of `name` (user_send_text, user_send_image, user_send_location...) from `user`."""
    return {
        "app_id": app_id, "user_id_by_app": "55", "event_name": name,
        "timestamp": str(int(time.time() * 1000)),
        "sender": {"id": user}, "recipient": {"id": "oa-1"},
        "message": {"msg_id": msg_id, **message},
    }


def _body(payload: Dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def signature(payload: Dict[str, Any], oa_secret: str) -> str:
    """The X-ZEvent-Signature Zalo computes with the OA secret key."""
    mac = hashlib.sha256(payload["app_id"].encode() + _body(payload) + payload["timestamp"].encode()
                         + oa_secret.encode())
    return f"mac={mac.hexdigest()}"


async def post_event(rasa_url: str, payload: Dict[str, Any], oa_secret: Optional[str] = None, *,
                     signature_header: Optional[str] = None) -> int:
    """Posts an event to the channel's webhook signed with `oa_secret` (or with the given
    `signature_header`; neither: unsigned); the HTTP status."""
    headers = {"Content-Type": "application/json"}
    if oa_secret is not None:
        headers["X-ZEvent-Signature"] = signature(payload, oa_secret)
    if signature_header is not None:
        headers["X-ZEvent-Signature"] = signature_header
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{rasa_url}/webhooks/zalo/webhook", data=_body(payload),
                             headers=headers) as response:
            return response.status
