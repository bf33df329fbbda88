"""The local web chat: a page served by the Rasa server itself, and the small JSON API it talks to.

`credentials.yml`: `channels.webchat.WebChatInput:` (no settings). Everything lives under
`/webhooks/web/`: the page, its static files (vendored, no CDN, so it works offline) and
`webhook` / `photo`, which answer with the bot's replies collected like Rasa's REST channel does.
Messages are built only through `bot.messages`; photos go through the channels' shared photo step.

What the assistant says unprompted (Rasa's proactive messages, e.g. the code of a report the outbox
delivered later) has no request to answer: it waits in the channels' shared state (`inbox`) until
the page fetches it.
"""
from __future__ import annotations

import json
import logging
import math
import re
from asyncio import CancelledError
from functools import lru_cache
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional
from urllib.parse import urlsplit

import yaml
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import messages, metrics
from bot.photos import PhotoError
from bot.settings import Settings, get_settings
from channels.limits import InboundLimits, json_body
from channels.output import native_id, sender_id
from channels.state import ChannelState, open_state

logger = logging.getLogger(__name__)

CHANNEL = "web"
STATIC_DIR = Path(__file__).resolve().parent / "webchat" / "static"
# The page makes its own id (hex); anything else is not our page talking.
_SENDER_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# Messages sent to a page that is closed wait this long for it, the newest INBOX_LIMIT of them.
INBOX_KEEP_S = 7 * 24 * 3600
INBOX_LIMIT = 20

# Only these kinds of files are served; anything else in the folder stays private.
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".geojson": "application/geo+json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


def _page_headers(settings: Settings) -> Dict[str, str]:
    """Bot replies are rendered as text, never HTML; the policy is a second fence. Images come from
    the page itself, the Open311 server's photos and the map tiles (MAP_TILE_URL), nothing else from
    anywhere: the page talks to its own origin only."""
    sources = (settings.map_tile_url or "", settings.effective_backend_public_url, settings.effective_backend_url)
    # A tile URL with Leaflet's {s} subdomains names a whole family of hosts.
    hosts = dict.fromkeys(f"{p.scheme}://{p.netloc.replace('{s}', '*')}" for p in map(urlsplit, sources) if p.netloc)
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; img-src 'self' data: blob: {' '.join(hosts)}; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


@lru_cache(maxsize=1)
def landmarks_geojson() -> Dict[str, Any]:
    """The landmarks the assistant knows (bot/data/landmarks.yml) as GeoJSON points, so that a map
    without tiles still shows places a citizen recognises."""
    # Imported here: the Rasa server needs only the file's place, not the geocoder.
    from bot.geocode import LANDMARKS_FILE

    with open(LANDMARKS_FILE, encoding="utf-8") as f:
        places = yaml.safe_load(f) or []
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": place["name"]},
         "geometry": {"type": "Point", "coordinates": [place["lon"], place["lat"]]}}
        for place in places
    ]}

MSG_BAD_REQUEST = "Yêu cầu không hợp lệ, bạn vui lòng tải lại trang và thử lại."
MSG_EMPTY = "Bạn vui lòng nhập nội dung tin nhắn."
MSG_BAD_LOCATION = "Vị trí không hợp lệ, bạn vui lòng chọn lại trên bản đồ."
MSG_NO_PHOTO = "Bạn vui lòng chọn một ảnh để gửi."
MSG_PHOTO_FAILED = "Xin lỗi, chưa lưu được ảnh. Bạn vui lòng thử lại sau ít phút."
MSG_ASSISTANT_FAILED = "Xin lỗi, trợ lý đang gặp sự cố. Bạn vui lòng thử lại sau ít phút."


def _error(message: str, status: int) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def _malformed(message: str) -> HTTPResponse:
    """A 400 for a message that is not one of the web chat's, counted (bot/metrics.py)."""
    metrics.rejected(CHANNEL, metrics.MALFORMED)
    return _error(message, 400)


def _sender(raw: Any) -> Optional[str]:
    return raw if isinstance(raw, str) and _SENDER_RE.match(raw) else None


def _coordinate(raw: Any, limit: float) -> Optional[float]:
    # bool is an int in Python; a JSON true is not a coordinate.
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    value = float(raw)
    return value if math.isfinite(value) and -limit <= value <= limit else None


async def _store_on_backend(data: bytes) -> messages.Photo:
    # Imported here so that the page and text chat still come up if the backend client is broken.
    from channels.photos import store_photo

    return await store_photo(data, get_settings())


def _inbox_key(sender: str) -> str:
    return f"{CHANNEL}:inbox:{sender}"


