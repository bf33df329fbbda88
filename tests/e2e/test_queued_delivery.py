"""End to end under `make run` (tests/support/stack.py): a report confirmed while the routing
backend is down waits in the outbox; once the backend is back, the outbox worker started by
`make run` files it and its citizen is told the code in their conversation, on the channel they
used (REST, Telegram's and Zalo's stand-ins), without saying anything more."""
from __future__ import annotations

import asyncio
import os
import re
import signal
from typing import Iterator, Tuple

import pytest
import requests

from tests.support.conversation import COMPLAINT, Citizen, payloads, text
from tests.support.delivery import BackendProcess, LateBackend
from tests.support.places import THUAN_HOA
from tests.support.platforms import telegram_citizen, zalo_citizen
from tests.support.servers import BackgroundLoop, eventually
from tests.support.stack import Stack, running_stack
from tools.processes import wait_until_up

pytestmark = pytest.mark.slow

SENT = re.compile(r"Mã phản ánh của bạn: (PA\d{6})\.\nĐơn vị xử lý: (.+)\.")


def bot_texts(rasa_url: str, sender: str) -> list:
    tracker = requests.get(f"{rasa_url}/conversations/{sender}/tracker", timeout=10).json()
    return [event.get("text") or "" for event in tracker["events"] if event["event"] == "bot"]


async def test_a_report_queued_while_the_backend_is_down_reaches_it_and_its_code_the_citizen(tmp_path):
    data_dir = tmp_path / "stack"
    backend = BackendProcess(data_dir)  # not running yet
    env = {"BACKEND_URL": backend.url, "BACKEND_TIMEOUT_S": "2", "OUTBOX_RETRY_S": "1"}
    with running_stack(data_dir, env=env) as stack:
        citizen = Citizen(stack, "queued")
        citizen.say(COMPLAINT)
        citizen.say("/affirm")  # the category
        citizen.pin(THUAN_HOA)
        citizen.say("/deny")  # no photos
        replies = citizen.say("/affirm")  # send
        assert "tạm gián đoạn" in text(replies) and not SENT.search(text(replies)), replies

        with backend.running():
            told = await eventually(lambda: [m for t in bot_texts(stack.rasa_url, citizen.sender)
                                             if (m := SENT.search(t))],
                                    "the code in the citizen's conversation", timeout_s=60)
            [(code, agency)] = [m.groups() for m in told]
            [stored] = backend.reports(account_id=citizen.sender)
    assert stored["service_request_id"] == code and stored["agency_responsible"] == agency
    assert stored["description"] == COMPLAINT


@pytest.fixture(scope="module")
def chat_stack(tmp_path_factory, platforms) -> Iterator[Tuple[Stack, LateBackend, BackendProcess]]:
    """Telegram and Zalo on, their stand-ins, and the routing backend behind a door that can
    refuse creates (photos still go through)."""
    data_dir = tmp_path_factory.mktemp("chat-stack")
    backend = BackendProcess(data_dir)
    with backend.running():
        door = platforms.loop.run(LateBackend(backend.root).start())
        env = {**platforms.env(), "BACKEND_URL": f"{door.url}/open311/v2", "BACKEND_TIMEOUT_S": "2",
               "OUTBOX_RETRY_S": "1"}
        try:
            with running_stack(data_dir, env=env) as stack:
                yield stack, door, backend
        finally:
            platforms.loop.run(door.stop())


@pytest.mark.parametrize("citizen", [telegram_citizen, zalo_citizen])
async def test_a_queued_report_s_code_reaches_the_citizen_on_their_channel(chat_stack, platforms, citizen):
    stack, door, backend = chat_stack
    chat = citizen(stack, platforms)
    door.down = True
    try:
        await chat.file_report(answer=re.compile("tạm gián đoạn"))
    finally:
        door.down = False
    told = await eventually(lambda: [m for t in chat.bot_texts() if (m := SENT.search(t))],
                            "the code on the citizen's channel", timeout_s=60)
    [(code, agency)] = [m.groups() for m in told]
    stored = backend.reports(service_request_id=code)
    assert [r["agency_responsible"] for r in stored] == [agency]
    assert len(backend.reports()) == len(door.posts)  # each report filed once


async def test_the_rasa_server_killed_mid_submission_then_confirmed_again_files_one_report(tmp_path):
    data_dir = tmp_path / "stack"
    backend = BackendProcess(data_dir)
    doors = BackgroundLoop()  # serves the door while this test waits on blocking calls
    with backend.running():
        # The first create is stored at once but answered only after the Rasa server is gone.
        door = doors.run(LateBackend(backend.root, late=1, delay_s=15).start())
        env = {"BACKEND_URL": f"{door.url}/open311/v2", "BACKEND_TIMEOUT_S": "30", "ACTIONS_TIMEOUT_S": "120"}
        try:
            with running_stack(data_dir, env=env) as stack:
                citizen = Citizen(stack, "crash")
                for words in (COMPLAINT, "/affirm"):
                    citizen.say(words)
                citizen.pin(THUAN_HOA)
                assert "/affirm" in payloads(citizen.say("/deny"))  # the summary

                confirming = asyncio.get_running_loop().run_in_executor(None, citizen.say, "/affirm")
                await eventually(lambda: backend.reports(), "the report stored", timeout_s=60)
                os.kill(stack.pid_of("tools.rasa_server"), signal.SIGKILL)
                with pytest.raises(requests.ConnectionError):
                    await confirming
                assert wait_until_up(f"{stack.rasa_url}/", [], timeout_s=300), stack.output()

                # The conversation was kept up to the summary: the citizen confirms again.
                replies = citizen.say("/affirm")
                told = SENT.search(text(replies))
                assert told, replies
        finally:
            doors.run(door.stop())
            doors.close()
        assert [r["service_request_id"] for r in backend.reports()] == [told.group(1)]
        assert len(door.posts) == 2 and door.posts[0]["idempotency_key"] == door.posts[1]["idempotency_key"]
