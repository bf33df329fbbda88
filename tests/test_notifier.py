"""The notifier (`python -m bot.notifier`) as a process, against a stand-in of an Open311 server's
updates feed and of Rasa's HTTP API: every change of a report filed through the assistant reaches
its citizen once, whatever restarts or fails in between, and a citizen out of reach holds nobody
else back."""
from __future__ import annotations

import asyncio
import signal
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from aiohttp import web

from bot import followed, notices, notifier
from bot.settings import DEV_API_KEY
from tests.support.delivery import RasaEvents, project_process
from tests.support.feed import UpdatesFeed
from tests.support.servers import Standin, eventually

pytestmark = pytest.mark.slow

PHOTO = "http://127.0.0.1:8000/media/after.jpg"


def notifier_env(data_dir: Path, feed: UpdatesFeed, rasa: RasaEvents, store: Optional[Dict[str, str]] = None,
                 ) -> Dict[str, str]:
    """`store`: the `assistant_store` fixture's environment, when the test runs on both stores."""
    return {"DATA_DIR": str(data_dir), "BACKEND_URL": feed.base, "BACKEND_TIMEOUT_S": "2",
            "RASA_PORT": rasa.url.rsplit(":", 1)[1], "NOTIFY_INTERVAL_S": "0.3", "OUTBOX_RETRY_S": "0.5",
            "RASA_TIMEOUT_S": "5", **(store or {})}


def follow(data_dir: Path, count: int, channel: str = "telegram") -> List[str]:
    """`count` reports PA000001... filed by different citizens; their senders."""
    senders = [f"{channel}:{100 + i}" for i in range(count)]
    for i, sender in enumerate(senders, start=1):
        followed.record(f"PA{i:06d}", sender, channel)
    return senders


async def test_each_change_reaches_its_citizen_once_even_across_a_restart(data_dir):
    [sender] = follow(data_dir, 1)
    async with UpdatesFeed() as feed, RasaEvents() as rasa:
        env = notifier_env(data_dir, feed, rasa)
        with project_process("bot.notifier", env) as first:
            feed.publish("PA000001", "in_progress", "Đội vệ sinh đang thu gom")
            feed.publish("PA000777", "in_progress", "Báo cáo không qua trợ lý")  # nobody to tell
            await eventually(lambda: rasa.texts(sender), "the citizen told", timeout_s=30)
            feed.publish("PA000001", "resolved", "Đã thu gom xong", media_url=PHOTO)
            await eventually(lambda: rasa.triggers, "the conversation run on after the resolution", timeout_s=30)
            first.send_signal(signal.SIGTERM)
            # Waited for off the event loop, where the stand-in may still be answering the trigger.
            assert await asyncio.to_thread(first.wait, 20) == 0
        reads_before = len(feed.reads)
        with project_process("bot.notifier", env):
            await eventually(lambda: len(feed.reads) > reads_before + 2, "the feed read again", timeout_s=30)
    progress, resolved = rasa.told(sender)
    [update_id] = [item["update_id"] for item in feed.items
                   if item["service_request_id"] == "PA000001" and item["state"] == "in_progress"]
    assert progress["body"] == [{"event": "bot", "text": "Phản ánh PA000001 của bạn có cập nhật mới: đang xử lý.\n"
                                 "Ghi chú của đơn vị xử lý: Đội vệ sinh đang thu gom",
                                 "metadata": {"hue_message_key": f"notice:{update_id}"}}]
    [event] = resolved["body"]
    assert "PA000001" in event["text"] and "đã xử lý xong" in event["text"] and "Đã thu gom xong" in event["text"]
    assert event["data"] == {"image": PHOTO}  # the after-photo
    assert progress["query"] == {"output_channel": "latest", "execute_side_effects": "true"}
    [trigger] = rasa.triggers
    assert trigger["sender"] == sender and trigger["query"] == {"output_channel": "latest"}
    assert trigger["body"] == {"name": "EXTERNAL_report_resolved", "entities": {"report_id": "PA000001"}}
    assert [call["sender"] for call in rasa.calls] == [sender, sender]  # nothing to PA000777's, nothing twice
    # Read with the assistant's key; after the restart from where it stopped, not from a day back.
    assert {read["key"] for read in feed.reads} == {DEV_API_KEY}
    newest = datetime.fromisoformat(feed.items[-1]["updated_datetime"])
    restart_read = datetime.fromisoformat(feed.reads[reads_before]["start_date"])
    assert newest - timedelta(minutes=11) < restart_read <= newest


