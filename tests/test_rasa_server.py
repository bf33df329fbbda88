"""The Rasa server as tools/rasa_server.py starts it: the faster check of action-server replies
accepts and refuses what Rasa's does; CORS only for the web chat's configured origins; foreign
Host headers refused."""
import asyncio
import logging

import jsonschema
import pytest
import requests
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

from bot.settings import get_settings
from channels.webchat import WebChatInput
from tests.support.rasa_app import RasaApp
from tests.support.servers import free_port
from tools import rasa_server

VALID = {"events": [{"event": "slot", "name": "category", "value": "giao_thong"}],
         "responses": [{"response": "utter_greet"}]}
INVALID = {"events": "not a list", "responses": []}


@pytest.fixture
def installed(rasa_patches):
    """The patches, restored after each test (tests/conftest.py)."""


@pytest.fixture
def action(installed):
    return RemoteAction("action_submit_report", None)


@pytest.mark.parametrize("reply", [VALID, {"events": [], "responses": []}, {}])
def test_valid_replies_pass_as_with_rasa(action, reply):
    jsonschema.validate(reply, RemoteAction.action_response_format_spec())
    assert action._validate_action_result(reply) is True


def test_invalid_reply_is_refused_as_with_rasa(action):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(INVALID, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result(INVALID)


CITY = "https://phananh.hue.gov.vn"


@pytest.fixture
def fenced(installed, monkeypatch):
    """The Rasa app as `make run` builds it (web chat and API), with the fences installed, the
    city's site allowed to embed the web chat and one public name configured."""
    monkeypatch.setenv("WEBCHAT_ORIGINS", CITY)
    monkeypatch.setenv("ALLOWED_HOSTS", "phananh.hue.gov.vn")
    get_settings.cache_clear()
    with RasaApp(WebChatInput(), enable_api=True) as app:
        yield app


def _preflight(url: str, origin: str) -> requests.Response:
    return requests.options(url, headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                          "Access-Control-Request-Headers": "content-type"}, timeout=10)


def test_only_the_configured_origin_may_call_the_web_chat(fenced):
    webhook = f"{fenced.url}/webhooks/web/webhook"
    granted = _preflight(webhook, CITY)
    assert granted.headers.get("Access-Control-Allow-Origin") == CITY
    assert "Access-Control-Allow-Credentials" not in granted.headers
    body = {"sender": "abcdef123456", "message": "xin chào"}
    posted = requests.post(webhook, json=body, headers={"Origin": CITY}, timeout=10)
    assert posted.headers.get("Access-Control-Allow-Origin") == CITY

    for response in (_preflight(webhook, "http://evil.example"),
                     requests.post(webhook, json=body, headers={"Origin": "http://evil.example"}, timeout=10)):
        assert "Access-Control-Allow-Origin" not in response.headers, response.headers


def test_the_configured_origin_gets_nothing_of_rasa_s_api(fenced):
    for origin in (CITY, "http://evil.example"):
        preflight = requests.options(f"{fenced.url}/conversations/someone/tracker", timeout=10,
                                     headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
        read = requests.get(f"{fenced.url}/version", headers={"Origin": origin}, timeout=10)
        assert read.status_code == 200
        for response in (preflight, read):
            assert "Access-Control-Allow-Origin" not in response.headers, (origin, response.headers)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5005", "127.0.0.1.evil.example", ""])
def test_a_foreign_host_header_is_refused(fenced, host):
    # What a page on a rebinding name (evil.example -> 127.0.0.1) would send.
    for path in ("/version", "/webhooks/web/"):
        assert requests.get(fenced.url + path, headers={"Host": host}, timeout=10).status_code == 400


@pytest.mark.parametrize("host", ["127.0.0.1:5005", "localhost", "[::1]:5005", "PhanAnh.Hue.gov.vn"])
def test_the_local_and_configured_names_are_served(fenced, host):
    assert requests.get(f"{fenced.url}/version", headers={"Host": host}, timeout=10).status_code == 200


class SentOutput(OutputChannel):
    """Sends and keeps nothing for the HTTP answer, as Telegram's and Zalo's channels do."""

    def __init__(self) -> None:
        self.sent: list = []

    async def send_response(self, recipient_id: str, message: dict) -> None:
        self.sent.append((recipient_id, message))


def _action_server_down() -> RemoteAction:
    return RemoteAction("action_submit_report", EndpointConfig(f"http://127.0.0.1:{free_port()}/webhook"))


async def _run(action: RemoteAction, message: UserMessage) -> None:
    tracker = DialogueStateTracker.from_events(message.sender_id, [])
    await action.run(message.output_channel, None, tracker, Domain.empty())


@pytest.fixture
def handling_runs_a_custom_action(installed, monkeypatch):
    """Rasa's message handling reduced to its custom action, the action server down."""
    async def handle_message(self, message: UserMessage):
        await _run(_action_server_down(), message)
        return "handled"

    monkeypatch.setattr(MessageProcessor, "handle_message", handle_message)
    rasa_server.install()


async def test_without_the_action_server_the_citizen_is_told_to_try_again_on_any_channel(
        handling_runs_a_custom_action, caplog):
    chat = SentOutput()
    assert await MessageProcessor.handle_message(None, UserMessage("xin chào", chat, "telegram:1")) is None
    assert chat.sent == [("telegram:1", {"text": rasa_server.BUSY_MESSAGE})]
    # The cause, logged once (Rasa's own line on it is dropped).
    [logged] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "action_submit_report: ClientConnectorError: Cannot connect" in logged.getMessage()
    # REST and the web chat answer with what was collected: the busy message, not `[]`.
    rest = UserMessage("xin chào", CollectingOutputChannel(), "rest:a")
    collected = await MessageProcessor.handle_message(None, rest)
    assert [reply["text"] for reply in collected] == [rasa_server.BUSY_MESSAGE]


async def test_outside_a_citizen_s_message_the_failure_is_rasa_s_own(installed):
    # E.g. an action run through the HTTP API: nobody to tell, Rasa's error as before.
    with pytest.raises(RasaException, match="Couldn't connect"):
        await _run(_action_server_down(), UserMessage("x", CollectingOutputChannel(), "rest:a"))


async def test_an_action_server_that_hangs_gets_the_busy_message_after_actions_timeout_s(installed, monkeypatch):
    monkeypatch.setenv("BACKEND_TIMEOUT_S", "0.2")
    monkeypatch.setenv("ACTIONS_TIMEOUT_S", "1")
    get_settings.cache_clear()
    rasa_server.install()
    held = []  # connections accepted and never answered
    server = await asyncio.start_server(lambda reader, writer: held.append(writer), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hanging = RemoteAction("action_submit_report", EndpointConfig(f"http://127.0.0.1:{port}/webhook"))

    async def handle_message(self, message: UserMessage):
        await _run(hanging, message)

    monkeypatch.setattr(MessageProcessor, "handle_message", rasa_server._busy_is_said(handle_message))
    chat = SentOutput()
    try:
        # Rasa's own wait is 5 minutes; the test's timeout (600 s) would not catch that in time.
        await asyncio.wait_for(MessageProcessor.handle_message(None, UserMessage("xin chào", chat, "zalo:1")), 30)
    finally:
        server.close()
    assert chat.sent == [("zalo:1", {"text": rasa_server.BUSY_MESSAGE})]
