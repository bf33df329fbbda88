"""Rasa's replies as Bot API calls: texts within Telegram's limit, buttons as keyboards.

Replies are sent without parse_mode: the assistant's texts are plain and echo what citizens typed
(addresses full of `_`, `*`, `.`), so with no markup nothing needs escaping and no text can be
refused by Telegram as malformed Markdown.
"""
from __future__ import annotations

import logging
from typing import Any, Dict

from rasa.core.channels.channel import OutputChannel
from telegram.error import TelegramError
from telegram.ext import ExtBot

from channels.output import Undelivered, native_id, split_text
from channels.telegram.api import CHANNEL, Redactor
from channels.telegram.keyboards import Keyboards

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CHOOSE = "Mời bạn chọn:"


class TelegramOutput(OutputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, bot: ExtBot[int], keyboards: Keyboards, redact: Redactor, *, unprompted: bool = False) -> None:
        self.bot = bot
        self.keyboards = keyboards
        self.redact = redact
        self.unprompted = unprompted  # messages sent through Rasa's HTTP API: a failure is raised

    def for_unprompted(self) -> "TelegramOutput":
        """The same output, raising Undelivered when Telegram refuses a message."""
        return TelegramOutput(self.bot, self.keyboards, self.redact, unprompted=True)

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        chat_id = native_id(recipient_id)
        buttons = message.get("buttons") or message.get("quick_replies") or []
        asks_place = bool((message.get("custom") or {}).get("request_location"))
        markup = await self.keyboards.for_message(chat_id, buttons, asks_place)
        pieces = split_text(message.get("text") or "", TEXT_LIMIT)
        if not pieces and (buttons or asks_place):
            pieces = [CHOOSE]  # a keyboard needs a message to hang on
        try:
            for i, piece in enumerate(pieces, start=1):
                await self.bot.send_message(
                    chat_id, piece, reply_markup=markup if i == len(pieces) else None
                )
            if message.get("image"):
                await self.bot.send_photo(
                    chat_id, message["image"], reply_markup=None if pieces else markup
                )
        except TelegramError as exc:
            # One failed reply (blocked bot, deleted chat, flood limit still hit after the
            # retries) must not break the conversation turn.
            logger.error("Telegram: sending to chat %s failed: %s", chat_id, self.redact(exc))
            if self.unprompted:
                raise Undelivered(f"Telegram refused the message: {self.redact(exc)}") from None

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})
