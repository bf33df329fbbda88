"""Each process's /metrics (bot/metrics.py) and the Rasa server's /ready, process by process: what a
citizen, an operator or a stranger does moves the counters by as much, under bounded labels, and
nobody reaches the metrics through a proxy. The whole stack at once: tests/e2e/test_metrics_stack.py."""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import aiohttp
import pytest
from rasa.core.agent import Agent
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import create_engine

from bot import followed, outbox, report
from bot.outbox_worker import serve_metrics
from bot.settings import SettingsError, get_settings, load_settings
from channels.limits import MAX_MESSAGE_BODY, MAX_TEXT_CHARS
from channels.rest import RestInput
from tests.support.conversation import COMPLAINT
from tests.support.delivery import BackendProcess, RasaEvents, project_process
from tests.support.feed import UpdatesFeed
from tests.support.metrics import Scrape, parse, scrape
from tests.support.open311 import API, at, create
from tests.support.places import PHU_XUAN
from tests.support.rasa_app import RasaApp
from tests.support.servers import free_port
from tests.support.trackers import PIN_LOCATION
from tools import rasa_metrics
from tools.supervise import health_urls, ports

PROXIED = {"X-Forwarded-For": "203.0.113.7"}


async def get(url: str, headers: Optional[Dict[str, str]] = None) -> int:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers or {}) as response:
        return response.status


# The routing backend ---------------------------------------------------------------------------

async def test_the_backend_counts_reports_once_and_requests_by_route(routing_backend):
    await routing_backend.start()
    root = routing_backend.url.removesuffix(API)
    before = await scrape(f"{root}/metrics")
    async with aiohttp.ClientSession(root) as client:
        first = await create(client, **at(PHU_XUAN), channel="telegram", idempotency_key="k" * 64)
        again = await create(client, **at(PHU_XUAN), channel="telegram", idempotency_key="k" * 64)
        assert (first.status, again.status) == (201, 200)  # the same report, sent twice
        assert (await create(client, **at(PHU_XUAN), channel="fax")).status == 201
        code = (await first.json())[0]["service_request_id"]
        assert (await client.get(f"{API}/requests/{code}.json")).status == 200
        assert (await client.get("/no/such/page")).status == 404
        assert (await client.request("PROPFIND", f"{API}/requests.json")).status == 405
    after = await scrape(f"{root}/metrics")

    assert after.moved(before, "hue_backend_reports_created_total", channel="telegram") == 1
    assert after.moved(before, "hue_backend_reports_created_total", channel="other") == 1  # no series per name
    posts = {"route": f"{API}/requests.json", "method": "POST"}
    assert after.moved(before, "hue_backend_requests_total", **posts, status="201") == 2
    assert after.moved(before, "hue_backend_requests_total", **posts, status="200") == 1
    assert after.moved(before, "hue_backend_request_seconds_count", route=f"{API}/requests.json") == 3
    # A report's page is counted under its route's template, never under its code.
    assert after.moved(before, "hue_backend_requests_total", route=f"{API}/requests/{{id}}.json") == 1
    assert not [key for key in after.samples if code in str(key)]
    assert after.moved(before, "hue_backend_requests_total", route="unmatched", status="404") == 1
    assert after.moved(before, "hue_backend_requests_total", method="other", status="405") == 1
    assert not [key for key in after.samples if "PROPFIND" in str(key)]


async def test_the_backend_s_metrics_are_not_served_through_a_proxy(routing_backend):
    await routing_backend.start()
    root = routing_backend.url.removesuffix(API)
    assert await get(f"{root}/metrics", PROXIED) == 404
    assert await get(f"{root}/metrics", {"Forwarded": "for=203.0.113.7"}) == 404
    assert await get(f"{root}/metrics") == 200


# The channels' refusals, on the Rasa server's /metrics ---------------------------------------------

@pytest.fixture
async def rest(monkeypatch):
    """The REST channel on Rasa's app with the Rasa server's routes (tools/rasa_metrics.py)."""
    monkeypatch.setenv("SENDER_MESSAGES_PER_MINUTE", "2")
    get_settings.cache_clear()
    served = RasaApp(RestInput(), reply=lambda message: [{"text": "Dạ"}])
    rasa_metrics.add_routes(served.app)
    async with served:
        yield served


