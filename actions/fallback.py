"""What the assistant did not understand: ask to rephrase. The admins' inbox finds the message in
the tracker store (bot/admin/inbox.py)."""
from __future__ import annotations

from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType

from bot import danger


class ActionFallback(Action):
    """Asks to rephrase; a second miss in a row offers the menu instead."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        message = tracker.latest_message
        if danger.worth_asking(message):
            # Recall before precision: a scene the NLU could not place may be danger under way.
            dispatcher.utter_message(response="utter_ask_danger_unclear")
        elif self.previous_bot_action(tracker) == self.name():
            dispatcher.utter_message(response="utter_fallback_menu")
        else:
            dispatcher.utter_message(response="utter_default")
        return []

    @staticmethod
    def previous_bot_action(tracker: Tracker) -> Optional[str]:
        seen_user = False
        for event in reversed(tracker.events):
            if event.get("event") == "user":
                if seen_user:
                    break
                seen_user = True
            elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
                return event.get("name")
        return None
