"""The report form's questions: each shows what is known so far, with buttons to answer."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import EventType

from bot import duplicates, report
from bot.area import load_area
from bot.photos import MAX_PHOTOS_PER_REPORT

from .common import catalogue
from .report_form import LOCATION_TRIES


class ActionAskCategory(Action):
    def name(self) -> Text:
        return "action_ask_category"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        names = await catalogue.categories()
        guess = tracker.get_slot("category_guess")
        buttons = report.question_buttons("category", tracker.current_slot_values(), names)
        if report.times_asked(tracker.events, "category") >= report.ASKED_ENOUGH:
            # Twice without an answer it could use: not the same question again, but where to
            # turn when no category fits.
            dispatcher.utter_message(response="utter_ask_category_other", buttons=buttons)
        elif guess in names:
            dispatcher.utter_message(response="utter_ask_category_guess",
                                     category_name=report.category_name(guess, names), buttons=buttons)
        else:
            dispatcher.utter_message(response="utter_ask_category_choice", buttons=buttons)
        return []


class ActionAskLocation(Action):
    def name(self) -> Text:
        return "action_ask_location"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        pending = tracker.get_slot("location_pending")
        buttons = report.question_buttons("location", tracker.current_slot_values(), {})
        if (tracker.get_slot("location_tries") or 0) >= LOCATION_TRIES and not (pending or {}).get("latitude"):
            # Typing has failed twice: never the same question a third time, but other ways to
            # say where (a pin, or the ward from a list: the street's, else all of Huế's).
            buttons = buttons or report.ward_buttons(report.unit_names(load_area().units))
            dispatcher.utter_message(response="utter_ask_location_other", buttons=buttons,
                                     json_message={"request_location": True})
        elif pending and pending.get("choices"):
            dispatcher.utter_message(response="utter_ask_location_ward", street=pending["query"],
                                     buttons=buttons, json_message={"request_location": True})
        elif pending:
            response = "utter_ask_location_exif" if pending.get("source") == "exif" else "utter_ask_location_confirm"
            dispatcher.utter_message(response=response, place=pending["display"], buttons=buttons)
        else:
            dispatcher.utter_message(response="utter_ask_location", json_message={"request_location": True})
        return []


class ActionAskDuplicate(Action):
    def name(self) -> Text:
        return "action_ask_duplicate"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        offer = tracker.get_slot("duplicate_offer") or []
        dispatcher.utter_message(response="utter_ask_duplicate", offer=duplicates.offer_text(offer),
                                 buttons=duplicates.offer_buttons(offer))
        return []


class ActionAskPhotosDone(Action):
    def name(self) -> Text:
        return "action_ask_photos_done"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        count = len(tracker.get_slot("photos") or [])
        response = "utter_photos_received" if count else "utter_ask_photos_done"
        dispatcher.utter_message(response=response, count=count, max_photos=MAX_PHOTOS_PER_REPORT,
                                 buttons=report.question_buttons("photos_done", tracker.current_slot_values(), {}))
        return []


class ActionAskConfirmed(Action):
    def name(self) -> Text:
        return "action_ask_confirmed"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        summary = report.summary_params(tracker.current_slot_values(), await catalogue.categories())
        dispatcher.utter_message(response="utter_ask_confirmed",
                                 buttons=report.question_buttons("confirmed", tracker.current_slot_values(), {}),
                                 **summary)
        return []