async def test_a_notifier_stopped_while_telling_finishes_the_message_and_nobody_tells_it_again(data_dir):
    [sender] = follow(data_dir, 1)
    async with UpdatesFeed() as feed, RasaEvents() as rasa:
        rasa.delay_s = 2  # the message is out; Rasa's answer is still on its way
        env = notifier_env(data_dir, feed, rasa)
        with project_process("bot.notifier", env) as first:
            feed.publish("PA000001", "in_progress", "Đội vệ sinh đang thu gom")
            await eventually(lambda: rasa.calls, "the message on its way", timeout_s=30)
            first.send_signal(signal.SIGTERM)
            # Waited for off the event loop, where the stand-in must answer the message meanwhile.
            assert await asyncio.to_thread(first.wait, 20) == 0
        rasa.delay_s = 0
        reads_before = len(feed.reads)
        with project_process("bot.notifier", env):
            await eventually(lambda: len(feed.reads) > reads_before + 2, "the feed read again", timeout_s=30)
    assert len(rasa.calls) == 1 and len(rasa.texts(sender)) == 1


async def test_rasa_answering_after_the_notifier_gave_up_waiting_tells_and_asks_once(data_dir):
    """Rasa takes the message (and the question after a resolution) but answers later than
    RASA_TIMEOUT_S: the notifier counts a failure, and its next attempt finds each in the
    conversation instead of sending it again."""
    [sender] = follow(data_dir, 1)
    async with UpdatesFeed() as feed, RasaEvents() as rasa:
        rasa.delay_s = 2
        with project_process("bot.notifier", {**notifier_env(data_dir, feed, rasa), "RASA_TIMEOUT_S": "1"}):
            feed.publish("PA000001", "resolved", "Đã thu gom xong")
            await eventually(lambda: notices.rows() and notices.rows()[0]["state"] == "sent", "the update told",
                             timeout_s=30)
            [row] = notices.rows()
    assert row["failures"] == 2  # the message, then the question
    assert rasa.looks == 2
    assert len(rasa.texts(sender)) == 1 and len(rasa.triggers) == 1


async def test_two_notifiers_at_once_tell_each_change_once(data_dir, assistant_store):
    senders = follow(data_dir, 8)
    async with UpdatesFeed() as feed, RasaEvents() as rasa:
        env = notifier_env(data_dir, feed, rasa, assistant_store)
        with project_process("bot.notifier", env), project_process("bot.notifier", env):
            for i in range(1, 9):
                feed.publish(f"PA{i:06d}", "assigned", "Đã chuyển phường")
                feed.publish(f"PA{i:06d}", "in_progress", "Đang xử lý")
            await eventually(lambda: all(len(rasa.texts(s)) == 2 for s in senders), "every change told",
                             timeout_s=60)
            await eventually(lambda: len(feed.reads) > 6, "both read the feed again meanwhile", timeout_s=30)
    for sender in senders:
        first, second = rasa.texts(sender)  # each once, in order
        assert "đã chuyển đơn vị xử lý" in first and "đang xử lý" in second
    assert len(rasa.calls) == 16


async def test_rasa_down_then_back_tells_the_change_later_and_once(data_dir):
    [sender] = follow(data_dir, 1)
    async with UpdatesFeed() as feed, RasaEvents(status=503) as rasa:
        with project_process("bot.notifier", notifier_env(data_dir, feed, rasa)):
            feed.publish("PA000001", "in_progress", "Đang xử lý")
            await eventually(lambda: len(rasa.calls) >= 2, "two tries", timeout_s=30)
            [row] = notices.rows()
            assert row["state"] == "pending" and row["failures"] >= 1 and "503" in row["last_error"]
            rasa.status = 200
            await eventually(lambda: rasa.texts(sender), "the citizen told", timeout_s=30)
            await eventually(lambda: notices.rows()[0]["state"] == "sent", "the update marked told", timeout_s=10)
    assert len(rasa.texts(sender)) == 1


