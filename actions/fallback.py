"""What the assistant did not understand: ask to rephrase, and keep the message for the admins."""
from __future__ import annotations

from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType

from bot import danger, misses
from bot.messages import channel_from


class ActionFallback(Action):
    """Asks to rephrase; a second miss in a row offers the menu instead."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        message = tracker.latest_message
        misses.record(message.get("text") or "", message.get("intent_ranking") or [],
                      channel_from(message) or tracker.get_latest_input_channel())
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