async def test_refused_messages_are_counted_by_channel_and_reason(rest):
    webhook = f"{rest.url}/webhooks/rest/webhook"
    before = await scrape(f"{rest.url}/metrics")
    async with aiohttp.ClientSession() as http:
        async def post(**body: Any) -> int:
            async with http.post(webhook, **body) as response:
                return response.status

        assert await post(data=b"{not json") == 400
        assert await post(data=b"x" * (MAX_MESSAGE_BODY + 1)) == 413
        assert await post(json={"sender": "minh", "message": "a" * (MAX_TEXT_CHARS + 1)}) == 400
        assert [await post(json={"sender": "lan", "message": "xin chào"}) for _ in range(2)] == [200, 200]
        assert await post(json={"sender": "lan", "message": "xin chào"}) == 429
    after = await scrape(f"{rest.url}/metrics")

    moved = {reason: after.moved(before, "hue_webhook_rejections_total", channel="rest", reason=reason)
             for reason in ("malformed", "too_large", "too_long", "rate_limited", "unauthorized")}
    assert moved == {"malformed": 1, "too_large": 1, "too_long": 1, "rate_limited": 1, "unauthorized": 0}
    # Nobody's id or text in any label.
    assert not [key for key in after.samples if "lan" in str(key) or "minh" in str(key) or "xin" in str(key)]
    assert await get(f"{rest.url}/metrics", PROXIED) == 404


# The Rasa server's messages --------------------------------------------------------------------

class Processor:
    domain = Domain.from_dict({"intents": ["greet", "report_issue"]})


def tracker_after(intent: str, *actions: str) -> DialogueStateTracker:
    events = [UserUttered("…", intent={"name": intent, "confidence": 1.0}),
              *(ActionExecuted(action) for action in actions)]
    return DialogueStateTracker.from_events("rest:lan", events)


def test_an_intent_the_model_does_not_have_is_counted_as_other():
    # A message typed as `/anything` reaches the policies with that intent: no series for it.
    assert rasa_metrics._intent(Processor(), tracker_after("greet")) == "greet"
    assert rasa_metrics._intent(Processor(), tracker_after("anything_typed")) == "other"


def test_a_button_s_words_typed_at_its_question_count_as_the_button():
    skip = {"title": "⏭️ Bỏ qua", "payload": "/deny"}
    asked = BotUttered("Bạn gửi ảnh hiện trường nhé.", data={"buttons": [skip]})
    processor = Processor()
    processor.domain = Domain.from_dict({"intents": ["deny", "cancel", "nlu_fallback"]})

    def after(*said: UserUttered) -> DialogueStateTracker:
        return DialogueStateTracker.from_events("rest:lan", [asked, *said])

    # The NLU reads "bo qua" as cancelling the whole report; at the photo question it skips the photos.
    assert rasa_metrics._intent(processor, after(UserUttered("bo qua", intent={"name": "cancel"}))) == "deny"
    unsure = after(UserUttered("Bỏ qua", intent={"name": "nlu_fallback"}))
    assert rasa_metrics._intent(processor, unsure) == "deny"
    assert not rasa_metrics._fell_back(unsure, rasa_metrics._intent(processor, unsure))
    # Elsewhere, or other words, are what the NLU read.
    later = after(UserUttered("ok"), UserUttered("bo qua", intent={"name": "cancel"}))
    assert rasa_metrics._intent(processor, later) == "cancel"
    assert rasa_metrics._intent(processor, after(UserUttered("hủy", intent={"name": "cancel"}))) == "cancel"


def test_a_fallback_is_the_nlu_s_or_the_policies_own():
    assert rasa_metrics._fell_back(tracker_after("nlu_fallback", "action_fallback"), "nlu_fallback")
    # Understood, but the policies found nothing to do: their fallback action.
    assert rasa_metrics._fell_back(tracker_after("greet", "action_fallback", "action_listen"), "greet")
    assert not rasa_metrics._fell_back(tracker_after("greet", "utter_greet", "action_listen"), "greet")
    # A fallback of an earlier message is not this one's.
    earlier = tracker_after("greet", "action_fallback")
    earlier.update(UserUttered("chào", intent={"name": "greet"}))
    assert not rasa_metrics._fell_back(earlier, "greet")


