"""`rasa data validate` on the training data and domain, as a developer would run it."""
import re

import yaml

from bot.settings import PROJECT_ROOT
from tests.support.stack import run_module

UNUSED_RESPONSE = re.compile(r"The utterance '(utter_\w+)' is not used in any story or rule")
# Intents only the assistant's own processes send (Rasa's trigger_intent), never typed.
EXTERNAL_INTENT = re.compile(r"The intent 'EXTERNAL_\w+' is listed in the domain file, but is not found in the NLU")


def test_training_data_is_valid_and_every_response_is_used():
    result = run_module("rasa", "data", "validate", "--config", "config.yml", "--domain", "domain.yml",
                        "--data", "nlu/data")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    warnings = [line.split("UserWarning: ", 1)[1] for line in output.splitlines() if "UserWarning: " in line]
    # Rasa's validator only sees responses used in rules; the others are sent by custom actions
    # (`response=` in utter_message), so each of those must really be referenced by an action.
    actions_code = "".join(path.read_text(encoding="utf-8") for path in (PROJECT_ROOT / "actions").glob("*.py"))
    forms = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))["forms"]
    asked_by_forms = {f"utter_ask_{slot}" for form in forms.values() for slot in form["required_slots"]}
    unexplained = []
    for warning in warnings:
        match = UNUSED_RESPONSE.search(warning)
        if EXTERNAL_INTENT.search(warning):
            continue
        if not (match and (f'"{match.group(1)}"' in actions_code or match.group(1) in asked_by_forms)):
            unexplained.append(warning)
    assert not unexplained
