"""The report form's questions: each shows what is known so far, with buttons to answer."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import EventType

from bot import report
from bot.photos import MAX_PHOTOS_PER_REPORT

from .common import catalogue


class ActionAskCategory(Action):
    def name(self) -> Text:
        return "action_ask_category"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        names = await catalogue.categories()
        guess = tracker.get_slot("category_guess")
        if guess in names:
            dispatcher.utter_message(response="utter_ask_category_guess",
                                     category_name=report.category_name(guess, names),
                                     buttons=report.confirm_category_buttons(guess, names))
        else:
            dispatcher.utter_message(response="utter_ask_category_choice",
                                     buttons=report.category_buttons(names))
        return []


class ActionAskLocation(Action):
    def name(self) -> Text:
        return "action_ask_location"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        pending = tracker.get_slot("location_pending")
        if pending and pending.get("choices"):
            buttons = [{"title": c.rsplit(", ", 1)[-1], "payload": c} for c in pending["choices"]]
            dispatcher.utter_message(response="utter_ask_location_ward", street=pending["query"],
                                     buttons=buttons, json_message={"request_location": True})
        elif pending:
            response = "utter_ask_location_exif" if pending.get("source") == "exif" else "utter_ask_location_confirm"
            dispatcher.utter_message(response=response, place=pending["display"],
                                     buttons=report.yes_no_buttons())
        else:
            dispatcher.utter_message(response="utter_ask_location", json_message={"request_location": True})
        return []


class ActionAskPhotosDone(Action):
    def name(self) -> Text:
        return "action_ask_photos_done"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        count = len(tracker.get_slot("photos") or [])
        response = "utter_photos_received" if count else "utter_ask_photos_done"
        dispatcher.utter_message(response=response, count=count, max_photos=MAX_PHOTOS_PER_REPORT,
                                 buttons=report.photo_buttons(count))
        return []


class ActionAskConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_confirmed"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        summary = report.summary_params(tracker.current_slot_values(), await catalogue.categories())
        dispatcher.utter_message(response="utter_ask_confirmed", buttons=report.summary_buttons(), **summary)
        return []
