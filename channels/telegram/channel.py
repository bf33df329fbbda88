"""The Telegram input channel: the webhook Rasa mounts, checked against the shared secret.

Configuration comes from the environment (`bot.settings`): without TELEGRAM_TOKEN and
TELEGRAM_WEBHOOK_SECRET the channel is off and its webhook answers 503.
"""
from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Dict, Optional

from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from telegram import Update

from bot import metrics
from bot.settings import Settings, get_settings
from channels.state import ChannelState, open_state
from channels.telegram.api import CHANNEL, SECRET_HEADER, Redactor, keep_token_out_of_logs, make_bot
from channels.telegram.keyboards import Keyboards
from channels.telegram.replies import TelegramOutput
from channels.telegram.updates import OnNewMessage, UpdateHandler

logger = logging.getLogger(__name__)


class TelegramInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> "TelegramInput":
        # credentials.yml lists the channel without config: everything comes from the environment.
        return cls(get_settings())

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.off_reason = settings.telegram_off_reason()
        self.output: Optional[TelegramOutput] = None
        self.state: Optional[ChannelState] = None
        if self.off_reason:
            logger.info("Telegram channel is off: %s", self.off_reason)
            return
        keep_token_out_of_logs()
        self.state = open_state(settings)
        # Keys carry the bot's id (the token's public part): bots sharing a Redis never mix.
        namespace = f"{CHANNEL}:{(settings.telegram_token or '').split(':')[0]}"
        self.output = TelegramOutput(
            make_bot(settings), Keyboards(self.state, namespace), Redactor(settings.telegram_token or "")
        )

    def get_output_channel(self) -> Optional[OutputChannel]:
        # Only Rasa's HTTP API asks for it (messages sent unprompted): its caller must learn of a
        # message Telegram refused (a citizen who blocked the bot).
        return self.output.for_unprompted() if self.output else None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        bp = Blueprint("hue_telegram", __name__)
        updates = (
            UpdateHandler(self.settings, self.output, self.state, on_new_message)
            if self.output and self.state else None
        )
        secret = (self.settings.telegram_webhook_secret or "").encode()

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> response.HTTPResponse:
            return response.json({"status": "ok" if updates else "off"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> response.HTTPResponse:
            if updates is None:
                return response.json({"error": "the Telegram channel is off"}, status=503)
            given = request.headers.get(SECRET_HEADER)
            if not given or not hmac.compare_digest(given.encode(), secret):
                metrics.rejected(CHANNEL, metrics.UNAUTHORIZED)
                error = "wrong secret token" if given else "missing secret token"
                return response.json({"error": error}, status=403 if given else 401)
            try:
                update = Update.de_json(json.loads(request.body), updates.bot)
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
                metrics.rejected(CHANNEL, metrics.MALFORMED)
                return response.json({"error": "not a Telegram update"}, status=400)
            await updates.handle(update)
            return response.json({"ok": True})

        if updates is not None:
            bp.listener("before_server_start")(lambda *_: updates.start())
            bp.listener("after_server_stop")(lambda *_: updates.stop())
        return bp
