"""Rasa's REST channel (`rest`, `POST /webhooks/rest/webhook`), for development and integrators,
held to the rules of the other channels.

- With RASA_API_TOKEN set it requires that token, as Rasa's HTTP API does (`?token=`, or an
  `Authorization: Bearer` header); unset, the server is local only (`Settings.check_exposure`).
- Who a REST sender is, only the REST channel vouches for: the conversation of sender
  "telegram:123" is "rest:telegram:123" (`channels.output.sender_id`), never that Telegram user's,
  so it can neither continue their conversation nor list their reports. The channel and user id
  in the metadata are set here as well, whatever the body claims.
- A body that is no JSON object or too large, a text too long, or too many messages from one
  sender get a 4xx `{"error": "<Vietnamese>"}` at once (`channels.limits`).

Everything else is Rasa's `RestInput` (`?stream=true` included).
"""
from __future__ import annotations

import hmac
import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import metrics
from bot.settings import get_settings
from channels.limits import InboundLimits, json_body
from channels.output import sender_id

logger = logging.getLogger(__name__)

CHANNEL = "rest"
MAX_SENDER_CHARS = 100  # the conversation id is an account id on the backend (128 at most)

BAD_REQUEST = (
    'Yêu cầu không hợp lệ: cần JSON {"sender": "...", "message": "..."} (metadata là một object, nếu có).'
)
NO_TOKEN = "Cần token (?token= hoặc Authorization: Bearer)."
WRONG_TOKEN = "Token không đúng."


def _error(message: str, status: int) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def _given_token(request: Request) -> Optional[str]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[len("bearer "):].strip()
    return request.args.get("token")


def _well_formed(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("sender"), str)
        and 0 < len(body["sender"]) <= MAX_SENDER_CHARS
        and isinstance(body.get("message"), str)
        and isinstance(body.get("metadata", {}), (dict, type(None)))
    )


class RestInput(RasaRestInput):
    async def _extract_sender(self, req: Request) -> Optional[str]:
        return sender_id(CHANNEL, req.json["sender"])

    def _extract_input_channel(self, req: Request) -> str:
        # The body's `input_channel` would let it pass for another channel.
        return CHANNEL

    def get_metadata(self, request: Request) -> Optional[Dict[str, Any]]:
        return {**(request.json.get("metadata") or {}), "channel": CHANNEL, "user_id": request.json["sender"]}

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = super().blueprint(on_new_message)
        settings = get_settings()
        token = (settings.rasa_api_token or "").encode()
        limits = InboundLimits(settings, CHANNEL)

        # Blueprint middleware runs for this channel's routes only, before Rasa's handler.
        @bp.middleware("request")
        async def refuse(request: Request) -> Optional[HTTPResponse]:
            if request.method != "POST":
                return None
            if token:
                given = _given_token(request)
                if not given or not hmac.compare_digest(given.encode(), token):
                    metrics.rejected(CHANNEL, metrics.UNAUTHORIZED)
                    return _error(WRONG_TOKEN, 403) if given else _error(NO_TOKEN, 401)
            too_large, body = json_body(request.body, CHANNEL)
            if too_large:
                return _error(too_large.text, too_large.status)
            if not _well_formed(body):
                metrics.rejected(CHANNEL, metrics.MALFORMED)
                return _error(BAD_REQUEST, 400)
            request.parsed_json = body  # Rasa's handler reads it from here, not parsed again
            refusal = await limits.message(sender_id(CHANNEL, body["sender"]), body["message"])
            if refusal:
                logger.info("REST message of %r refused: %s", body["sender"], refusal.text)
                return _error(refusal.text, refusal.status)
            return None

        return bp
