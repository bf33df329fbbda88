"""Telegram without a public URL, for development: `python -m channels.telegram.poll`.

Long-polls the Bot API for updates and posts each one, as Telegram itself would, to the local Rasa
server's webhook with the secret header, so the channel runs exactly the code it runs in
production. Start it next to `make run`, with the same TELEGRAM_* variables.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys

import aiohttp
from telegram.error import InvalidToken, TelegramError

from bot.settings import Settings, start_process
from channels.telegram.api import (
    ALLOWED_UPDATES,
    SECRET_HEADER,
    WEBHOOK_PATH,
    Redactor,
    keep_token_out_of_logs,
    make_bot,
)

logger = logging.getLogger("channels.telegram.poll")

POLL_TIMEOUT_S = 30
RETRY_S = 2.0


async def forward(http: aiohttp.ClientSession, url: str, secret: str, update: dict) -> None:
    """Posts one update to the webhook; waits for Rasa while it is starting or restarting."""
    body = json.dumps(update).encode()
    headers = {SECRET_HEADER: secret, "Content-Type": "application/json"}
    while True:
        try:
            async with http.post(url, data=body, headers=headers) as response:
                if response.status < 300:
                    return
                if response.status < 500:
                    logger.error("Rasa refused update %s: HTTP %s", update["update_id"], response.status)
                    return
                problem = f"HTTP {response.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            problem = exc.__class__.__name__
        logger.warning("Rasa not ready at %s (%s), retrying update %s", url, problem, update["update_id"])
        await asyncio.sleep(RETRY_S)


async def poll(settings: Settings) -> None:
    secret = settings.telegram_webhook_secret or ""
    url = f"http://127.0.0.1:{settings.rasa_port}{WEBHOOK_PATH}"
    redact = Redactor(settings.telegram_token or "")
    offset = None
    async with make_bot(settings) as bot, aiohttp.ClientSession() as http:
        await bot.delete_webhook()  # the Bot API refuses getUpdates while a webhook is set
        logger.info("Polling Telegram as @%s, forwarding to %s", bot.username, url)
        while True:
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=POLL_TIMEOUT_S, allowed_updates=ALLOWED_UPDATES
                )
            except TelegramError as exc:
                logger.warning("getUpdates failed: %s; retrying", redact(exc))
                await asyncio.sleep(RETRY_S)
                continue
            for update in updates:
                await forward(http, url, secret, update.to_dict())
                offset = update.update_id + 1  # confirmed to Telegram by the next getUpdates


def main() -> int:
    settings = start_process()
    reason = settings.telegram_off_reason()
    if reason:
        print(f"Telegram is not configured: {reason}", file=sys.stderr)
        return 2
    keep_token_out_of_logs()
    try:
        asyncio.run(poll(settings))
    except InvalidToken:  # its own message quotes the token
        print("The Bot API rejected TELEGRAM_TOKEN", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
