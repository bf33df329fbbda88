"""The Rasa server's faster check of action-server replies accepts and refuses what Rasa's does."""
import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from tools import rasa_server

VALID = {"events": [{"event": "slot", "name": "category", "value": "giao_thong"}],
         "responses": [{"response": "utter_greet"}]}
INVALID = {"events": "not a list", "responses": []}


@pytest.fixture
def action():
    original = RemoteAction._validate_action_result
    rasa_server.install()
    yield RemoteAction("action_submit_report", None)
    RemoteAction._validate_action_result = original


@pytest.mark.parametrize("reply", [VALID, {"events": [], "responses": []}, {}])
def test_valid_replies_pass_as_with_rasa(action, reply):
    jsonschema.validate(reply, RemoteAction.action_response_format_spec())
    assert action._validate_action_result(reply) is True


def test_invalid_reply_is_refused_as_with_rasa(action):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(INVALID, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result(INVALID)
