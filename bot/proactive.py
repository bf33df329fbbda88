"""Messages to a citizen that nobody asked for, through the Rasa server's HTTP API: Rasa sends
them on the channel the citizen last used (`output_channel=latest`). Used by the outbox worker
(a queued report's code) and the notifier (a report's changes).

Each call answers why it failed, or None: Rasa unreachable, or an error status, which is also what
Rasa answers when the channel could not send (a citizen who blocked the bot, Zalo's 48 hours): the
channels raise on a failed send when Rasa's API asks them to (`get_output_channel()`), and Rasa
then keeps nothing of the message in the conversation.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, Optional
from urllib.parse import quote, urlencode

import aiohttp

from bot.settings import Settings

RASA_TIMEOUT_S = 10.0
CAUSE_CHARS = 300  # of Rasa's error message, kept with the failure


def _url(settings: Settings, sender_id: str, endpoint: str, **params: str) -> str:
    params = {"output_channel": "latest", **params}
    if settings.rasa_api_token:
        params["token"] = settings.rasa_api_token
    return (f"{settings.effective_rasa_url}/conversations/"
            f"{quote(sender_id, safe='')}/{endpoint}?{urlencode(params)}")


async def _post(http: aiohttp.ClientSession, url: str, body: Any) -> Optional[str]:
    try:
        async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=RASA_TIMEOUT_S)) as answer:
            if answer.status == 200:
                return None
            try:
                detail = (await answer.json(content_type=None) or {}).get("message")
            except (ValueError, AttributeError, aiohttp.ClientError):
                detail = None
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return f"Rasa unreachable ({exc.__class__.__name__})"
    return f"Rasa answered HTTP {answer.status}" + (f": {str(detail)[:CAUSE_CHARS]}" if detail else "")


async def say(http: aiohttp.ClientSession, settings: Settings, sender_id: str, text: str,
              data: Optional[Dict[str, Any]] = None) -> Optional[str]:
    """Says `text` (with `data`: `buttons`, `image`) to the citizen; why it failed, or None."""
    event: Dict[str, Any] = {"event": "bot", "text": text}
    if data:
        event["data"] = data
    return await _post(http, _url(settings, sender_id, "tracker/events", execute_side_effects="true"), [event])


async def trigger(http: aiohttp.ClientSession, settings: Settings, sender_id: str, intent: str,
                  entities: Dict[str, Any]) -> Optional[str]:
    """Runs the conversation on as if the citizen had said `intent`; why it failed, or None."""
    return await _post(http, _url(settings, sender_id, "trigger_intent"), {"name": intent, "entities": entities})
