"""A contact the citizen shared (Telegram's contact button) or a phone number they typed: it goes
with their reports."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

from bot.messages import phone_from, typed_phone, words_beside_phone


class ActionStorePhone(Action):
    def name(self) -> Text:
        return "action_store_phone"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        text = tracker.latest_message.get("text") or ""
        phone = phone_from(tracker.latest_message) or typed_phone(text)
        if not phone:
            dispatcher.utter_message(response="utter_ask_phone")
            return []
        dispatcher.utter_message(response="utter_phone_saved", phone=phone)
        if not tracker.active_loop.get("name") and words_beside_phone(text) >= SOMETHING_ELSE_WORDS:
            # "sdt của tôi 0905..., đường bể hết rồi": the complaint would be lost unsaid (during
            # a report, its question comes next anyway).
            dispatcher.utter_message(response="utter_describe_separately")
        return [SlotSet("phone", phone)]


# Words beyond the number and the words that name it that make a message more than a contact.
SOMETHING_ELSE_WORDS = 3
