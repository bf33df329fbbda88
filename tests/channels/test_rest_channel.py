"""The project's REST channel on Rasa's own server (tests/support/rasa_app.py): the token rule of
the API, sender ids namespaced by the channel, and refusals before the assistant sees anything."""
from __future__ import annotations

import uuid
from typing import Iterator

import pytest
import requests
from rasa.core.run import create_http_input_channels

from bot.settings import PROJECT_ROOT, get_settings
from channels.limits import MAX_TEXT_CHARS
from channels.rest import RestInput
from tests.support.rasa_app import RasaApp

TOKEN = "rest-test-token"


def _serve(monkeypatch, **env: str) -> RasaApp:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return RasaApp(RestInput(), reply=lambda message: [{"text": f"Dạ, {message.text}"}])


@pytest.fixture
def rest(monkeypatch) -> Iterator[RasaApp]:
    with _serve(monkeypatch, RASA_API_TOKEN=TOKEN, SENDER_MESSAGES_PER_MINUTE="3") as app:
        yield app


def webhook(app: RasaApp) -> str:
    return f"{app.url}/webhooks/rest/webhook"


def test_make_run_serves_the_project_s_rest_channel_under_the_spec_s_path():
    channels = create_http_input_channels(None, str(PROJECT_ROOT / "credentials.yml"))
    [rest] = [channel for channel in channels if channel.url_prefix() == "rest"]
    assert isinstance(rest, RestInput)


def test_without_the_token_nothing_reaches_the_assistant(rest):
    body = {"sender": "someone", "message": "xin chào"}
    assert requests.post(webhook(rest), json=body, timeout=10).status_code == 401
    assert requests.post(webhook(rest), json=body, params={"token": "guess"}, timeout=10).status_code == 403
    assert rest.assistant.received == []

    by_query = requests.post(webhook(rest), json=body, params={"token": TOKEN}, timeout=10)
    by_header = requests.post(webhook(rest), json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert by_query.status_code == by_header.status_code == 200
    assert by_query.json()[0]["text"] == "Dạ, xin chào"


def test_a_sender_named_like_a_telegram_user_gets_a_conversation_of_its_own(rest):
    body = {"sender": "telegram:123", "message": "phản ánh của tôi", "input_channel": "telegram",
            "metadata": {"channel": "telegram", "user_id": "123"}}
    assert requests.post(webhook(rest), json=body, params={"token": TOKEN}, timeout=10).status_code == 200
    [message] = rest.assistant.received
    assert message.sender_id == "rest:telegram:123"
    assert message.input_channel == "rest"
    assert message.metadata == {"channel": "rest", "user_id": "telegram:123"}


def test_the_metadata_of_a_pin_still_reaches_the_assistant(rest):
    location = {"latitude": 16.46, "longitude": 107.59}
    body = {"sender": "dev", "message": "/share_location", "metadata": {"location": location}}
    assert requests.post(webhook(rest), json=body, params={"token": TOKEN}, timeout=10).status_code == 200
    [message] = rest.assistant.received
    assert message.metadata["location"] == location


@pytest.mark.parametrize("body", [
    b"[]", b"{not json", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000,
    b'{"sender": ["x"], "message": "hi"}', b'{"sender": "x", "message": {"text": "hi"}}',
    b'{"sender": "", "message": "hi"}', b'{"sender": "x", "message": "hi", "metadata": []}',
])
def test_a_body_that_is_no_message_gets_a_400(rest, body):
    res = requests.post(webhook(rest), data=body, params={"token": TOKEN}, timeout=10,
                        headers={"Content-Type": "application/json"})
    assert res.status_code in (400, 413), res.text
    assert res.json()["error"]
    assert rest.assistant.received == []


def test_a_text_too_long_is_refused_in_vietnamese(rest):
    for text, status in (("x" * (MAX_TEXT_CHARS + 1), 400), ("x" * 1_000_000, 413)):
        res = requests.post(webhook(rest), json={"sender": f"long-{status}", "message": text},
                            params={"token": TOKEN}, timeout=10)
        assert res.status_code == status
        assert "quá" in res.json()["error"] and "vui lòng" in res.json()["error"]
    assert rest.assistant.received == []


def test_a_sender_past_the_rate_limit_is_asked_to_slow_down_and_others_are_not(rest):
    sender = uuid.uuid4().hex

    def say(who: str) -> requests.Response:
        return requests.post(webhook(rest), json={"sender": who, "message": "alo"}, params={"token": TOKEN},
                             timeout=10)

    assert [say(sender).status_code for _ in range(3)] == [200, 200, 200]
    refused = say(sender)
    assert refused.status_code == 429 and "quá nhanh" in refused.json()["error"]
    assert len(rest.assistant.received_from(f"rest:{sender}")) == 3
    assert say("someone-else").status_code == 200


def test_without_a_token_set_the_local_rest_channel_is_open(monkeypatch):
    monkeypatch.delenv("RASA_API_TOKEN", raising=False)
    with _serve(monkeypatch) as app:
        res = requests.post(webhook(app), json={"sender": "dev", "message": "xin chào"}, timeout=10)
        assert res.status_code == 200 and res.json()[0]["text"] == "Dạ, xin chào"
