"""The Zalo input and output channels: signed webhook in, OA message API out.

Configuration comes from the environment (`bot.settings`): without ZALO_APP_ID,
ZALO_OA_SECRET_KEY and ZALO_ACCESS_TOKEN the channel is off and its webhook answers 503.

Zalo retries a webhook that does not answer within two seconds, so events are acknowledged at once
and handled in the background, one user's events in the order they came.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Union

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from bot import metrics
from bot.messages import Inbound, location_message, photo_message, text_message
from bot.photos import MAX_PHOTOS_PER_REPORT, PhotoError
from bot.settings import Settings, get_settings
from channels.limits import InboundLimits, Refusal, body_too_large
from channels.output import ButtonMemory, Undelivered, native_id, numbered, sender_id, split_text
from channels.photos import download, store_photo
from channels.state import ChannelState, open_state
from channels.tasks import Background, KeyedLocks
from channels.zalo.api import ZaloApi

logger = logging.getLogger(__name__)

CHANNEL = "zalo"
SIGNATURE_HEADER = "X-ZEvent-Signature"
TEXT_LIMIT = 2000  # Zalo's limit for a text message
# Zalo redelivers an event it thinks was lost: its id is kept this long in the channels' shared
# state, so a redelivery to another replica or after a restart is still recognised.
REDELIVERY_S = 24 * 3600
# A signed event older than the memory of ids could be a replay that would be handled twice;
# one from the future is a forged or badly clocked one. Zalo delivers within seconds.
MAX_EVENT_AGE_S = 3600
MAX_CLOCK_SKEW_S = 300
FOR_ASSISTANT = {"user_send_text", "user_send_image", "user_send_location"}
# Content the assistant cannot read; every other event (follow, the OA's own messages...) is
# acknowledged and left alone.
UNREADABLE = {
    "user_send_sticker", "user_send_gif", "user_send_audio", "user_send_video", "user_send_file",
}

UNSUPPORTED = (
    "Mình chỉ nhận tin nhắn chữ, ảnh và vị trí. Bạn gửi ảnh hoặc gõ nội dung giúp mình nhé."
)
FAILED = "Xin lỗi, mình đang gặp sự cố. Bạn thử lại sau ít phút nhé."

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def fresh(event: Dict[str, Any], now_s: float) -> bool:
    """Whether the event's `timestamp` (milliseconds) is recent enough to handle."""
    try:
        age_s = now_s - int(str(event["timestamp"])) / 1000
    except (KeyError, ValueError):
        return False
    return -MAX_CLOCK_SKEW_S <= age_s <= MAX_EVENT_AGE_S


def signature_ok(header: str, body: bytes, settings: Settings) -> bool:
    """`mac=<sha256 hex of app_id + raw body + timestamp + OA secret key>`, as Zalo signs."""
    try:
        timestamp = json.loads(body)["timestamp"]
    except (ValueError, TypeError, KeyError, RecursionError):  # RecursionError: nested too deep
        return False
    mac = hashlib.sha256(
        (settings.zalo_app_id or "").encode() + body + str(timestamp).encode()
        + (settings.zalo_oa_secret_key or "").encode()
    ).hexdigest()
    given = header.strip()
    given = given[len("mac="):] if given.startswith("mac=") else given
    return hmac.compare_digest(given.encode(), mac.encode())


class ZaloOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, api: ZaloApi, buttons: ButtonMemory, *, unprompted: bool = False) -> None:
        self.api = api
        self.buttons = buttons
        self.unprompted = unprompted  # messages sent through Rasa's HTTP API: a refusal is raised

    def for_unprompted(self) -> "ZaloOutput":
        """The same output, raising Undelivered when Zalo refuses a message (a user silent for
        48 hours, one who blocked the OA)."""
        return ZaloOutput(self.api, self.buttons, unprompted=True)

    async def _send(self, user: str, message: Dict[str, Any]) -> None:
        refusal = await self.api.send(user, message)
        if refusal and self.unprompted:
            raise Undelivered(f"Zalo refused the message: {refusal}")

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        user = native_id(recipient_id)
        buttons = message.get("buttons") or message.get("quick_replies") or []
        await self.buttons.remember(user, buttons)
        text = message.get("text") or ""
        # OA customer-service messages have no reply buttons: the citizen answers with a number.
        for piece in split_text(numbered(text, buttons) if buttons else text, TEXT_LIMIT):
            await self._send(user, {"text": piece})
        if message.get("image"):
            await self._send(user, {"attachment": {"type": "template", "payload": {
                "template_type": "media",
                "elements": [{"media_type": "image", "url": message["image"]}],
            }}})

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


class ZaloInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "ZaloInput":
        # credentials.yml lists the channel without config: everything comes from the environment.
        return cls(get_settings())

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.output: Optional[ZaloOutput] = None
        self.events: Optional[EventHandler] = None
        self.state: Optional[ChannelState] = None
        self.namespace = f"{CHANNEL}:{settings.zalo_app_id}"  # OAs sharing a Redis never mix
        reason = settings.zalo_off_reason()
        if reason:
            logger.info("Zalo channel is off: %s", reason)
            return
        self.state = open_state(settings)
        self.output = ZaloOutput(
            ZaloApi(settings, self.state, self.namespace),
            ButtonMemory(self.state, self.namespace, by_number=True),
        )

    def get_output_channel(self) -> Optional[OutputChannel]:
        # Only Rasa's HTTP API asks for it (messages sent unprompted): its caller must learn of a
        # message Zalo refused.
        return self.output.for_unprompted() if self.output else None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("hue_zalo", __name__)
        events = (
            EventHandler(self.settings, self.output, self.state, self.namespace, on_new_message)
            if self.output and self.state else None
        )
        self.events = events

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> response.HTTPResponse:
            return response.json({"status": "ok" if events else "off"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> response.HTTPResponse:
            if events is None:
                return response.json({"error": "the Zalo channel is off"}, status=503)
            header = request.headers.get(SIGNATURE_HEADER)
            if not header:
                metrics.rejected(CHANNEL, metrics.UNAUTHORIZED)
                return response.json({"error": "missing signature"}, status=401)
            if body_too_large(request.body, CHANNEL):  # the signature check parses the body first
                return response.json({"error": "body too large for a Zalo event"}, status=413)
            if not signature_ok(header, request.body, self.settings):
                metrics.rejected(CHANNEL, metrics.UNAUTHORIZED)
                return response.json({"error": "wrong signature"}, status=403)
            event = json.loads(request.body)
            if not isinstance(event, dict):
                metrics.rejected(CHANNEL, metrics.MALFORMED)
                return response.json({"error": "not a Zalo event"}, status=400)
            if not fresh(event, time.time()):
                metrics.rejected(CHANNEL, metrics.STALE)
                # 200 all the same: Zalo would only redeliver what must not be handled.
                logger.warning("Zalo event ignored: its timestamp %r is not within the last hour",
                               str(event.get("timestamp"))[:20])
                return response.json({"ok": True, "ignored": "stale"})
            await events.accept(event)
            return response.json({"ok": True})

        if events is not None:
            bp.listener("after_server_stop")(lambda *_: events.stop())
        return bp


class EventHandler:
    """Zalo events to `bot.messages` messages for the assistant, each event once."""

    def __init__(
        self, settings: Settings, output: ZaloOutput, state: ChannelState, namespace: str,
        on_new_message: OnNewMessage,
    ) -> None:
        self.settings = settings
        self.state = state
        self.namespace = namespace
        self.output = output
        self.api = output.api
        self.buttons = output.buttons
        self.on_new_message = on_new_message
        self.background = Background()
        self.user_locks = KeyedLocks()
        self.limits = InboundLimits(settings, CHANNEL, state)

    async def accept(self, event: Dict[str, Any]) -> None:
        name = event.get("event_name")
        raw = event.get("message")
        message: Dict[str, Any] = raw if isinstance(raw, dict) else {}
        sender = event.get("sender")
        user = sender.get("id") if isinstance(sender, dict) else None
        if name not in FOR_ASSISTANT | UNREADABLE or not user:
            return
        msg_id = str(message.get("msg_id") or "")
        if msg_id:
            if not await self.state.add(f"{self.namespace}:msg:{msg_id}", REDELIVERY_S):
                logger.info("Zalo event %r delivered again, already handled", msg_id)
                return
        self.background.spawn(
            self._process(str(user), name, message), f"Zalo {name} {msg_id!r} of user {user!r}"
        )

    async def stop(self) -> None:
        await self.background.drain()
        await self.api.close()
        await self.state.close()

    async def _refusal(self, user: str, name: str, message: Dict[str, Any]) -> Optional[Refusal]:
        """Why this event must not reach the assistant (channels/limits.py), or None."""
        key = sender_id(CHANNEL, user)
        text = message.get("text") if name == "user_send_text" else None
        refusal = await self.limits.message(key, None if text is None else str(text))
        if refusal is None and name == "user_send_image":
            attachments = message.get("attachments")
            count = len(attachments[:MAX_PHOTOS_PER_REPORT]) if isinstance(attachments, list) else 1
            refusal = await self.limits.photos(key, max(count, 1))
        return refusal

    async def _process(self, user: str, name: str, message: Dict[str, Any]) -> None:
        async with self.user_locks(user):
            refusal = await self._refusal(user, name, message)
            if refusal:
                if not refusal.repeated:
                    await self.output.send_response(user, {"text": refusal.text})
                return
            try:
                inbound = await self._inbound(user, name, message)
            except PhotoError as exc:
                inbound = str(exc)
            except (KeyError, IndexError, TypeError, ValueError):
                logger.warning("Zalo %s %r of user %r is malformed", name, message.get("msg_id"), user)
                metrics.rejected(CHANNEL, metrics.MALFORMED)
                inbound = UNSUPPORTED
            if isinstance(inbound, str):
                await self.output.send_response(user, {"text": inbound})
                return
            try:
                await self.on_new_message(UserMessage(
                    inbound.text, self.output, sender_id(CHANNEL, user), input_channel=CHANNEL,
                    message_id=message.get("msg_id"), metadata=inbound.metadata,
                ))
            except Exception:  # noqa: BLE001 - the citizen gets an answer whatever failed
                logger.exception("Zalo user %r: the assistant failed on %s", user, name)
                await self.output.send_response(user, {"text": FAILED})

    async def _inbound(self, user: str, name: str, message: Dict[str, Any]) -> Union[Inbound, str]:
        """The message for the assistant, or the answer the channel gives on its own."""
        where = {"channel": CHANNEL, "user_id": user}
        if name == "user_send_text":
            text = str(message.get("text") or "")
            return text_message(await self.buttons.resolve(user, text) or text, **where)
        if name == "user_send_location":
            coordinates = message["attachments"][0]["payload"]["coordinates"]
            # Zalo sends the coordinates as strings at times.
            return location_message(
                float(coordinates["latitude"]), float(coordinates["longitude"]), **where
            )
        if name == "user_send_image":
            urls = [a["payload"]["url"] for a in message["attachments"] if a.get("payload")]
            photos = [
                await store_photo(await download(self.api.session, url), self.settings)
                for url in urls[:MAX_PHOTOS_PER_REPORT]
            ]
            if not photos:
                raise ValueError("an image event without image")
            return photo_message(photos, caption=str(message.get("text") or ""), **where)
        return UNSUPPORTED