class WebChatInbox(OutputChannel):
    """Where Rasa's proactive messages to a web chat citizen wait until their page fetches them."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, state: ChannelState) -> None:
        self.state = state

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        reply = {key: message[key] for key in ("text", "buttons", "image", "custom") if message.get(key)}
        if reply:
            await self.state.push(_inbox_key(native_id(recipient_id)), json.dumps(reply), INBOX_KEEP_S, INBOX_LIMIT)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


class WebChatInput(InputChannel):
    """Rasa input channel `web`: the page, text/location (`webhook`), photos (`photo`), and the
    messages sent to the page unprompted (`inbox`)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self) -> None:
        self._inbox: Optional[WebChatInbox] = None

    @property
    def inbox(self) -> WebChatInbox:
        # Opened on first use: building the channel (Rasa builds every configured one) opens nothing.
        if self._inbox is None:
            self._inbox = WebChatInbox(open_state(get_settings()))
        return self._inbox

    def get_output_channel(self) -> OutputChannel:
        return self.inbox

    async def _handle(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        inbound: messages.Inbound,
        sender: str,
    ) -> HTTPResponse:
        collector = CollectingOutputChannel()
        try:
            await on_new_message(
                UserMessage(
                    inbound.text,
                    collector,
                    sender_id(CHANNEL, sender),
                    input_channel=CHANNEL,
                    metadata=inbound.metadata,
                )
            )
        except (CancelledError, Exception):
            # Unlike the REST channel we say so: the page keeps the citizen's input to resend.
            logger.exception("web chat: the assistant failed on a message")
            return _error(MSG_ASSISTANT_FAILED, 503)
        return response.json(collector.messages)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        bp = Blueprint("webchat", __name__)
        limits = InboundLimits(get_settings(), CHANNEL)

        @bp.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            # The page uses relative URLs, which only resolve right under a trailing slash.
            if not request.path.endswith("/"):
                return response.redirect(request.path + "/")
            return await _static_file("index.html")

        @bp.route("/static/<name:path>", methods=["GET"])
        async def static(request: Request, name: str) -> HTTPResponse:
            return await _static_file(name)

        @bp.route("/map.json", methods=["GET"])
        async def map_settings(request: Request) -> HTTPResponse:
            # The base map the page draws under the units: MAP_TILE_URL (null: none) and its credit.
            settings = get_settings()
            return response.json({"tiles": settings.map_tile_url, "attribution": settings.map_tile_attribution},
                                 headers={"Cache-Control": "no-cache"})

        @bp.route("/landmarks.geojson", methods=["GET"])
        async def landmarks(request: Request) -> HTTPResponse:
            return response.json(landmarks_geojson(), content_type=_CONTENT_TYPES[".geojson"],
                                 headers={"Cache-Control": "no-cache"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            too_large, body = json_body(request.body, CHANNEL)
            if too_large:
                return _error(too_large.text, too_large.status)
            if not isinstance(body, dict) or not (sender := _sender(body.get("sender"))):
                return _malformed(MSG_BAD_REQUEST)
            text: Optional[str] = None
            if "location" in body:
                location = body["location"] if isinstance(body["location"], dict) else {}
                lat = _coordinate(location.get("latitude"), 90)
                lon = _coordinate(location.get("longitude"), 180)
                if lat is None or lon is None:
                    return _malformed(MSG_BAD_LOCATION)
                inbound = messages.location_message(lat, lon, channel=CHANNEL, user_id=sender)
            else:
                text = body.get("message")
                text = text.strip() if isinstance(text, str) else ""
                if not text:
                    return _malformed(MSG_EMPTY)
                inbound = messages.text_message(text, channel=CHANNEL, user_id=sender)
            refusal = await limits.message(sender_id(CHANNEL, sender), text)
            if refusal:
                return _error(refusal.text, refusal.status)
            return await self._handle(on_new_message, inbound, sender)

        @bp.route("/inbox", methods=["GET"])
        async def inbox(request: Request) -> HTTPResponse:
            sender = _sender(request.args.get("sender"))
            if not sender:
                return _error(MSG_BAD_REQUEST, 400)
            waiting = await self.inbox.state.take(_inbox_key(sender))
            return response.json([json.loads(item) for item in waiting], headers={"Cache-Control": "no-store"})

        @bp.route("/photo", methods=["POST"])
        async def photo(request: Request) -> HTTPResponse:
            sender = _sender(request.form.get("sender"))
            if not sender:
                return _malformed(MSG_BAD_REQUEST)
            upload = request.files.get("file")
            if upload is None:
                return _malformed(MSG_NO_PHOTO)
            key = sender_id(CHANNEL, sender)
            refusal = await limits.message(key) or await limits.photos(key)
            if refusal:
                return _error(refusal.text, refusal.status)
            try:
                stored = await _store_on_backend(upload.body)
            except PhotoError as exc:
                return _error(str(exc), 400)
            except Exception:
                logger.exception("web chat: storing a photo failed")
                return _error(MSG_PHOTO_FAILED, 502)
            inbound = messages.photo_message([stored], channel=CHANNEL, user_id=sender)
            return await self._handle(on_new_message, inbound, sender)

        return bp


async def _static_file(name: str) -> HTTPResponse:
    path = (STATIC_DIR / name).resolve()
    content_type = _CONTENT_TYPES.get(path.suffix)
    if content_type is None or not path.is_relative_to(STATIC_DIR) or not path.is_file():
        return response.text("Không tìm thấy.", status=404)
    # no-cache: a restarted server with a newer page must never meet an older app.js.
    headers = {**_page_headers(get_settings()), "Cache-Control": "no-cache"}
    return await response.file(path, mime_type=content_type, headers=headers)
