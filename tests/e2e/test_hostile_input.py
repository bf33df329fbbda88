"""Hostile input against the whole assistant as `make run` starts it (tests/support/stack.py):
a megabyte message, a REST sender posing as a Telegram user, pages of other origins and names."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest
import requests

from bot.settings import DEV_API_KEY
from tests.support.conversation import Citizen, text
from tests.support.places import THUAN_HOA
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.slow

CITY = "https://phananh.hue.gov.vn"  # the city's site, which embeds the web chat


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("stack"), env={"WEBCHAT_ORIGINS": CITY}) as running:
        yield running


def test_a_megabyte_message_is_refused_quickly_while_another_citizen_is_answered(stack):
    citizen = Citizen(stack, "neighbour")
    huge = {"sender": "flooder", "message": "rác " * 250_000}

    def flood() -> tuple:
        started = time.monotonic()
        response = requests.post(stack.rest_webhook, json=huge, timeout=60)
        return response, time.monotonic() - started

    with ThreadPoolExecutor(2) as pool:
        flooding = pool.submit(flood)
        answered = pool.submit(citizen.say, "xin chào")
        refused, took_s = flooding.result()
        replies = answered.result()
    assert refused.status_code == 413 and "quá lớn" in refused.json()["error"], refused.text
    assert took_s < 5
    assert "Xin chào" in text(replies), replies


def test_a_rest_sender_named_like_a_telegram_user_sees_nothing_of_theirs(stack):
    filed = requests.post(f"{stack.backend_url}/requests.json", timeout=10, data={
        "api_key": DEV_API_KEY, "service_code": "moi_truong", "description": "Rác ùn ứ",
        "lat": THUAN_HOA[0], "long": THUAN_HOA[1], "account_id": "telegram:4242", "channel": "telegram",
    })
    assert filed.status_code == 201, filed.text
    code = filed.json()[0]["service_request_id"]

    asked = requests.post(stack.rest_webhook, timeout=60,
                          json={"sender": "telegram:4242", "message": "phản ánh của tôi xử lý chưa",
                                "metadata": {"channel": "telegram", "user_id": "4242"}})
    assert asked.status_code == 200, asked.text
    assert code not in text(asked.json()), asked.json()
    # The Telegram user's own conversation was not touched either.
    tracker = requests.get(f"{stack.rasa_url}/conversations/telegram:4242/tracker", timeout=10).json()
    assert not [event for event in tracker["events"] if event["event"] == "user"]


def test_the_city_s_site_may_call_the_web_chat_and_nothing_else(stack):
    def preflight(url: str, origin: str) -> requests.Response:
        return requests.options(url, timeout=10, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})

    webchat = f"{stack.webchat_url}webhook"
    assert preflight(webchat, CITY).headers.get("Access-Control-Allow-Origin") == CITY
    for url, origin in ((webchat, "http://evil.example"), (f"{stack.rasa_url}/model/parse", CITY),
                        (f"{stack.rasa_url}/conversations/x/tracker/events", CITY)):
        assert "Access-Control-Allow-Origin" not in preflight(url, origin).headers, (url, origin)
    status = requests.get(f"{stack.rasa_url}/status", headers={"Origin": CITY}, timeout=10)
    assert "Access-Control-Allow-Origin" not in status.headers


def test_a_foreign_host_header_is_refused_by_every_server(stack):
    # What a page on a name of its own pointed at 127.0.0.1 (DNS rebinding) would send.
    for url in (f"{stack.rasa_url}/status", stack.webchat_url, f"{stack.backend_url}/services.json"):
        assert requests.get(url, headers={"Host": "rebind.evil.example"}, timeout=10).status_code == 400, url
        assert requests.get(url, timeout=10).status_code == 200, url
