"""`python -m tools.rasa_server run ...`: Rasa's own command line, with one fix applied first.

Rasa 3.6 checks every action-server reply with `jsonschema.validate`, which checks the schema
itself again on each call: about 20 ms of blocked event loop per custom action, two per form step,
so that a report conversation ran at half the stock assistant's throughput (see `make bench`).
The same check with a validator built once costs well under a millisecond.
"""
from __future__ import annotations

import sys
from functools import lru_cache
from typing import Any, Dict

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction


@lru_cache(maxsize=1)
def _validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    return validator_for(schema)(schema)


def validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    try:
        _validator().validate(result)
    except ValidationError as error:
        # Same message as Rasa's own check, so logs read the same.
        error.message += (
            ". Failed to validate Action server response from API, make sure your response "
            "from the Action endpoint is valid."
        )
        raise
    return True


def install() -> None:
    RemoteAction._validate_action_result = validate_action_result


def main() -> None:
    install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
