"""The Rasa server's metrics (`bot/metrics.py`) and readiness, installed by tools/rasa_server.py.

- Each citizen's message (`MessageProcessor.handle_message`, which every channel calls; Rasa's
  HTTP API, the outbox and the notifier do not) is counted by channel and by the intent the NLU read
  (one of the model's; a typed `/anything` is "other"; a button's words typed at its question, the
  button's), timed by channel to the last reply, and counted as a fallback when its intent is
  nlu_fallback or the policies chose action_fallback.
- `GET /metrics` serves them, except to a request that came through a proxy (404, `metrics.proxied`).
- `GET /ready` is 200 once a model is loaded and the tracker store and the lock store answer, else
  503 with what is missing: what a load balancer or an orchestrator waits for before sending
  citizens (`GET /` answers as soon as the HTTP server runs, model or not).
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import text

from bot import metrics, report

logger = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTION = "action_fallback"  # config.yml's core_fallback_action_name
READY_TIMEOUT_S = 5.0
# The stores' checks block (drivers are synchronous): in threads of their own, so that a store that
# hangs while /ready is polled holds these two and never the threads Rasa itself runs work in.
_checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ready")


@dataclass
class _Turn:
    """What the handling of one message learnt: its conversation, once read."""

    tracker: Optional[DialogueStateTracker] = None


_turn: ContextVar[Optional[_Turn]] = ContextVar("metrics_turn", default=None)


def _shown_buttons(tracker: DialogueStateTracker) -> List[Dict[str, Any]]:
    """The buttons of the question the latest message answers (none if it answered none)."""
    answering = False
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            if answering:
                return []
            answering = True
        elif answering and isinstance(event, BotUttered) and (event.data or {}).get("buttons"):
            return list(event.data["buttons"])
    return []


def _intent(processor: MessageProcessor, tracker: DialogueStateTracker) -> str:
    """The message's intent; a button's words typed at its question count as the button, as the
    report form reads them ("bỏ qua" skips the photos: not `cancel`, nor the NLU's fallback)."""
    message = tracker.latest_message
    name = (message.intent or {}).get("name") if message else None
    typed = report.typed_button(message.text or "", _shown_buttons(tracker)) if message else None
    if typed:
        name = report.payload_intent(typed)
    return str(name) if name in processor.domain.intents else metrics.OTHER


def _fell_back(tracker: DialogueStateTracker, intent: str) -> bool:
    if intent == FALLBACK_INTENT:
        return True
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, ActionExecuted) and event.action_name == FALLBACK_ACTION:
            return True
    return False


def _counted(handle: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @wraps(handle)
    async def handle_message(self: MessageProcessor, message: UserMessage) -> Any:
        channel = metrics.channel_label(message.input_channel)
        turn = _Turn()
        reset = _turn.set(turn)
        try:
            with metrics.MESSAGE_SECONDS.labels(channel).time():
                return await handle(self, message)
        finally:
            _turn.reset(reset)
            if turn.tracker is not None:
                intent = _intent(self, turn.tracker)
                metrics.MESSAGES.labels(channel, intent).inc()
                if _fell_back(turn.tracker, intent):
                    metrics.FALLBACKS.labels(channel).inc()

    handle_message.counted = True  # type: ignore[attr-defined]
    return handle_message


def _seen(log: Callable[..., Awaitable[DialogueStateTracker]]) -> Callable[..., Awaitable[DialogueStateTracker]]:
    @wraps(log)
    async def log_message(self: MessageProcessor, message: UserMessage, *args: Any, **kwargs: Any
                          ) -> DialogueStateTracker:
        tracker = await log(self, message, *args, **kwargs)
        turn = _turn.get()
        if turn is not None:  # the same tracker, updated in place until the message is handled
            turn.tracker = tracker
        return tracker

    return log_message


async def _answers(check: Callable[[], Any], what: str) -> bool:
    """Whether `check` (blocking: run in a thread) succeeds within READY_TIMEOUT_S."""
    try:
        await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(_checks, check), READY_TIMEOUT_S)
    except Exception as exc:  # whatever the driver raises: the store does not answer
        logger.warning("ready: the %s does not answer: %s: %s", what, type(exc).__name__, exc)
        return False
    return True


def _select_one(engine: Any) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def _store_answers(store: Any, what: str) -> bool:
    """A SQL store runs `SELECT 1`, a Redis one is pinged; an in-memory one always answers."""
    store = getattr(store, "_tracker_store", store)  # Rasa's AwaitableTrackerStore wraps the real one
    if getattr(store, "engine", None) is not None:
        return await _answers(lambda: _select_one(store.engine), what)
    if getattr(store, "red", None) is not None:
        return await _answers(store.red.ping, what)
    return store is not None


async def readiness(agent: Any) -> Dict[str, bool]:
    is_ready = getattr(agent, "is_ready", None)
    if not (callable(is_ready) and is_ready()):
        return {"model": False}
    return {"model": True, "tracker_store": await _store_answers(agent.tracker_store, "tracker store"),
            "lock_store": await _store_answers(agent.lock_store, "lock store")}


def add_routes(app: Sanic) -> None:
    @app.get("/metrics")
    async def hue_metrics(request: Request) -> HTTPResponse:
        if metrics.proxied(request.headers):
            return response.json({"error": "not found"}, status=404)
        body, content_type = metrics.exposition()
        return response.raw(body, content_type=content_type)

    @app.get("/ready")
    async def hue_ready(request: Request) -> HTTPResponse:
        checks = await readiness(getattr(request.app.ctx, "agent", None))
        ok = all(checks.values())
        return response.json({"status": "ready" if ok else "not ready", **checks}, status=200 if ok else 503)


# What `install` replaces, process-wide.
PATCHED = ((MessageProcessor, "handle_message"), (MessageProcessor, "log_message"))


def install() -> None:
    """Wraps Rasa's message handling (outside tools/rasa_server.py's own wrappers, so that the
    time includes the busy message)."""
    if not getattr(MessageProcessor.handle_message, "counted", False):
        MessageProcessor.handle_message = _counted(MessageProcessor.handle_message)
    if not hasattr(MessageProcessor.log_message, "__wrapped__"):
        MessageProcessor.log_message = _seen(MessageProcessor.log_message)