async def test_a_citizen_out_of_reach_holds_nobody_else_back(data_dir):
    blocked, other = follow(data_dir, 2)
    async with UpdatesFeed() as feed, RasaEvents() as rasa:
        rasa.unreachable.add(blocked)
        with project_process("bot.notifier", notifier_env(data_dir, feed, rasa)):
            feed.publish("PA000001", "in_progress", "Đang xử lý")  # the blocked citizen's, first
            feed.publish("PA000002", "in_progress", "Đang xử lý")
            await eventually(lambda: rasa.texts(other), "the other citizen told", timeout_s=30)
            await eventually(lambda: notices.rows()[0]["failures"] >= 2, "the blocked one tried again", timeout_s=30)
    blocked_row, other_row = notices.rows()
    assert blocked_row["state"] == "pending" and "blocked by the user" in blocked_row["last_error"]
    assert other_row["state"] == "sent" and rasa.texts(blocked) == []


@pytest.mark.usefixtures("assistant_store")
def test_a_report_s_first_filing_is_the_one_followed():
    followed.record("PA000001", "telegram:1", "telegram")
    followed.record("PA000001", "web:2", "web")  # e.g. a confirmation repeated elsewhere
    followed.follow("PA000001", "zalo:3", "zalo", now=2)
    followed.follow("PA000001", "web:4", "web", now=1)
    followed.follow("PA000001", "web:4", "web", now=3)  # following twice changes nothing
    found = followed.followers(["PA000001", "PA000002"])
    assert list(found) == ["PA000001"] and found["PA000001"].sender_id == "telegram:1"
    assert followed.followers([]) == {}
    assert [(f.sender_id, f.filer) for f in followed.everyone(["PA000001", "PA000002"])["PA000001"]] == [
        ("telegram:1", True), ("web:4", False), ("zalo:3", False)]


@pytest.mark.usefixtures("assistant_store")
def test_an_update_told_is_not_kept_again():
    item = {"update_id": 7, "service_request_id": "PA000001", "updated_datetime": "2026-12-03T10:00:00+07:00"}
    assert notices.add("server-a", [(item, "telegram:1")]) == 1
    assert notices.add("server-a", [(item, "telegram:1")]) == 0
    assert notices.add("server-b", [(item, "telegram:1")]) == 1  # another server's update 7
    moment = datetime(2026, 12, 3, 3, tzinfo=timezone.utc)
    notices.advance("server-a", moment)
    notices.advance("server-a", moment - timedelta(hours=1))  # an older read never goes back
    assert notices.read_until("server-a") == moment and notices.read_until("server-c") is None
    notices.advance("server-a", moment + timedelta(minutes=1))
    assert notices.read_until("server-a") == moment + timedelta(minutes=1)


async def test_those_who_follow_a_report_hear_of_it_but_only_its_filer_is_asked_to_rate_it(data_dir):
    [filer] = follow(data_dir, 1)
    path = data_dir / "followed.sqlite3"
    followers = ["zalo:201", "web:abc"]
    for sender in followers + followers[:1]:  # following twice changes nothing
        followed.follow("PA000001", sender, sender.split(":")[0], path)
    async with UpdatesFeed() as feed, RasaEvents() as rasa:
        with project_process("bot.notifier", notifier_env(data_dir, feed, rasa)):
            feed.publish("PA000001", "in_progress", "Đang thay bóng")
            feed.publish("PA000001", "resolved", "Đã thay bóng", media_url=PHOTO)
            await eventually(lambda: all(len(rasa.texts(s)) == 2 for s in [filer, *followers]), "everyone told",
                             timeout_s=30)
            await eventually(lambda: rasa.triggers, "the filer asked about the resolution", timeout_s=30)
    for sender in [filer, *followers]:
        first, second = rasa.texts(sender)  # each once, in order
        assert "đang xử lý" in first and "đã xử lý xong" in second
    assert [trigger["sender"] for trigger in rasa.triggers] == [filer]


async def test_a_reopening_is_told_to_those_who_follow_not_to_the_filer_who_asked_for_it(data_dir):
    [filer] = follow(data_dir, 1)
    followed.follow("PA000001", "zalo:201", "zalo", data_dir / "followed.sqlite3")
    async with UpdatesFeed() as feed, RasaEvents() as rasa:
        with project_process("bot.notifier", notifier_env(data_dir, feed, rasa)):
            feed.publish("PA000001", "assigned", "Người dân báo vấn đề chưa được khắc phục", kind="reopen")
            feed.publish("PA000001", "in_progress", "Đang sửa lại")
            await eventually(lambda: len(rasa.texts("zalo:201")) == 2 and rasa.texts(filer), "both told",
                             timeout_s=30)
    reopened, progress = rasa.texts("zalo:201")
    assert reopened == ("Phản ánh PA000001 được mở lại và chuyển lại cho đơn vị xử lý.\n"
                        "Người dân báo vấn đề chưa được khắc phục")
    [told] = rasa.texts(filer)  # the filer said it is not fixed: only the agency's work is news
    assert "đang xử lý" in told and "Đang sửa lại" in told


