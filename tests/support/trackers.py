"""Hand-built Rasa trackers for the custom actions (as rasa-sdk's own tests build them).

    tracker = make_tracker("đường lở đất", "nlu_fallback", active_loop=None)
    events, said = await run_action(actions.ActionFallback(), tracker)
    assert responses(said) == ["utter_default"]
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import PROJECT_ROOT
from tests.support.places import THUAN_HOA

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
SENDER = "telegram:4242"
# The `location` slot once the citizen dropped a pin in Phường Thuận Hóa (bot/report.py).
PIN_LOCATION = {"display": "gần Bệnh viện Trung ương Huế, phường Thuận Hóa", "latitude": THUAN_HOA[0],
                "longitude": THUAN_HOA[1], "unit_code": "19789", "unit_name": "Phường Thuận Hóa",
                "source": "pin"}


def make_tracker(text: str, intent: str, *, entities=(), metadata: Optional[Dict] = None,
                 slots: Optional[Dict[str, Any]] = None, requested: Optional[str] = None,
                 active_loop: Optional[str] = "report_form", before: Optional[List[Dict]] = None,
                 sender: str = SENDER) -> Tracker:
    """The tracker an action sees right after the citizen's message `text`."""
    all_slots: Dict[str, Any] = {name: None for name in DOMAIN["slots"]}
    all_slots.update(slots or {})
    all_slots["requested_slot"] = requested
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.99},
              "entities": list(entities), "metadata": metadata or {}}
    events = list(before or []) + [
        {"event": "user", "text": text, "parse_data": latest, "metadata": metadata or {}}]
    return Tracker(sender, all_slots, latest, events, False, None,
                   {"name": active_loop} if active_loop else {}, "action_listen")


async def run_action(action, tracker: Tracker):
    """Runs `action` on `tracker`: the events it returns and the messages it sent."""
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return events, dispatcher.messages


def responses(messages) -> List[str]:
    """The names of the responses (`utter_...`) among `messages`."""
    return [m.get("response") for m in messages]
