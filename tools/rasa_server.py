"""`python -m tools.rasa_server run ...`: Rasa's own command line, with fixes applied first.

Rasa 3.6 checks every action-server reply with `jsonschema.validate`, which checks the schema
itself again on each call: about 20 ms of blocked event loop per custom action, two per form step,
so that a report conversation ran at half the stock assistant's throughput (see `make bench`).
The same check with a validator built once costs well under a millisecond.

Two fences around the HTTP server, from the settings (`bot/settings.py`):
- CORS: Rasa's `--cors` would open its whole API (trackers with phone numbers, the model) to the
  origins given. The project never passes it; instead `configure_cors` grants the WEBCHAT_ORIGINS
  (sites that embed the web chat) on the web chat's routes only, and no origin anything else.
- Host: a request whose Host header is not one of `Settings.served_hosts` gets 400 before any
  route, so that a web page cannot reach this server through a name of its own that it points at
  127.0.0.1 (DNS rebinding). Added to the app Rasa builds (`configure_app`), as request middleware.

When a custom action cannot reach the action server (down, restarting, refusing), Rasa 3.6 logs it
in `MessageProcessor._run_action` and goes on without the action's events: the citizen gets
silence (`200 []` on REST). Here the failure (`RemoteAction.run`) drops the whole message instead:
its tracker is not saved, so the citizen's retry finds the conversation (a form half-way) as it was,
and `MessageProcessor.handle_message` says BUSY_MESSAGE through that message's output channel
(REST, web chat, Telegram, Zalo alike) and logs the cause once.

A conversation's lock (Rasa's ticket lock, in Redis with LOCK_STORE_URL) is free once all its
tickets expired (`is_locked`): in Rasa 3.6 a message queued behind a dead server's ticket, whose own
ticket expired within the same second, waited forever.

Rasa 3.6's Redis lock store cannot serialise the messages of one conversation that reach two Rasa
servers at once (RasaHQ/rasa#9213; its fix, a `ConcurrentRedisLockStore`, was reverted from Rasa
Open Source in #11428): each step reads the lock, changes it and writes it back, so two servers
issue the same ticket (both handle the conversation at once: its form loses a step, or a reply
answers the wrong question), and a server ending its message deletes the lock while another's
ticket was just added (that message fails with `LockError`: lost). A ticket also expires after
TICKET_LOCK_LIFETIME whether its message is finished or not (a slow backend call let the next
message in), and a waiting message looks again only every second. Here (`shared_lock`) every change
of the lock is one Redis transaction (WATCH/MULTI, retried when another server wrote in between), a
ticket is renewed while its server still waits or works (so only a dead server's ticket expires,
after LOCK_LIFETIME_S, and the key with it), and a waiting message looks every LOCK_POLL_S: the
messages of a conversation are handled one at a time, in the order they reached Redis, none lost.

The embedded tracker store (SQLite under DATA_DIR, see tools/supervise.py) keeps its connections
and writes in WAL mode (`tracker_engine_kwargs`): Rasa's own settings made it cost 6 ms a message.

Rasa waits 5 minutes for a custom action; an action server that hangs (rather than refuses)
would keep the citizen that long before the busy message: it waits ACTIONS_TIMEOUT_S instead.

A model put live (`PUT /model`: `bot.cli reload`, the admins' retraining and rollback) is loaded in
a thread, while the old one goes on answering (`_loaded_in_a_thread`): Rasa 3.6 loads it on the
event loop, seconds in which the server answers no one and the connections it had just opened to
the action server sit idle until the action server drops them (its keep-alive timeout, 5 s), so
that messages in flight failed with the busy message.

Metrics for Prometheus (`GET /metrics`) and readiness (`GET /ready`): tools/rasa_metrics.py,
installed here.

RASA_API_TOKEN is handed to Rasa here (`--auth-token` added in-process), never on the command line
`make run` builds: anyone on the host can read a command line.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import sys
import time
from collections import deque
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine, Dict, List, Optional, Set, TypeVar

import aiohttp
import rasa.core.actions.action
import rasa.core.run
import rasa.core.tracker_store
import rasa.server
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import Event
from rasa.utils.endpoints import ClientResponseError
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sanic_cors import CORS
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from bot import metrics
from bot.admin.models import live_model
from bot.settings import get_settings
from tools import rasa_metrics

WEBCHAT_ROUTES = r"/webhooks/web/.*"

logger = logging.getLogger(__name__)

# Said on the citizen's channel when a message could not be handled for want of the action server.
BUSY_MESSAGE = "Hệ thống đang bận, bạn vui lòng thử lại sau ít phút nhé."
# Set while a citizen's message is handled: only there is there someone to answer.
_handling_message: ContextVar[bool] = ContextVar("handling_message", default=False)


@lru_cache(maxsize=1)
def _validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    return validator_for(schema)(schema)


def validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    try:
        _validator().validate(result)
    except ValidationError as error:
        # Same message as Rasa's own check, so logs read the same.
        error.message += (
            ". Failed to validate Action server response from API, make sure your response "
            "from the Action endpoint is valid."
        )
        raise
    return True


def configure_cors(app: Sanic, cors_origins: Any = None) -> None:
    """In place of `rasa.server.configure_cors`, which Rasa calls on every app it builds."""
    app.config.CORS_AUTOMATIC_OPTIONS = True
    origins = list(get_settings().webchat_origins) or ""
    # The most specific pattern applies; the page needs no cookies, so none are allowed.
    CORS(app, automatic_options=True, resources={
        WEBCHAT_ROUTES: {"origins": origins, "supports_credentials": False},
        r"/*": {"origins": ""},
    })


def _with_host_check(build: Callable[..., Sanic]) -> Callable[..., Sanic]:
    @wraps(build)
    def configure_app(*args: Any, **kwargs: Any) -> Sanic:
        app = build(*args, **kwargs)
        settings = get_settings()

        async def check_host(request: Request) -> Optional[HTTPResponse]:
            if settings.serves_host(request.headers.get("Host")):
                return None
            return response.json({"error": "unknown Host"}, status=400)

        app.register_middleware(check_host, "request")
        rasa_metrics.add_routes(app)
        return app

    return configure_app


class ActionServerUnreachable(BaseException):
    """A custom action could not reach the action server while a message was handled. Not an
    `Exception`, so that Rasa's handlers around each action (which log it and go on without the
    action's events: the citizen hears nothing) let it through, up to `handle_message`."""


