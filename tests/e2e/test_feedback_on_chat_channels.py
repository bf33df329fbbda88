"""The whole loop on the chat channels, the stack's own notifier included (Telegram and Zalo
stand-ins): an operator resolves a report, the notifier tells the citizen and has the assistant
ask whether it is really fixed; a Zalo citizen answers with the numbers of Zalo's list ("1" for
"✅ Đã khắc phục", "5" for five stars), a Telegram citizen types "chua sua" without diacritics."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.platforms import telegram_citizen, zalo_citizen
from tests.support.servers import eventually
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.slow

INTERVAL_S = 2
QUESTION = "Bạn thấy đã khắc phục thật chưa?"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, platforms) -> Iterator[Stack]:
    env = {**platforms.env(), "NOTIFY_INTERVAL_S": str(INTERVAL_S)}
    with running_stack(tmp_path_factory.mktemp("stack") / "data", env=env) as running:
        yield running


async def asked(citizen, code: str) -> str:
    """The question about `code`, once the notifier had the assistant ask it."""
    [question] = await eventually(lambda: [t for t in citizen.bot_texts() if QUESTION in t and code in t],
                                  f"the question about {code}", timeout_s=3 * INTERVAL_S + 30)
    return question


async def test_a_zalo_citizen_answers_with_the_numbers_of_the_list(stack, platforms):
    citizen = zalo_citizen(stack, platforms)
    code = await citizen.file_report()
    stack.set_state(code, "resolved", "Đã thay bóng đèn mới")
    question = await asked(citizen, code)
    assert "1. ✅ Đã khắc phục\n2. ❌ Chưa khắc phục" in question
    # The notifier told the change itself before asking.
    assert any(code in t and "Đã thay bóng đèn mới" in t for t in citizen.bot_texts())

    await citizen.say("1")
    assert "5. ⭐⭐⭐⭐⭐ Rất tốt" in citizen.last_text(), citizen.transcript
    await citizen.say("5")
    assert "góp ý" in citizen.last_text(), citizen.transcript
    await citizen.say("bỏ qua")
    assert f"Cảm ơn bạn đã đánh giá phản ánh {code}" in citizen.last_text(), citizen.transcript
    report = stack.report(code)
    assert (report["rating"], report["state"], report["reopened"]) == (5, "resolved", 0)
    assert sum(QUESTION in t for t in citizen.bot_texts()) == 1, citizen.transcript


async def test_a_telegram_citizen_types_not_fixed_and_the_report_goes_back(stack, platforms):
    citizen = telegram_citizen(stack, platforms)
    code = await citizen.file_report()
    stack.set_state(code, "resolved", "Đã thay bóng đèn mới")
    await asked(citizen, code)
    buttons = [b["text"] for row in platforms.telegram.messages(citizen.CHAT)[-1]["reply_markup"]["inline_keyboard"]
               for b in row]
    assert buttons == ["✅ Đã khắc phục", "❌ Chưa khắc phục"]

    await citizen.say("chua sua")
    before = len(citizen.bot_texts())
    await citizen.say("bo qua")
    # The reopening also reaches the feed, and the notifier may tell of it right after the answer.
    assert any(f"mở lại phản ánh {code}" in text for text in citizen.bot_texts()[before:]), citizen.transcript
    report = stack.report(code)
    assert (report["state"], report["reopened"]) == ("assigned", 1)
