"""The outbox worker (`python -m bot.outbox_worker`) as a process, against the routing backend as a
process behind a door that can answer late, and a stand-in for Rasa's events API: every queued
report is filed exactly once and its citizen told its code once, whatever fails in between."""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from bot import followed, outbox, report
from tests.support.conversation import COMPLAINT, REPORT_CODE
from tests.support.delivery import BackendProcess, LateBackend, RasaEvents, project_process
from tests.support.servers import eventually
from tests.support.trackers import PIN_LOCATION

pytestmark = pytest.mark.slow

SLOTS = {"description": COMPLAINT, "category": "chieu_sang", "location": PIN_LOCATION, "photos": []}


def queue(count: int) -> List[str]:
    """`count` confirmed reports of different citizens, waiting in the outbox; their senders."""
    senders = [f"telegram:{100 + i}" for i in range(count)]
    for sender in senders:
        key = report.idempotency_key(sender, [{"event": "active_loop", "timestamp": 1764748800.5,
                                               "name": "report_form"}])
        outbox.save(report.request_fields(SLOTS, sender, "telegram", key))
    return senders


@pytest.fixture
def backend(data_dir):
    backend = BackendProcess(data_dir)
    with backend.running():
        yield backend


def worker_env(data_dir: Path, door: LateBackend, rasa: RasaEvents, timeout_s: float = 1,
               store: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """`store`: the `assistant_store` fixture's environment, when the test runs on both stores."""
    return {"DATA_DIR": str(data_dir), "BACKEND_URL": f"{door.url}/open311/v2", "BACKEND_TIMEOUT_S": str(timeout_s),
            "RASA_PORT": rasa.url.rsplit(":", 1)[1], "OUTBOX_RETRY_S": "0.5",
            # The settings refuse an action server that would give up before three backend calls.
            "ACTIONS_TIMEOUT_S": str(max(60.0, 3 * timeout_s + 1)), **(store or {})}


def told(rasa: RasaEvents, senders: List[str]) -> bool:
    return all(rasa.texts(sender) for sender in senders)


def assert_filed_once_and_told_once(backend: BackendProcess, rasa: RasaEvents, senders: List[str]):
    reports = backend.reports()
    assert [r["description"] for r in reports] == [COMPLAINT] * len(senders)
    agencies = {r["service_request_id"]: r["agency_responsible"] for r in reports}
    told_codes = []
    for sender in senders:
        [text] = rasa.texts(sender)  # told once
        [code] = REPORT_CODE.findall(text)
        assert f"Đơn vị xử lý: {agencies[code]}." in text
        told_codes.append(code)
    assert sorted(told_codes) == sorted(agencies)
    assert outbox.pending() == []
    # Each report is its citizen's for the notifier.
    filers = followed.followers(told_codes)
    assert {code: filer.sender_id for code, filer in filers.items()} == dict(zip(told_codes, senders, strict=True))


async def test_a_backend_answering_past_the_timeout_still_gets_one_report(backend, data_dir):
    [sender] = queue(1)
    async with LateBackend(backend.root, late=1, delay_s=3) as door, RasaEvents() as rasa:
        with project_process("bot.outbox_worker", worker_env(data_dir, door, rasa)):
            await eventually(lambda: told(rasa, [sender]), "the citizen told the code", timeout_s=60)
    # The first answer came too late, the worker asked again with the same key...
    assert len(door.posts) == 2 and door.posts[0]["idempotency_key"] == door.posts[1]["idempotency_key"]
    # ...and the backend, which had stored the first, filed nothing new.
    assert_filed_once_and_told_once(backend, rasa, [sender])
    [call] = rasa.calls
    assert call["query"] == {"output_channel": "latest", "execute_side_effects": "true"}
    assert call["body"][0]["event"] == "bot"


async def test_two_workers_at_once_send_each_report_once(backend, data_dir, assistant_store):
    senders = queue(8)
    # Every answer a little late, so that both workers are busy at the same time.
    async with LateBackend(backend.root, late=8, delay_s=0.3) as door, RasaEvents() as rasa:
        env = worker_env(data_dir, door, rasa, timeout_s=5, store=assistant_store)
        with project_process("bot.outbox_worker", env), project_process("bot.outbox_worker", env):
            await eventually(lambda: told(rasa, senders), "every citizen told the code", timeout_s=60)
    assert len(door.posts) == len(senders)  # not once more, even for the backend to refuse
    assert len({post["idempotency_key"] for post in door.posts}) == len(senders)
    assert_filed_once_and_told_once(backend, rasa, senders)


async def test_a_worker_stopped_mid_delivery_and_started_again_sends_nothing_twice(backend, data_dir):
    senders = queue(3)
    async with LateBackend(backend.root, late=1, delay_s=30) as door, RasaEvents() as rasa:
        env = worker_env(data_dir, door, rasa, timeout_s=20)
        with project_process("bot.outbox_worker", env) as first:
            # The backend stored the first report; its answer is still on the way.
            await eventually(lambda: door.posts, "the first create", timeout_s=30)
            await eventually(lambda: backend.reports(), "the first report stored", timeout_s=10)
            first.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(first.wait, 10) == 0  # stops at once, cleanly
        assert not rasa.calls
        with project_process("bot.outbox_worker", env):
            await eventually(lambda: told(rasa, senders), "every citizen told the code", timeout_s=60)
    assert len(door.posts) == 4 and door.posts[0]["idempotency_key"] == door.posts[1]["idempotency_key"]
    assert_filed_once_and_told_once(backend, rasa, senders)


async def test_rasa_down_when_the_report_is_delivered_tells_the_citizen_later_and_once(backend, data_dir):
    [sender] = queue(1)
    async with LateBackend(backend.root) as door, RasaEvents(status=503) as rasa:
        with project_process("bot.outbox_worker", worker_env(data_dir, door, rasa)):
            await eventually(lambda: len(rasa.calls) >= 2, "two tries to tell the citizen", timeout_s=30)
            [row] = outbox.pending()
            assert row["code"] and row["failures"] >= 1 and "503" in row["last_error"]
            rasa.status = 200
            await eventually(lambda: not outbox.pending(), "the row done", timeout_s=30)
    assert len(door.posts) == 1  # delivered once, told when Rasa was back
    assert rasa.calls[-1]["sender"] == sender and len([c for c in rasa.calls if c["sender"] == sender]) >= 2


async def test_rasa_answering_after_the_worker_gave_up_waiting_tells_the_code_once(backend, data_dir):
    """Rasa takes the code's message but answers later than RASA_TIMEOUT_S: the next attempt finds
    it in the conversation instead of sending it again."""
    [sender] = queue(1)
    async with LateBackend(backend.root) as door, RasaEvents() as rasa:
        rasa.delay_s = 2
        with project_process("bot.outbox_worker", {**worker_env(data_dir, door, rasa), "RASA_TIMEOUT_S": "1"}):
            await eventually(lambda: rasa.looks, "the conversation looked at", timeout_s=30)
            await eventually(lambda: not outbox.pending(), "the row done", timeout_s=30)
    assert_filed_once_and_told_once(backend, rasa, [sender])
    assert len(rasa.calls) == 1


async def test_a_queued_report_the_backend_refuses_is_dropped_and_its_citizen_told_why(backend, data_dir):
    sender = "zalo:refused"
    fields = report.request_fields(SLOTS, sender, "zalo", "key-of-a-refused-report")
    # A category the routing backend does not have (e.g. removed while the report waited).
    outbox.save({**fields, "service_code": "da_bo"})
    async with LateBackend(backend.root) as door, RasaEvents() as rasa:
        with project_process("bot.outbox_worker", worker_env(data_dir, door, rasa)):
            await eventually(lambda: rasa.texts(sender), "the citizen told", timeout_s=30)
            await eventually(lambda: not outbox.pending(), "the row dropped", timeout_s=10)
    [text] = rasa.texts(sender)
    assert text.startswith("Hệ thống tiếp nhận chưa nhận phản ánh này: ") and "gửi lại" in text, text
    assert len(door.posts) == 1 and backend.reports() == []


@pytest.mark.postgres
@pytest.mark.parametrize("assistant_store", ["postgres"], indirect=True)
async def test_a_worker_killed_holding_a_report_on_another_host_s_store_leaves_it_to_the_other_once(
        backend, data_dir, assistant_store):
    """Two hosts' workers on one PostgreSQL store (ASSISTANT_STORE_URL): one dies (SIGKILL, no
    goodbye) while the backend is storing its report; the other takes that report only once the
    dead one's lease is over, files nothing new for it and tells its citizen once."""
    senders = queue(4)
    async with LateBackend(backend.root, late=1, delay_s=60) as door, RasaEvents() as rasa:
        env = worker_env(data_dir, door, rasa, timeout_s=3, store=assistant_store)
        with project_process("bot.outbox_worker", env) as dead:
            await eventually(lambda: door.posts, "the first create", timeout_s=30)
            with project_process("bot.outbox_worker", env):
                dead.kill()
                # (Told once Rasa has the message; the row is done when the worker hears back.)
                await eventually(lambda: told(rasa, senders[1:]) and len(outbox.pending()) == 1,
                                 "the other citizens told", timeout_s=60)
                # The dead worker's report waits for its lease, not for ever.
                [held] = outbox.pending()
                assert held["fields"]["account_id"] == senders[0] and held["claimed_by"]
                assert len(door.posts) == 4
                await eventually(lambda: told(rasa, senders[:1]), "the dead worker's citizen told", timeout_s=60)
    assert len(door.posts) == 5 and door.posts[0]["idempotency_key"] == door.posts[4]["idempotency_key"]
    assert_filed_once_and_told_once(backend, rasa, senders)