def _connection_failure(error: BaseException) -> Optional[BaseException]:
    """The failure to reach the action server behind `error` (Rasa wraps it), or None."""
    seen: Set[int] = set()
    cause: Optional[BaseException] = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (aiohttp.ClientConnectionError, asyncio.TimeoutError)):
            return cause
        # What a proxy in front of an action server that is down or restarting answers.
        if isinstance(cause, ClientResponseError) and cause.status in (502, 503, 504):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _unreachable_is_raised(run: Callable[..., Awaitable[List[Event]]]) -> Callable[..., Awaitable[List[Event]]]:
    @wraps(run)
    async def run_remote_action(self: RemoteAction, *args: Any) -> List[Event]:
        try:
            return await run(self, *args)
        except Exception as error:
            failure = _connection_failure(error)
            if failure is None or not _handling_message.get():
                raise
            raise ActionServerUnreachable(f"{self.name()}: {type(failure).__name__}: {failure}") from error

    return run_remote_action


def _busy_is_said(handle: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @wraps(handle)
    async def handle_message(self: MessageProcessor, message: UserMessage) -> Any:
        handling = _handling_message.set(True)
        try:
            return await handle(self, message)
        except ActionServerUnreachable as down:
            logger.error("The action server cannot be reached (%s): a message was dropped and its "
                         "sender asked to try again", down)
            metrics.BUSY.labels(metrics.channel_label(message.input_channel)).inc()
            output = message.output_channel
            await output.send_response(message.sender_id, {"text": BUSY_MESSAGE})
            return output.messages if isinstance(output, CollectingOutputChannel) else None
        finally:
            _handling_message.reset(handling)

    return handle_message


def is_locked(self: TicketLock, ticket_number: int) -> bool:
    """Rasa's test, except that a lock whose tickets have all expired is free. Rasa's would keep a
    message whose own ticket expired while it waited (behind a dead server's) waiting forever."""
    now_serving = self.now_serving  # drops the expired tickets
    return bool(self.tickets) and now_serving != ticket_number


# How often a message queued behind another of its conversation looks whether its turn came.
LOCK_POLL_S = 0.05
T = TypeVar("T")


def _change_lock(store: RedisLockStore, conversation_id: str, change: Callable[[TicketLock], T]) -> T:
    """`change` applied to the conversation's lock (an empty one when there is none) and saved, as
    one step for every server: Redis runs it again when another wrote the lock meanwhile. The key
    lasts as long as its longest ticket and goes with the last one."""
    key = store.key_prefix + conversation_id

    def attempt(pipe: Any) -> T:
        saved = pipe.get(key)
        lock = TicketLock.from_dict(json.loads(saved)) if saved else TicketLock(conversation_id)
        result = change(lock)
        lock.remove_expired_tickets()
        pipe.multi()
        if lock.tickets:
            lasts_ms = int(1000 * (max(ticket.expires for ticket in lock.tickets) - time.time()))
            pipe.set(key, lock.dumps(), px=max(lasts_ms, 1))
        else:
            pipe.delete(key)
        return result

    return store.red.transaction(attempt, key, value_from_callable=True)


def _renew(ticket_number: int, lifetime: float) -> Callable[[TicketLock], None]:
    def renew(lock: TicketLock) -> None:
        expires = time.time() + lifetime
        ticket = next((t for t in lock.tickets if t.number == ticket_number), None)
        if ticket is not None:
            ticket.expires = expires
            return
        # Only when this server stalled for longer than the lifetime: back in its place in the queue.
        logger.warning("A conversation's lock ticket had expired while its message was handled or waited")
        lock.tickets = deque(sorted([*lock.tickets, Ticket(ticket_number, expires)], key=lambda t: t.number))

    return renew


def issue_ticket(self: RedisLockStore, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
    return _change_lock(self, conversation_id, lambda lock: lock.issue_ticket(lock_lifetime))


@asynccontextmanager
async def shared_lock(self: RedisLockStore, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME,
                      wait_time_in_seconds: float = LOCK_POLL_S) -> AsyncIterator[TicketLock]:
    """In place of `LockStore.lock` on the Redis lock store (see the module's docstring): holds the
    conversation once every ticket issued before this one is done, renewing this one meanwhile."""
    ticket = self.issue_ticket(conversation_id, lock_lifetime)

    async def keep() -> None:
        while True:
            await asyncio.sleep(lock_lifetime / 3)
            _change_lock(self, conversation_id, _renew(ticket, lock_lifetime))

    keeping = asyncio.ensure_future(keep())
    try:
        while True:
            lock = self.get_lock(conversation_id)
            if lock is None or all(t.number != ticket for t in lock.tickets):
                _change_lock(self, conversation_id, _renew(ticket, lock_lifetime))
                continue
            if lock.now_serving == ticket:
                break
            await asyncio.sleep(min(wait_time_in_seconds, LOCK_POLL_S))
        yield lock
    finally:
        keeping.cancel()
        _change_lock(self, conversation_id, lambda held: held.remove_ticket_for(ticket))


def tracker_engine_kwargs(url: Any) -> Dict[str, Any]:
    """In place of Rasa's `create_engine_kwargs` for its SQL tracker store. On SQLite (the embedded
    default) connections are kept (Rasa's would open one per read or write) in WAL mode with
    `synchronous=NORMAL` (a commit is not flushed to disk at once: a power cut, not a crash, may
    lose the last messages): together a third off the store's cost per message."""
    parsed = make_url(str(url))
    if parsed.get_backend_name() != "sqlite":
        return _rasa_engine_kwargs(url)

    def connect() -> sqlite3.Connection:
        # The event loop's thread uses it; the pool hands it to one user at a time.
        connection = sqlite3.connect(parsed.database or "", check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    return {"poolclass": QueuePool, "creator": connect}


_rasa_engine_kwargs = rasa.core.tracker_store.create_engine_kwargs


class _SaidOnce(logging.Filter):
    """Drops Rasa's own line on a failed connection to the action server while a message is
    handled: `handle_message` logs the same cause with what became of the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_handling_message.get() and record.funcName == "run"
                    and "Couldn't connect" in str(record.msg))


def _loaded_in_a_thread(load: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Awaitable[Any]]:
    """In place of `rasa.server._load_agent`: the same load (a new agent with its own tracker store
    connection; Rasa then hands it the running lock store and swaps it in) on a loop of its own."""
    @wraps(load)
    async def load_agent(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(asyncio.run, load(*args, **kwargs))

    return load_agent


# What `install` replaces, process-wide: a test that installs the patches puts these back after it.
PATCHED = (
    (rasa.core.actions.action, "DEFAULT_REQUEST_TIMEOUT"), (rasa.core.tracker_store, "create_engine_kwargs"),
    (RemoteAction, "_validate_action_result"), (RemoteAction, "run"), (TicketLock, "is_locked"),
    (RedisLockStore, "issue_ticket"), (RedisLockStore, "lock"), (MessageProcessor, "handle_message"),
    (rasa.server, "configure_cors"), (rasa.server, "_load_agent"), (rasa.core.run, "configure_app"),
    *rasa_metrics.PATCHED,
)


def install() -> None:
    rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT = get_settings().actions_timeout_s
    rasa.core.tracker_store.create_engine_kwargs = tracker_engine_kwargs
    RemoteAction._validate_action_result = validate_action_result
    TicketLock.is_locked = is_locked
    RedisLockStore.issue_ticket = issue_ticket
    RedisLockStore.lock = shared_lock
    actions_log = logging.getLogger("rasa.core.actions.action")
    if not any(isinstance(f, _SaidOnce) for f in actions_log.filters):
        actions_log.addFilter(_SaidOnce())
    if not hasattr(RemoteAction.run, "__wrapped__"):
        RemoteAction.run = _unreachable_is_raised(RemoteAction.run)
    if not hasattr(MessageProcessor.handle_message, "__wrapped__"):
        MessageProcessor.handle_message = _busy_is_said(MessageProcessor.handle_message)
    rasa.server.configure_cors = configure_cors
    if not hasattr(rasa.server._load_agent, "__wrapped__"):
        rasa.server._load_agent = _loaded_in_a_thread(rasa.server._load_agent)
    if not hasattr(rasa.core.run.configure_app, "__wrapped__"):
        rasa.core.run.configure_app = _with_host_check(rasa.core.run.configure_app)
    rasa_metrics.install()  # last: its wrapper of handle_message goes around the busy message's


def start_the_live_model(argv: List[str]) -> None:
    """A `--model` of MODELS_DIR becomes the model live now (MODELS_DIR/LIVE): `make run` starts
    this server again with its first command line when it dies, and an admin may have put another
    model live since. A model from elsewhere (a benchmark's) is left as it is."""
    if "--model" not in argv[:-1]:
        return
    given = Path(argv[argv.index("--model") + 1])
    settings = get_settings()
    live = live_model(settings)
    if live is not None and given.parent.resolve() == settings.models_dir.resolve():
        argv[argv.index("--model") + 1] = str(live)


def main() -> None:
    install()
    from rasa.__main__ import main as rasa_main

    start_the_live_model(sys.argv)
    sys.argv[0] = "rasa"
    token = get_settings().rasa_api_token
    if token and sys.argv[1:2] == ["run"]:
        sys.argv += ["--auth-token", token]  # this process's argv: /proc/<pid>/cmdline keeps the original
    rasa_main()


if __name__ == "__main__":
    main()
