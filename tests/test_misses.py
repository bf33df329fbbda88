"""The admins' loop: what the assistant did not understand is kept, exported as training data,
and a retrained model is put live without stopping the server."""
from __future__ import annotations

import pytest
import requests
import yaml
from rasa.shared.nlu.training_data.loading import load_data

import actions
from bot import misses
from tests.support.stack import run_module, running_stack
from tests.support.trackers import make_tracker, responses, run_action

RANKING = [{"name": "nlu_fallback", "confidence": 0.3}, {"name": "report_issue", "confidence": 0.28},
           {"name": "inform", "confidence": 0.2}]


def test_misses_become_training_data_grouped_by_the_best_guess(tmp_path):
    misses.record("cái cột điện bị nghiêng  sắp đổ", RANKING, "telegram")
    misses.record("cái cột điện bị nghiêng sắp đổ", RANKING, "zalo")  # the same words once
    misses.record("/affirm", RANKING, "web")  # a button press is not a citizen's wording
    misses.record("blah blah", [{"name": "nlu_fallback", "confidence": 0.3}], "web")
    entries = misses.pending()
    assert [e["text"] for e in entries] == ["cái cột điện bị nghiêng  sắp đổ",
                                            "cái cột điện bị nghiêng sắp đổ", "blah blah"]
    assert entries[0]["guesses"][0] == {"intent": "report_issue", "confidence": 0.28}

    exported = tmp_path / "misses.yml"
    exported.write_text(misses.to_training_yaml(entries), encoding="utf-8")
    data = load_data(str(exported))  # valid Rasa training data as it stands
    assert sorted(m.get("text") for m in data.intent_examples) == ["blah blah", "cái cột điện bị nghiêng sắp đổ"]
    assert {m.get("intent") for m in data.intent_examples} == {"report_issue", "out_of_scope"}

    misses.clear(entries[-1]["id"])
    assert misses.pending() == []


async def test_the_fallback_action_records_what_it_did_not_understand():
    tracker = make_tracker("đường lên đồi Vọng Cảnh lở đất", "nlu_fallback", active_loop=None)
    tracker.latest_message["intent_ranking"] = RANKING
    _, said = await run_action(actions.ActionFallback(), tracker)
    assert responses(said) == ["utter_default"]
    assert [e["text"] for e in misses.pending()] == ["đường lên đồi Vọng Cảnh lở đất"]


@pytest.mark.slow
def test_a_miss_is_exported_and_a_model_put_live_without_a_restart(tmp_path, trained_model):
    with running_stack(tmp_path / "stack") as stack:
        # What the fallback action recorded (tested above) in the running assistant's data.
        misses.record("qzxw vbnm", RANKING, "web", path=stack.data_dir / "misses.sqlite3")
        env = {"DATA_DIR": str(stack.data_dir), "RASA_PORT": str(stack.rasa_port)}

        out = tmp_path / "misses.yml"
        result = run_module("bot.cli", "misses", "--out", str(out), env=env)
        assert result.returncode == 0, result.stderr
        assert "qzxw vbnm" in out.read_text(encoding="utf-8")
        assert yaml.safe_load(out.read_text(encoding="utf-8"))["nlu"]

        result = run_module("bot.cli", "reload", env=env)
        assert result.returncode == 0, result.stderr
        status = requests.get(f"{stack.rasa_url}/status", timeout=10).json()
        assert status["model_file"].endswith(trained_model.name)
        # Still answering, with the model it just loaded.
        reply = requests.post(stack.rest_webhook, json={"sender": "web:admin", "message": "xin chào"},
                              timeout=30)
        assert "Xin chào" in reply.json()[0]["text"]
