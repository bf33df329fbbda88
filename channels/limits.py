"""What every channel refuses before the assistant sees it: a text too long, a message body too
large, too many messages or photos from one sender in a short time.

One limit and one Vietnamese sentence for each, whatever the channel: the HTTP channels (REST, web
chat) answer with the refusal's status, the chat channels (Telegram, Zalo) send its text to the
citizen, and the message goes no further. Reading a megabyte of text froze every conversation for
seconds (the NLU runs on the event loop), and nothing a citizen writes is that long.

    limits = InboundLimits(settings, "telegram", state)
    refusal = await limits.message("telegram:42", text)
    if refusal:
        ...answer refusal.text (HTTP: with refusal.status), unless refusal.repeated...

Senders are counted in the channels' state (`channels.state`), each in a leaky bucket: the limit
allows a burst of N, then N in each period, whichever replica a message reaches.

Every refusal is counted for Prometheus by channel and reason (`bot.metrics.WEBHOOK_REJECTIONS`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from bot import metrics
from bot.settings import Settings
from channels.state import ChannelState, open_state

MAX_TEXT_CHARS = 2000
# A JSON message (REST, web chat) is its text, a sender id and a little metadata: 2000 characters
# of Vietnamese escaped as \uXXXX weigh 12 kB. Anything larger is refused before it is parsed.
MAX_MESSAGE_BODY = 64 * 1024

TOO_LONG = f"Tin nhắn quá dài (tối đa {MAX_TEXT_CHARS} ký tự), bạn vui lòng rút gọn."
BODY_TOO_LARGE = "Dữ liệu gửi lên quá lớn, bạn vui lòng gửi tin nhắn ngắn hơn."
TOO_FAST = "Bạn đang gửi quá nhanh, bạn vui lòng đợi một chút rồi gửi tiếp nhé."
TOO_MANY_PHOTOS = "Bạn đã gửi nhiều ảnh trong thời gian ngắn, bạn vui lòng đợi một lúc rồi gửi tiếp nhé."


@dataclass(frozen=True)
class Refusal:
    text: str  # what the citizen is told
    status: int  # for the channels that answer over HTTP
    reason: str  # as the metrics count it (bot/metrics.py)
    # The sender was already told so within this period: chat channels stay quiet rather than
    # answer a flood message for message.
    repeated: bool = False


class SenderRate:
    """At most `per_period` events per sender in each `period_s` (a burst of them at once), of
    the kind `name`, counted in `state`."""

    def __init__(self, state: ChannelState, name: str, per_period: int, period_s: float) -> None:
        self.state = state
        self.name = name
        self.per_period = per_period
        self.period_s = period_s

    async def take(self, sender: str, amount: int = 1) -> bool:
        """Counts `amount` events of `sender`; False (and nothing counted) past the limit."""
        return await self.state.spend(f"limits:{self.name}:{sender}", amount, self.per_period, self.period_s)

    async def told(self, sender: str) -> bool:
        """Whether `sender` was refused before within the period; marks them refused from now."""
        return not await self.state.add(f"limits:{self.name}:told:{sender}", self.period_s)


class InboundLimits:
    """The limits of one channel's senders (`sender` is the conversation id, `telegram:42`)."""

    def __init__(self, settings: Settings, channel: str, state: Optional[ChannelState] = None) -> None:
        """`state`: the channel's own, if it keeps one; else one is opened."""
        self.channel = channel
        state = state or open_state(settings)
        self.message_rate = SenderRate(state, "messages", settings.sender_messages_per_minute, 60)
        self.photo_rate = SenderRate(state, "photos", settings.sender_photos_per_hour, 3600)

    async def message(self, sender: str, text: Optional[str] = None) -> Optional[Refusal]:
        """Why this message (of `text`, if any) must not reach the assistant, or None."""
        if not await self.message_rate.take(sender):
            return _counted(self.channel, Refusal(TOO_FAST, 429, metrics.RATE_LIMITED,
                                                  repeated=await self.message_rate.told(sender)))
        if text is not None and len(text) > MAX_TEXT_CHARS:
            return _counted(self.channel, Refusal(TOO_LONG, 400, metrics.TOO_LONG))
        return None

    async def photos(self, sender: str, count: int = 1) -> Optional[Refusal]:
        """Why `count` more photos of `sender` must not be stored, or None. Checked before a
        photo is downloaded or stored."""
        if not await self.photo_rate.take(sender, count):
            return _counted(self.channel, Refusal(TOO_MANY_PHOTOS, 429, metrics.RATE_LIMITED,
                                                  repeated=await self.photo_rate.told(sender)))
        return None


def _counted(channel: str, refusal: Refusal) -> Refusal:
    metrics.rejected(channel, refusal.reason)
    return refusal


def body_too_large(body: Optional[bytes], channel: str) -> Optional[Refusal]:
    """A refusal for a JSON message body of `channel` past `MAX_MESSAGE_BODY`, or None."""
    if body is not None and len(body) > MAX_MESSAGE_BODY:
        return _counted(channel, Refusal(BODY_TOO_LARGE, 413, metrics.TOO_LARGE))
    return None


def json_body(body: Optional[bytes], channel: str) -> Tuple[Optional[Refusal], Any]:
    """A message body's JSON (None when it is not JSON), or the refusal of a body too large,
    which is never parsed."""
    too_large = body_too_large(body, channel)
    if too_large:
        return too_large, None
    try:
        return None, json.loads(body or b"null")
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        return None, None
