"""Rasa's buttons as Telegram keyboards, and the citizen's presses back as payloads.

Inline buttons carry the payload as callback data; Telegram allows only 64 bytes there, so a
longer payload travels as a short key into a map kept in the channels' shared state
(`channels.state`: every replica understands a button another one sent, and a restart forgets
none). The "send my location" button only exists on a reply keyboard, whose other buttons simply
send their title as text: the titles are remembered so that pressing one still sends its payload.
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence, Union

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from channels.output import BUTTONS_KEEP_S, Button, ButtonMemory
from channels.state import ChannelState

SEND_LOCATION_TITLE = "📍 Gửi vị trí của tôi"
MAX_CALLBACK_DATA = 64
_LONG = "#"  # marks a key into the map of long payloads; payloads start with "/"
# A long payload is named by its hash, so the same button always has the same key; an inline
# button stays in the chat, and its payload is kept this long after it was last sent.
LONG_PAYLOAD_KEEP_S = 30 * 24 * 3600

Markup = Union[InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove]


class Keyboards:
    def __init__(self, state: ChannelState, namespace: str) -> None:
        """`namespace`: one bot's keys (its id), so that two bots on one Redis never mix."""
        self._state = state
        self.namespace = namespace
        self._typed = ButtonMemory(state, namespace, by_number=False)  # Telegram shows titles, not numbers

    async def for_message(
        self, chat_id: str, buttons: Sequence[Button], request_location: bool
    ) -> Optional[Markup]:
        """The markup of a bot message; also decides what a later press or title means."""
        open_keyboard = f"{self.namespace}:reply_keyboard:{chat_id}"
        if request_location:
            await self._typed.remember(chat_id, buttons)
            await self._state.set(open_keyboard, "1", BUTTONS_KEEP_S)
            rows = [[KeyboardButton(SEND_LOCATION_TITLE, request_location=True)]]
            rows += [[KeyboardButton(b["title"])] for b in buttons]
            return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
        await self._typed.remember(chat_id, ())
        if buttons:
            return InlineKeyboardMarkup(
                [[InlineKeyboardButton(b["title"], callback_data=await self._data(b))] for b in buttons]
            )
        if await self._state.get(open_keyboard):
            await self._state.delete(open_keyboard)
            return ReplyKeyboardRemove()  # the place is given: put the normal keyboard back
        return None

    async def _data(self, button: Button) -> str:
        payload = str(button.get("payload") or button["title"])
        if len(payload.encode()) <= MAX_CALLBACK_DATA:
            return payload
        key = _LONG + hashlib.sha256(payload.encode()).hexdigest()[:32]
        await self._state.set(self._long_key(key), payload, LONG_PAYLOAD_KEEP_S)
        return key

    def _long_key(self, callback_data: str) -> str:
        return f"{self.namespace}:payload:{callback_data}"

    async def pressed(self, callback_data: str) -> Optional[str]:
        """The payload of an inline button; None if it was a long one no longer kept."""
        if callback_data.startswith(_LONG):
            return await self._state.get(self._long_key(callback_data))
        return callback_data

    async def typed(self, chat_id: str, text: str) -> Optional[str]:
        """The payload of a reply-keyboard button whose title the citizen just sent."""
        return await self._typed.resolve(chat_id, text)
