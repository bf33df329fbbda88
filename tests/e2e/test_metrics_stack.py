"""The metrics of the whole stack as `make run` starts it: a Telegram citizen files a report and hears
of its progress, a REST user is not understood, strangers knock at the webhooks, and each process's
/metrics (Rasa server, action server, backend, outbox worker, notifier) moves by exactly that.
Process by process: tests/test_metrics.py."""
from __future__ import annotations

import asyncio
from typing import Dict, Iterator

import aiohttp
import pytest

from tests.support import telegram, zalo
from tests.support.conversation import Citizen
from tests.support.metrics import Scrape, scrape
from tests.support.platforms import telegram_citizen
from tests.support.servers import eventually
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.slow

INTERVAL_S = 1


@pytest.fixture(scope="module")
def stack(tmp_path_factory, platforms) -> Iterator[Stack]:
    env = {**platforms.env(), "NOTIFY_INTERVAL_S": str(INTERVAL_S)}
    with running_stack(tmp_path_factory.mktemp("stack") / "data", env=env) as running:
        yield running


def endpoints(stack: Stack) -> Dict[str, str]:
    local = "http://127.0.0.1"
    return {"rasa": f"{stack.rasa_url}/metrics", "actions": f"{stack.actions_url}/metrics",
            "backend": f"{local}:{stack.backend_port}/metrics",
            "outbox": f"{local}:{stack.outbox_metrics_port}/metrics",
            "notifier": f"{local}:{stack.notifier_metrics_port}/metrics"}


async def scrape_all(stack: Stack) -> Dict[str, Scrape]:
    return {name: await scrape(url) for name, url in endpoints(stack).items()}


async def status(url: str, **headers: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        return response.status


async def test_every_process_counts_what_citizens_and_strangers_did(stack, platforms):
    before = await scrape_all(stack)
    citizen = telegram_citizen(stack, platforms)
    code = await citizen.file_report()
    lost = Citizen(stack, "lost")
    lost.say("/nlu_fallback")  # the NLU unsure of what was meant
    stranger = telegram.message_update(10_000, text="xin chào")
    assert await telegram.post_update(stack.rasa_url, stranger, "not-the-secret") == 403
    assert await zalo.post_event(stack.rasa_url, zalo.event("user_send_text", "z1", text="xin chào"),
                                 "not-the-oa-secret") == 403
    async with aiohttp.ClientSession() as http, http.post(f"{stack.rasa_url}/webhooks/web/webhook",
                                                           json={"message": "no sender"}) as refused:
        assert refused.status == 400
    stack.set_state(code, "in_progress", "Đội điện lực đang thay bóng")
    await eventually(lambda: any("Đội điện lực đang thay bóng" in t for t in citizen.bot_texts()),
                     "the citizen told of the change", timeout_s=30)
    # Counted once Rasa has answered the notifier, a moment after the citizen saw the message.
    for _ in range(50):
        after = await scrape_all(stack)
        if after["notifier"].moved(before["notifier"], "hue_notifications_total", channel="telegram"):
            break
        await asyncio.sleep(0.2)

    def moved(process: str, name: str, **labels: str) -> float:
        return after[process].moved(before[process], name, **labels)

    # The Rasa server: each message the citizen sent, by channel and intent, timed; the fallback.
    sent = citizen.messages_sent
    assert moved("rasa", "hue_messages_total", channel="telegram") == sent
    assert moved("rasa", "hue_messages_total", channel="telegram", intent="report_issue") == 1
    assert moved("rasa", "hue_message_seconds_count", channel="telegram") == sent
    assert moved("rasa", "hue_messages_total", channel="rest", intent="nlu_fallback") == 1
    assert moved("rasa", "hue_messages_total", channel="rest") == 1
    assert moved("rasa", "hue_fallbacks_total", channel="rest") == 1
    assert moved("rasa", "hue_fallbacks_total", channel="telegram") == 0
    assert moved("rasa", "hue_webhook_rejections_total", channel="telegram", reason="unauthorized") == 1
    assert moved("rasa", "hue_webhook_rejections_total", channel="zalo", reason="unauthorized") == 1
    assert moved("rasa", "hue_webhook_rejections_total", channel="web", reason="malformed") == 1
    assert moved("rasa", "hue_webhook_rejections_total", channel="telegram", reason="rate_limited") == 0
    assert not [key for key in after["rasa"].samples if "lost" in str(key) or "xin" in str(key)]
    # The action server and the backend: one report, from Telegram.
    assert moved("actions", "hue_reports_submitted_total", channel="telegram", outcome="sent") == 1
    assert moved("actions", "hue_reports_submitted_total", outcome="queued") == 0
    assert moved("backend", "hue_backend_reports_created_total", channel="telegram") == 1
    assert moved("backend", "hue_backend_requests_total", route="/open311/v2/requests.json", method="POST",
                 status="201") == 1
    # Nothing waited in the outbox; the notifier told the change.
    assert after["outbox"].total("hue_outbox_depth") == 0
    assert after["outbox"].has("hue_outbox_oldest_seconds")
    assert moved("notifier", "hue_notifications_total", channel="telegram", outcome="sent") == 1


async def test_ready_and_no_metrics_through_a_proxy(stack):
    async with aiohttp.ClientSession() as http, http.get(f"{stack.rasa_url}/ready") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ready", "model": True, "tracker_store": True, "lock_store": True}
    for name in ("rasa", "actions", "backend"):
        assert await status(endpoints(stack)[name], **{"X-Forwarded-For": "203.0.113.7"}) == 404, name
        assert await status(endpoints(stack)[name]) == 200, name
