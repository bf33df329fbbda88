"""The Bot API client shared by the channel and the poller: Telegram's flood limits kept, the
token kept out of the logs."""
from __future__ import annotations

import logging
from typing import Any, Callable, Coroutine, Dict, List, Optional, Union

from aiolimiter import AsyncLimiter
from cachetools import LRUCache
from telegram.ext import AIORateLimiter, ExtBot

from bot.settings import Settings
from channels.output import MEMORY

CHANNEL = "telegram"
WEBHOOK_PATH = "/webhooks/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query"]

# A 429 ("retry after n seconds") is waited out and the call made again, this many times at most;
# after that the reply is given up and logged.
MAX_RETRIES = 3
# Telegram asks for about one message a second in a chat and tolerates short bursts: one reply of
# the assistant (text, keyboard, photo) goes out at once, a longer run at one a second.
CHAT_BURST = 3

ApiResult = Union[bool, Dict[str, Any], List[Dict[str, Any]]]


class FloodLimits(AIORateLimiter):
    """AIORateLimiter keeps the 30 messages a second of a whole bot, 20 a minute in each group,
    and retries after a 429; it counts private chats only in the overall limit, so each private
    chat gets its own limit here on top."""

    def __init__(self) -> None:
        super().__init__(max_retries=MAX_RETRIES)
        self._chats: LRUCache[int, AsyncLimiter] = LRUCache(maxsize=MEMORY)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, ApiResult]],
        args: Any,
        kwargs: Dict[str, Any],
        endpoint: str,
        data: Dict[str, Any],
        rate_limit_args: Optional[int],
    ) -> ApiResult:
        chat = self._private_chat_limiter(data.get("chat_id"))
        if chat is None:
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        async with chat:
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)

    def _private_chat_limiter(self, chat_id: Any) -> Optional[AsyncLimiter]:
        try:
            chat = int(chat_id)
        except (TypeError, ValueError):
            return None  # no chat (getFile, setWebhook...) or a channel's @name
        if chat < 0:
            return None  # a group: AIORateLimiter has its limit
        limiter = self._chats.get(chat)
        if limiter is None:
            limiter = self._chats[chat] = AsyncLimiter(CHAT_BURST, CHAT_BURST)
        return limiter


def make_bot(settings: Settings) -> ExtBot[int]:
    if settings.telegram_token is None:
        raise ValueError("a Telegram bot needs TELEGRAM_TOKEN")
    base = settings.telegram_api_base_url
    # Bot API servers (the public one and self-hosted ones) serve files under /file/bot<token>.
    return ExtBot(
        settings.telegram_token, base_url=base, base_file_url=base[: -len("bot")] + "file/bot",
        rate_limiter=FloodLimits(),
    )


def keep_token_out_of_logs() -> None:
    # The token is part of every Bot API URL, which httpx logs at INFO and PTB at DEBUG.
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.WARNING)


class Redactor:
    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, error: BaseException) -> str:
        return str(error).replace(self._token, "<TELEGRAM_TOKEN>")
