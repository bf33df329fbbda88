"""The Rasa server as tools/rasa_server.py starts it: the faster check of action-server replies
accepts and refuses what Rasa's does; CORS only for the web chat's configured origins; foreign
Host headers refused."""
import jsonschema
import pytest
import rasa.core.run
import rasa.server
import requests
from rasa.core.actions.action import RemoteAction
from rasa.core.processor import MessageProcessor

from bot.settings import get_settings
from channels.webchat import WebChatInput
from tests.support.rasa_app import RasaApp
from tools import rasa_server

VALID = {"events": [{"event": "slot", "name": "category", "value": "giao_thong"}],
         "responses": [{"response": "utter_greet"}]}
INVALID = {"events": "not a list", "responses": []}


@pytest.fixture
def installed(monkeypatch):
    """tools/rasa_server.py's patches, for this test only: install() patches Rasa process-wide."""
    for owner, name in ((rasa.server, "configure_cors"), (rasa.core.run, "configure_app"),
                        (RemoteAction, "_validate_action_result"), (RemoteAction, "run"),
                        (MessageProcessor, "handle_message")):
        monkeypatch.setattr(owner, name, getattr(owner, name))
    rasa_server.install()


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
