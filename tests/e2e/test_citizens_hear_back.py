"""The whole stack (`make run`'s processes, the notifier among them) with the Telegram and Zalo
stand-ins: an operator changes the state of a report filed on a chat channel or the web chat, and
its citizen hears of it there (the web chat page in its inbox), once, even after the notifier is
restarted; a Zalo citizen silent too long (Zalo refuses free messages) is recorded as not told,
and told once they write again."""
from __future__ import annotations

import os
import signal
from typing import Iterator

import aiohttp
import pytest
import requests

from bot import notices, notifier, proactive
from bot.settings import DEV_OPERATOR_KEY, load_settings
from tests.support.browser import ChatPage, chromium
from tests.support.conversation import WebChatCitizen
from tests.support.platforms import telegram_citizen, zalo_citizen
from tests.support.servers import eventually
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.slow

INTERVAL_S = 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory, platforms) -> Iterator[Stack]:
    env = {**platforms.env(), "NOTIFY_INTERVAL_S": str(INTERVAL_S), "OUTBOX_RETRY_S": "1"}
    with running_stack(tmp_path_factory.mktemp("stack") / "data", env=env) as running:
        yield running


def change_state(stack: Stack, code: str, state: str, note: str) -> None:
    """What an IOC operator's system does (state.json with an operator key)."""
    answer = requests.post(f"{stack.backend_url}/requests/{code}/state.json", timeout=10,
                           data={"api_key": DEV_OPERATOR_KEY, "state": state, "note": note})
    assert answer.status_code == 200, answer.text


def told(texts, code: str, note: str):
    return [text for text in texts if code in text and note in text]


async def test_a_state_change_reaches_the_telegram_citizen_once_across_a_notifier_restart(stack, platforms):
    citizen = telegram_citizen(stack, platforms)
    code = await citizen.file_report()
    change_state(stack, code, "in_progress", "Đội công trình đang sửa đèn")

    texts = lambda: told(citizen.bot_texts(), code, "Đội công trình đang sửa đèn")  # noqa: E731
    [text] = await eventually(texts, "the change on Telegram", timeout_s=3 * INTERVAL_S + 20)
    assert text == (f"Phản ánh {code} của bạn có cập nhật mới: đang xử lý.\n"
                    "Ghi chú của đơn vị xử lý: Đội công trình đang sửa đèn")

    await restart_the_notifier(stack)
    assert len(texts()) == 1, citizen.transcript


async def test_a_state_change_reaches_the_web_chat_page_once_across_a_notifier_restart(stack):
    citizen = WebChatCitizen(stack)
    code = await citizen.file_report()
    change_state(stack, code, "resolved", "Đã thay bóng đèn mới")

    texts = lambda: told(citizen.bot_texts(), code, "Đã thay bóng đèn mới")  # noqa: E731
    [text] = await eventually(texts, "the change in the page's inbox", timeout_s=3 * INTERVAL_S + 20)
    assert text == (f"Phản ánh {code} của bạn có cập nhật mới: đã xử lý xong.\n"
                    "Ghi chú của đơn vị xử lý: Đã thay bóng đèn mới")
    # Then the page asks, with its buttons, whether it is really fixed.
    # The question follows the notice through Rasa (a trigger), so it may reach the inbox after a
    # read that found the notice: each look reads the inbox again.
    asked = lambda: [r for r in citizen.replies() if "khắc phục thật" in (r.get("text") or "")]  # noqa: E731
    [question] = await eventually(asked, "the question in the page's inbox", timeout_s=3 * INTERVAL_S + 20)
    assert [b["title"] for b in question["buttons"]] == ["✅ Đã khắc phục", "❌ Chưa khắc phục"]
    # Rasa keeps the notice's key, so an attempt repeated after a timeout finds the notice and the
    # question in the conversation (bot/proactive.py) instead of sending them again.
    [row] = [row for row in notices.rows(stack.data_dir / notices.FILENAME) if row["code"] == code]
    async with aiohttp.ClientSession() as http:
        since, failure = await proactive.events_since(http, load_settings({"RASA_PORT": str(stack.rasa_port)}),
                                                      row["sender_id"], f"notice:{row['update_id']}")
    assert failure is None and since is not None and proactive.triggered(since, notifier.RESOLVED_INTENT)

    await restart_the_notifier(stack)
    assert len(texts()) == 1 and len(asked()) == 1, citizen.transcript


@pytest.fixture
def phone(tmp_path):
    driver = chromium(tmp_path / "chromium", "phone")
    yield driver
    driver.quit()


@pytest.mark.browser
async def test_a_state_change_appears_on_the_citizens_open_page(stack, phone):
    browser = phone
    citizen = WebChatCitizen(stack)
    code = await citizen.file_report()
    page = ChatPage(browser, stack.webchat_url, timeout=3 * INTERVAL_S + 30)
    # The page of the citizen who filed it (its id is kept in the browser's storage).
    browser.execute_script("localStorage.setItem('hue-webchat-sender', arguments[0])", citizen.sender)
    browser.refresh()
    note = "Công nhân đang thay bóng đèn"
    change_state(stack, code, "in_progress", note)

    try:
        page.wait.until(lambda _: told(page.bot_texts(), code, note), "waiting for the change on the page")
    finally:
        page.screenshot("webchat-state-change.png")
    [shown] = told(page.bot_texts(), code, note)
    assert "đang xử lý" in shown


async def restart_the_notifier(stack: Stack) -> None:
    """Stops the notifier (make run starts it again) and waits until the new one has read the feed."""
    first = stack.pid_of("bot.notifier")
    os.kill(first, signal.SIGTERM)
    await eventually(lambda: feed_reads_since_restart(stack, first) >= 2, "the restarted notifier reading the feed",
                     timeout_s=6 * INTERVAL_S + 30)


def feed_reads_since_restart(stack: Stack, old_pid: int) -> int:
    """How often the feed was read since the notifier that replaced `old_pid` started (0 while
    it has not)."""
    if [pid for pid, argv in stack.command_lines().items() if argv[1:3] == ["-m", "bot.notifier"]] in ([], [old_pid]):
        return 0
    lines = list(stack.log)
    starts = [i for i, line in enumerate(lines) if "notifier started" in line]
    return sum("servicerequestupdates.json" in line for line in lines[starts[-1]:]) if starts else 0


async def test_a_zalo_citizen_silent_too_long_is_told_once_they_write_again(stack, platforms):
    citizen = zalo_citizen(stack, platforms)
    code = await citizen.file_report()
    platforms.zalo.out_of_window.add(citizen.USER)
    change_state(stack, code, "assigned", "Đã chuyển Điện lực Huế")

    path = stack.data_dir / notices.FILENAME
    refused = lambda: [row for row in notices.rows(path) if row["code"] == code and row["failures"]]  # noqa: E731
    [row] = await eventually(refused, "the refusal recorded", timeout_s=3 * INTERVAL_S + 20)
    assert row["state"] == "pending" and "-230" in row["last_error"], row["last_error"]
    assert "-230" in stack.output()  # and logged

    platforms.zalo.out_of_window.discard(citizen.USER)  # the citizen wrote to the OA again
    texts = lambda: told(citizen.bot_texts(), code, "Đã chuyển Điện lực Huế")  # noqa: E731
    await eventually(texts, "the change on Zalo", timeout_s=30)
    await eventually(lambda: notices.rows(path)[-1]["state"] == "sent", "the update marked told", timeout_s=10)
    assert len(texts()) == 1
