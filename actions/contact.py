"""A contact the citizen shared: its phone number goes with their reports."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

from bot.messages import phone_from


class ActionStorePhone(Action):
    def name(self) -> Text:
        return "action_store_phone"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        phone = phone_from(tracker.latest_message)
        if not phone:
            return []
        dispatcher.utter_message(response="utter_phone_saved", phone=phone)
        return [SlotSet("phone", phone)]
