"""Telegram's flood limits: a 429 is waited out and the reply sent again, a bounded number of
times, and one chat gets about one message a second after a short burst."""
from __future__ import annotations

import logging
import time
from typing import List

import pytest
from aiohttp import web

from bot.settings import Settings
from channels.telegram import api
from channels.telegram.channel import TelegramInput
from tests.support.rasa_app import RasaApp
from tests.support.telegram import CHAT, TelegramStandin, message_update, post_update

TOKEN = "123456:TEST-token-never-in-logs"
SECRET = "webhook-secret-1"
TOO_MANY_REQUESTS = {
    "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
    "parameters": {"retry_after": 1},
}


class FloodingStandin(TelegramStandin):
    """Refuses the next `floods` sendMessage calls as Telegram does when a bot sends too fast,
    and notes when each sendMessage arrived."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.floods = 0
        self.refused: List[float] = []
        self.accepted: List[float] = []

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["method"] != "sendMessage":
            return await super()._method(request)
        if self.floods > 0:
            self.floods -= 1
            self.refused.append(time.monotonic())
            return web.json_response(TOO_MANY_REQUESTS, status=429)
        self.accepted.append(time.monotonic())
        return await super()._method(request)


@pytest.fixture
async def telegram_api():
    async with FloodingStandin(TOKEN) as standin:
        yield standin


def channel(tmp_path, telegram_api: FloodingStandin) -> TelegramInput:
    return TelegramInput(Settings(
        data_dir=tmp_path / "data", telegram_token=TOKEN, telegram_webhook_secret=SECRET,
        telegram_api_base_url=telegram_api.base_url,
    ))


@pytest.fixture
async def rasa(tmp_path, telegram_api):
    async with RasaApp(channel(tmp_path, telegram_api)) as app:
        yield app


async def say(app: RasaApp, update_id: int, text: str) -> None:
    assert await post_update(app.url, message_update(update_id, text=text), SECRET) == 200


async def test_a_429_is_waited_out_and_the_reply_still_reaches_the_citizen(rasa, telegram_api):
    rasa.assistant.reply = lambda m: [{"text": "Dạ, mình đã nhận phản ánh."}]
    telegram_api.floods = 1
    await say(rasa, 1, "đèn đường hỏng")
    assert telegram_api.texts() == ["Dạ, mình đã nhận phản ánh."]
    [refused], [accepted] = telegram_api.refused, telegram_api.accepted
    assert accepted - refused >= 1.0  # Telegram's retry_after


async def test_retries_are_bounded_and_a_lost_reply_is_logged_without_the_token(
    tmp_path, telegram_api, caplog, monkeypatch
):
    monkeypatch.setattr(api, "MAX_RETRIES", 1)
    caplog.set_level(logging.INFO)
    async with RasaApp(channel(tmp_path, telegram_api)) as app:
        app.assistant.reply = lambda m: [{"text": "Dạ."}]
        telegram_api.floods = 5
        await say(app, 1, "xin chào")
    assert len(telegram_api.refused) == 2 and telegram_api.texts() == []
    assert telegram_api.floods == 3  # given up: the next messages are not held back
    assert f"sending to chat {CHAT} failed" in caplog.text
    assert "TEST-token" not in caplog.text


async def test_one_reply_goes_out_at_once_and_a_longer_run_one_message_a_second(rasa, telegram_api):
    rasa.assistant.reply = lambda m: [{"text": f"tin {i}"} for i in range(api.CHAT_BURST + 1)]
    await say(rasa, 1, "danh sách")
    first, *burst, last = telegram_api.accepted
    assert burst[-1] - first < 0.5
    assert last - first >= 0.9
