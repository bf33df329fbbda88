"""Rasa's buttons as Telegram keyboards, and the citizen's presses back as payloads.

Inline buttons carry the payload as callback data; Telegram allows only 64 bytes there, so a
longer payload travels as a short key into a per-process map. The "send my location" button only
exists on a reply keyboard, whose other buttons simply send their title as text: the titles are
remembered so that pressing one still sends its payload.
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence, Union

from cachetools import LRUCache
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from channels.output import MEMORY, Button, ButtonMemory

SEND_LOCATION_TITLE = "📍 Gửi vị trí của tôi"
MAX_CALLBACK_DATA = 64
_LONG = "#"  # marks a key into the map of long payloads; payloads start with "/"

Markup = Union[InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyKeyboardRemove]


class Keyboards:
    def __init__(self) -> None:
        self._long_payloads: LRUCache[str, str] = LRUCache(maxsize=MEMORY)
        self._typed = ButtonMemory(by_number=False)  # Telegram shows titles, not numbers
        self._reply_keyboard_open: LRUCache[str, bool] = LRUCache(maxsize=MEMORY)

    def for_message(
        self, chat_id: str, buttons: Sequence[Button], request_location: bool
    ) -> Optional[Markup]:
        """The markup of a bot message; also decides what a later press or title means."""
        if request_location:
            self._typed.remember(chat_id, buttons)
            self._reply_keyboard_open[chat_id] = True
            rows = [[KeyboardButton(SEND_LOCATION_TITLE, request_location=True)]]
            rows += [[KeyboardButton(b["title"])] for b in buttons]
            return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
        self._typed.remember(chat_id, ())
        if buttons:
            return InlineKeyboardMarkup(
                [[InlineKeyboardButton(b["title"], callback_data=self._data(b))] for b in buttons]
            )
        if self._reply_keyboard_open.pop(chat_id, False):
            return ReplyKeyboardRemove()  # the place is given: put the normal keyboard back
        return None

    def _data(self, button: Button) -> str:
        payload = str(button.get("payload") or button["title"])
        if len(payload.encode()) <= MAX_CALLBACK_DATA:
            return payload
        key = _LONG + hashlib.sha256(payload.encode()).hexdigest()[:32]
        self._long_payloads[key] = payload
        return key

    def pressed(self, callback_data: str) -> Optional[str]:
        """The payload of an inline button; None if it was a long one this process forgot."""
        if callback_data.startswith(_LONG):
            return self._long_payloads.get(callback_data)
        return callback_data

    def typed(self, chat_id: str, text: str) -> Optional[str]:
        """The payload of a reply-keyboard button whose title the citizen just sent."""
        return self._typed.resolve(chat_id, text)
