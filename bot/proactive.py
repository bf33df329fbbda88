"""Messages to a citizen that nobody asked for, through the Rasa server's HTTP API: Rasa sends
them on the channel the citizen last used (`output_channel=latest`). Used by the outbox worker
(a queued report's code) and the notifier (a report's changes).

Each call answers why it failed, or None: Rasa unreachable or slower than RASA_TIMEOUT_S, or an
error status, which is also what Rasa answers when the channel could not send (a citizen who
blocked the bot, Zalo's 48 hours): the channels raise on a failed send when Rasa's API asks them
to (`get_output_channel()`), and Rasa then keeps nothing of the message in the conversation.

A message Rasa took but answered too late (or whose worker died waiting) may have reached the
citizen: it carries a key in its metadata (MARK), and the next attempt looks for that key in the
conversation before saying it again (`say_once`; a follow-up run after it, `trigger_once`), as
Rasa's API has no idempotency key of its own.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote, urlencode

import aiohttp

from bot.settings import Settings

CAUSE_CHARS = 300  # of Rasa's error message, kept with the failure
MARK = "hue_message_key"  # the bot event's metadata naming what the message tells (channels ignore it)

Events = List[Dict[str, Any]]


def _url(settings: Settings, sender_id: str, endpoint: str, **params: str) -> str:
    if settings.rasa_api_token:
        params["token"] = settings.rasa_api_token
    return (f"{settings.effective_rasa_url}/conversations/"
            f"{quote(sender_id, safe='')}/{endpoint}?{urlencode(params)}")


async def _call(http: aiohttp.ClientSession, settings: Settings, method: str, url: str,
                body: Any = None) -> Tuple[Any, Optional[str]]:
    """Rasa's answer (decoded JSON) or why there is none."""
    try:
        async with http.request(method, url, json=body,
                                timeout=aiohttp.ClientTimeout(total=settings.rasa_timeout_s)) as answer:
            try:
                decoded = await answer.json(content_type=None)
            except ValueError:
                decoded = None
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return None, f"Rasa unreachable ({exc.__class__.__name__})"
    if answer.status == 200:
        return decoded, None
    detail = decoded.get("message") if isinstance(decoded, dict) else None
    return None, f"Rasa answered HTTP {answer.status}" + (f": {str(detail)[:CAUSE_CHARS]}" if detail else "")


async def say(http: aiohttp.ClientSession, settings: Settings, sender_id: str, text: str,
              data: Optional[Dict[str, Any]] = None, key: Optional[str] = None) -> Optional[str]:
    """Says `text` (with `data`: `buttons`, `image`; marked with `key`) to the citizen; why it
    failed, or None."""
    event: Dict[str, Any] = {"event": "bot", "text": text}
    if data:
        event["data"] = data
    if key:
        event["metadata"] = {MARK: key}
    url = _url(settings, sender_id, "tracker/events", output_channel="latest", execute_side_effects="true")
    return (await _call(http, settings, "POST", url, [event]))[1]


async def events_since(http: aiohttp.ClientSession, settings: Settings, sender_id: str,
                       key: str) -> Tuple[Optional[Events], Optional[str]]:
    """The conversation's events after the message said with `key` (None if it holds none), or
    why Rasa could not tell."""
    tracker, failure = await _call(http, settings, "GET", _url(settings, sender_id, "tracker", include_events="ALL"))
    if failure:
        return None, failure
    events = tracker.get("events") if isinstance(tracker, dict) else None
    if not isinstance(events, list):
        return None, "Rasa answered a tracker without events"
    for i, event in reversed(list(enumerate(events))):
        if event.get("event") == "bot" and (event.get("metadata") or {}).get(MARK) == key:
            return events[i + 1:], None
    return None, None


async def say_once(http: aiohttp.ClientSession, settings: Settings, sender_id: str, key: str, text: str,
                   data: Optional[Dict[str, Any]] = None, maybe_said: bool = False) -> Optional[str]:
    """`say`, unless an earlier attempt that may have reached Rasa (`maybe_said`) did say it."""
    if maybe_said:
        since, failure = await events_since(http, settings, sender_id, key)
        if failure:
            return failure
        if since is not None:
            return None
    return await say(http, settings, sender_id, text, data, key)


async def trigger(http: aiohttp.ClientSession, settings: Settings, sender_id: str, intent: str,
                  entities: Dict[str, Any]) -> Optional[str]:
    """Runs the conversation on as if the citizen had said `intent`; why it failed, or None."""
    url = _url(settings, sender_id, "trigger_intent", output_channel="latest")
    return (await _call(http, settings, "POST", url, {"name": intent, "entities": entities}))[1]


async def trigger_once(http: aiohttp.ClientSession, settings: Settings, sender_id: str, key: str, intent: str,
                       entities: Dict[str, Any], maybe_triggered: bool = False) -> Optional[str]:
    """`trigger` after the message said with `key`, unless an earlier attempt that may have
    reached Rasa (`maybe_triggered`) did run it."""
    if maybe_triggered:
        since, failure = await events_since(http, settings, sender_id, key)
        if failure:
            return failure
        if since is not None and triggered(since, intent):
            return None
    return await trigger(http, settings, sender_id, intent, entities)


def triggered(events: Events, intent: str) -> bool:
    """Whether `events` hold the conversation run on with `intent` (`trigger`)."""
    return any(event.get("event") == "user" and ((event.get("parse_data") or {}).get("intent") or {}).get("name")
               == intent for event in events)