# The Rasa server's readiness -------------------------------------------------------------------

class LoadedAgent:
    """Rasa's Agent once a model is loaded, with the given stores (what /ready looks at)."""

    def __init__(self, tracker_store: Any, lock_store: Any) -> None:
        self.tracker_store, self.lock_store = tracker_store, lock_store

    def is_ready(self) -> bool:
        return True


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port where nothing listens, nor will during the test (bound, never listening)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


@pytest.fixture
async def ready(data_dir):
    """GET /ready on Rasa's app, whose agent the test sets."""
    served = RasaApp(RestInput())
    rasa_metrics.add_routes(served.app)
    async with served:
        async def answer(agent: Any) -> tuple:
            served.app.ctx.agent = agent
            async with aiohttp.ClientSession() as http, http.get(f"{served.url}/ready") as response:
                return response.status, await response.json()

        yield answer


def sqlite_trackers(data_dir: Path) -> SQLTrackerStore:
    data_dir.mkdir(parents=True, exist_ok=True)
    return SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(data_dir / "trackers.sqlite3"))


async def test_ready_only_with_a_model_and_stores_that_answer(ready, data_dir, closed_port):
    assert await ready(Agent()) == (503, {"status": "not ready", "model": False})  # no model loaded yet
    trackers = sqlite_trackers(data_dir)
    assert await ready(LoadedAgent(trackers, InMemoryLockStore())) == (
        200, {"status": "ready", "model": True, "tracker_store": True, "lock_store": True})
    # Redis gone: nothing listens where the lock store points.
    status, checks = await ready(LoadedAgent(trackers, RedisLockStore(port=closed_port, socket_timeout=1)))
    assert (status, checks["lock_store"], checks["tracker_store"]) == (503, False, True)


async def test_not_ready_while_the_tracker_store_s_database_is_down(ready, data_dir, closed_port):
    trackers = sqlite_trackers(data_dir)
    # The tracker store's PostgreSQL gone (Rasa would not even start without it).
    trackers.engine = create_engine(f"postgresql://postgres@127.0.0.1:{closed_port}/rasa")
    status, checks = await ready(LoadedAgent(trackers, InMemoryLockStore()))
    assert (status, checks["tracker_store"], checks["lock_store"]) == (503, False, True)


# The workers ------------------------------------------------------------------------------------

def test_worker_metrics_ports_are_settings_and_0_turns_them_off():
    assert (load_settings({}).outbox_metrics_port, load_settings({}).notifier_metrics_port) == (9105, 9106)
    off = load_settings({"OUTBOX_METRICS_PORT": "0", "NOTIFIER_METRICS_PORT": "0"})
    assert (off.outbox_metrics_port, off.notifier_metrics_port) == (0, 0)
    with pytest.raises(SettingsError, match="RASA_PORT and OUTBOX_METRICS_PORT are both 5005"):
        load_settings({"OUTBOX_METRICS_PORT": "5005"})
    with pytest.raises(SettingsError, match="NOTIFIER_METRICS_PORT must be a whole number"):
        load_settings({"NOTIFIER_METRICS_PORT": "prometheus"})


def test_make_run_waits_for_the_workers_metrics_and_checks_their_ports_are_free():
    settings = load_settings({})
    assert (ports(settings)["outbox"], ports(settings)["notifier"]) == (9105, 9106)
    assert health_urls(settings)["outbox"] == "http://127.0.0.1:9105/metrics"
    off = load_settings({"OUTBOX_METRICS_PORT": "0", "NOTIFIER_METRICS_PORT": "0"})
    assert "outbox" not in ports(off) and "notifier" not in health_urls(off)


def test_a_taken_metrics_port_costs_the_metrics_not_the_worker(caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR):
            serve_metrics(port, "127.0.0.1")  # no exception: the worker goes on delivering
    assert f"metrics not served on 127.0.0.1:{port}" in caplog.text