def test_a_reassignment_names_the_agency_that_has_the_report_now():
    item = {"service_request_id": "PA000007", "state": "assigned", "status": "open", "kind": "reassign",
            "description": "Việc của công an phường", "agency_responsible": "Công an phường Phú Xuân"}
    text, data = notifier.notice_message(item)
    assert text == ("Phản ánh PA000007 của bạn đã được chuyển cho Công an phường Phú Xuân xử lý.\n"
                    "Lý do: Việc của công an phường")
    assert data == {}


def test_a_notices_file_from_before_followers_is_kept_and_told_to_each(data_dir):
    path = data_dir / notices.FILENAME
    old = ("CREATE TABLE notices (id INTEGER PRIMARY KEY, server TEXT NOT NULL, update_id TEXT NOT NULL, "
           "code TEXT NOT NULL, sender_id TEXT NOT NULL, item TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', "
           "said INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, last_error TEXT, "
           "seen_at REAL NOT NULL, next_attempt REAL NOT NULL DEFAULT 0, claimed_by TEXT, "
           "claimed_until REAL NOT NULL DEFAULT 0, UNIQUE (server, update_id))")
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(old)
        db.execute("INSERT INTO notices (server, update_id, code, sender_id, item, seen_at) "
                   "VALUES ('s', '7', 'PA000001', 'telegram:1', '{}', 0)")
    item = {"update_id": 7, "service_request_id": "PA000001", "updated_datetime": "2026-12-03T10:00:00+07:00"}
    assert notices.add("s", [(item, "telegram:1"), (item, "zalo:2")], path) == 1  # the follower's is new
    assert [(row["update_id"], row["sender_id"]) for row in notices.rows(path)] == [("7", "telegram:1"),
                                                                                    ("7", "zalo:2")]


class HungRasa(Standin):
    """A Rasa that takes the notifier's call and never gets to sending anything: the notifier
    waiting on it holds its claim. `arrived` counts the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = 0
        self._stopping = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tail:.*}", self._hang)

    async def _hang(self, request: web.Request) -> web.Response:
        self.arrived += 1
        await self._stopping.wait()
        return web.json_response({}, status=503)

    async def stop(self) -> None:
        self._stopping.set()
        await super().stop()


@pytest.mark.postgres
@pytest.mark.parametrize("assistant_store", ["postgres"], indirect=True)
async def test_a_notifier_killed_holding_a_change_on_another_host_s_store_leaves_it_to_the_other_once(
        data_dir, assistant_store):
    """Two hosts' notifiers on one PostgreSQL store (ASSISTANT_STORE_URL): one dies (SIGKILL) while
    holding a change it had not told yet; the other tells the rest meanwhile, and that change once
    the dead one's lease is over, once."""
    senders = follow(data_dir, 3)
    async with UpdatesFeed() as feed, RasaEvents() as rasa, HungRasa() as hung:
        feed.publish("PA000001", "in_progress", "Đang xử lý")
        with project_process("bot.notifier", notifier_env(data_dir, feed, hung, assistant_store)) as dead:
            await eventually(lambda: hung.arrived, "the first change on its way", timeout_s=30)
            with project_process("bot.notifier", notifier_env(data_dir, feed, rasa, assistant_store)):
                dead.kill()
                feed.publish("PA000002", "in_progress", "Đang xử lý")
                feed.publish("PA000003", "in_progress", "Đang xử lý")
                await eventually(lambda: all(rasa.texts(sender) for sender in senders[1:]), "the other changes told",
                                 timeout_s=30)
                [held] = [row for row in notices.rows() if row["sender_id"] == senders[0]]
                assert held["state"] == "pending" and held["claimed_by"] and not rasa.told(senders[0])
                await eventually(lambda: rasa.texts(senders[0]), "the dead notifier's change told", timeout_s=90)
    assert [len(rasa.texts(sender)) for sender in senders] == [1, 1, 1] and len(rasa.calls) == 3
    assert hung.arrived == 1
