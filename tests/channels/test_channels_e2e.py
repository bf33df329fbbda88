"""Whole conversations through the real stack (`python -m bot.cli run`: backend, actions, Rasa
with credentials.yml), one per channel, with the Telegram and Zalo APIs replaced by stand-ins:
a complaint, the category confirmed with the bot's button, a pin in Huế, a photo, the summary
confirmed; then the report and its photo are read back from the backend. And what the assistant
says unprompted (Rasa's proactive messages, as the outbox sends a late report's code) reaches the
citizen on the channel they used."""
from __future__ import annotations

from typing import Iterator

import pytest
import requests

from tests.support.places import THUAN_HOA
from tests.support.platforms import SECRET, TOKEN, ZALO, telegram_citizen, zalo_citizen
from tests.support.servers import eventually
from tests.support.stack import Stack, running_stack
from tests.support.telegram import message_update, post_update
from tests.support.zalo import event, post_event

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def stack(tmp_path_factory, platforms) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack") / "data", env=platforms.env()) as running:
        for channel in ("telegram", "zalo"):
            status = requests.get(f"{running.rasa_url}/webhooks/{channel}/", timeout=10).json()
            assert status["status"] == "ok", f"the {channel} channel is off"
        yield running


@pytest.mark.parametrize("citizen", [telegram_citizen, zalo_citizen])
async def test_a_whole_report(stack, platforms, citizen):
    code = await citizen(stack, platforms).file_report()

    report = stack.report(code)
    assert (report["lat"], report["long"]) == pytest.approx(THUAN_HOA, abs=1e-4)
    photo = requests.get(report["media_url"], timeout=10)
    assert photo.status_code == 200 and photo.content.startswith(b"\xff\xd8")
    assert TOKEN.split(":")[1] not in stack.output()


NOTICE = "Phản ánh của bạn đã đến cơ quan phụ trách. Mã phản ánh: PA000042."


async def test_a_message_sent_later_reaches_the_citizen_on_telegram(stack, platforms):
    chat = 4242001
    # Update ids of their own: the channel ignores an id it has handled (the other tests' 1, 2...).
    assert await post_update(stack.rasa_url, message_update(990001, chat_id=chat, text="xin chào"), SECRET) == 200
    await eventually(lambda: platforms.telegram.texts(chat), "the answer to the greeting", timeout_s=60)

    tracker = stack.say_unprompted(f"telegram:{chat}", NOTICE)
    assert tracker["latest_input_channel"] == "telegram"
    await eventually(lambda: NOTICE in platforms.telegram.texts(chat), "the notice on Telegram", timeout_s=30)


async def test_a_message_sent_later_reaches_the_citizen_on_zalo(stack, platforms):
    user = "4242002"
    greeting = event("user_send_text", "proactive-1", app_id=ZALO["app_id"], user=user, text="xin chào")
    assert await post_event(stack.rasa_url, greeting, ZALO["oa_secret"]) == 200
    await eventually(lambda: platforms.zalo.texts(user), "the answer to the greeting", timeout_s=60)

    tracker = stack.say_unprompted(f"zalo:{user}", NOTICE)
    assert tracker["latest_input_channel"] == "zalo"
    await eventually(lambda: NOTICE in platforms.zalo.texts(user), "the notice on Zalo", timeout_s=30)


def test_a_message_sent_later_waits_for_the_web_chat_page(stack):
    sender = "proactive0web1"
    answer = requests.post(f"{stack.webchat_url}webhook", json={"sender": sender, "message": "xin chào"}, timeout=60)
    assert answer.status_code == 200 and answer.json(), answer.text

    tracker = stack.say_unprompted(f"web:{sender}", NOTICE)
    assert tracker["latest_input_channel"] == "web"
    waiting = requests.get(f"{stack.webchat_url}inbox", params={"sender": sender}, timeout=10)
    assert waiting.status_code == 200 and waiting.json() == [{"text": NOTICE}]