async def metrics_once(port: int, condition: Callable[[Scrape], bool], what: str, timeout_s: float = 60) -> Scrape:
    """A worker's metrics once `condition` holds on them (it may not serve them yet at first)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            got = await scrape(f"http://127.0.0.1:{port}/metrics")
            if condition(got):
                return got
        except aiohttp.ClientConnectionError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}")
        await asyncio.sleep(0.2)


def queue(count: int) -> None:
    for number in range(count):
        sender = f"telegram:{200 + number}"
        fields = report.request_fields({"description": COMPLAINT, "category": "chieu_sang", "location": PIN_LOCATION,
                                        "photos": []}, sender, "telegram", f"{number:064d}")
        outbox.save(fields)


@pytest.mark.slow
async def test_the_outbox_worker_shows_what_waits_and_what_it_delivered(data_dir, closed_port):
    queue(2)
    port = free_port()
    async with RasaEvents() as rasa:
        env = {"DATA_DIR": str(data_dir), "RASA_PORT": rasa.url.rsplit(":", 1)[1], "OUTBOX_RETRY_S": "0.5",
               "BACKEND_TIMEOUT_S": "1", "OUTBOX_METRICS_PORT": str(port)}
        # The backend down: both reports wait, and the age of the oldest grows.
        with project_process("bot.outbox_worker", {**env, "BACKEND_URL": f"http://127.0.0.1:{closed_port}/v2"}):
            down = await metrics_once(
                port, lambda m: m.total("hue_outbox_steps_total", step="delivery", outcome="failed") >= 2,
                "two failed deliveries")
        assert down.total("hue_outbox_depth", step="delivery") == 2
        assert down.total("hue_outbox_depth", step="notification") == 0
        assert down.total("hue_outbox_oldest_seconds", step="delivery") > 0
        # The backend back: both delivered, both citizens told, nothing waits.
        backend = BackendProcess(data_dir)
        with backend.running(), project_process("bot.outbox_worker", {**env, "BACKEND_URL": backend.url}):
            done = await metrics_once(
                port, lambda m: m.total("hue_outbox_steps_total", step="notification", outcome="sent") == 2,
                "both citizens told")
            # The backend's own count agrees.
            backend_metrics = await scrape(f"{backend.url.removesuffix(API)}/metrics")
    assert done.total("hue_outbox_steps_total", step="delivery", outcome="sent") == 2
    assert done.total("hue_outbox_depth") == 0 and done.total("hue_outbox_oldest_seconds") == 0
    assert backend_metrics.total("hue_backend_reports_created_total", channel="telegram") == 2


@pytest.mark.slow
async def test_the_notifier_counts_what_it_told_and_what_failed_by_channel(data_dir):

    followed.record("PA000001", "telegram:1", "telegram")
    followed.record("PA000002", "zalo:2", "zalo")
    port = free_port()
    async with UpdatesFeed() as feed, RasaEvents() as rasa:
        rasa.unreachable.add("zalo:2")  # e.g. silent for more than Zalo's 48 hours
        env = {"DATA_DIR": str(data_dir), "BACKEND_URL": feed.base, "BACKEND_TIMEOUT_S": "2",
               "RASA_PORT": rasa.url.rsplit(":", 1)[1], "NOTIFY_INTERVAL_S": "0.3", "OUTBOX_RETRY_S": "0.5",
               "NOTIFIER_METRICS_PORT": str(port)}
        with project_process("bot.notifier", env):
            feed.publish("PA000001", "in_progress", "Đang xử lý")
            feed.publish("PA000002", "in_progress", "Đang xử lý")
            told = await metrics_once(
                port, lambda m: m.total("hue_notifications_total", channel="zalo", outcome="failed") >= 2
                and m.total("hue_notifications_total", channel="telegram") == 1, "one told, one failing")
    assert told.total("hue_notifications_total", channel="telegram", outcome="sent") == 1
    assert told.total("hue_notifications_total", channel="zalo", outcome="sent") == 0
    assert len(rasa.texts("telegram:1")) == 1


def test_the_scrape_reader_sums_labelled_samples():
    text = ('# TYPE hue_messages counter\nhue_messages_total{channel="web",intent="greet"} 2.0\n'
            'hue_messages_total{channel="web",intent="report_issue"} 3.0\n'
            'hue_messages_total{channel="rest",intent="greet"} 1.0\n')
    assert parse(text).total("hue_messages_total", channel="web") == 5
    assert parse(text).total("hue_messages_total", intent="greet") == 3
    assert parse(text).total("hue_messages_total", channel="zalo") == 0
