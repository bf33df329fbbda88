"""The report form's validation: takes what each message gives, whatever the step."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.types import DomainDict

from bot import report
from bot.geocode import Place, describe_point
from bot.messages import location_from, photos_from
from bot.photos import MAX_PHOTOS_PER_REPORT

from .common import catalogue, entity_values, geocoder, intent_of, requested

# Intents that interrupt a report: the form fills nothing, so Rasa rejects it and the rules for
# these intents answer (then the report carries on, or stops for "hủy").
INTERRUPTIONS = {"cancel", "emergency", "check_status", "help", "bot_challenge", "share_contact"}


class ValidateReportForm(FormValidationAction):
    """Takes what each message gives, whatever the step, and asks only for what is missing."""

    def name(self) -> Text:
        return "validate_report_form"

    async def run(self, dispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        # rasa-sdk returns only the validated required slots; the helper slots set while
        # extracting (photos, location_pending, category_guess) must reach the tracker too.
        if tracker.get_slot("requested_slot") and intent_of(tracker) in INTERRUPTIONS:
            return []
        extracted = await self.get_extraction_events(dispatcher, tracker, domain)
        tracker.add_slots(extracted)
        validated = await self._extract_validation_events(dispatcher, tracker, domain)
        names = {event["name"] for event in validated}
        return [event for event in extracted if event["name"] not in names] + validated

    # description -------------------------------------------------------------------------
    async def extract_description(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        text = tracker.latest_message.get("text") or ""
        if requested(tracker, "description"):
            return {"description": text}
        starting = tracker.get_slot("requested_slot") is None and not tracker.get_slot("description")
        # NLU sometimes reads an address-bearing complaint as `inform`; the category it infers
        # shows it is a complaint all the same.
        if starting and intent_of(tracker) in ("report_issue", "inform") and entity_values(tracker, "category"):
            # The first message holds the complaint itself: keep it as the description.
            return {"description": text}
        return {}

    def validate_description(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        description = report.clean_description(value or "")
        return {"description": description if report.is_description(description) else None}

    # category ----------------------------------------------------------------------------
    async def extract_category(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if not requested(tracker, "category"):
            return {}
        text = tracker.latest_message.get("text") or ""
        named = (entity_values(tracker, "category", typed_only=True)
                 or [report.category_named_in(text, await catalogue.categories())])
        if named[0]:
            return {"category": named[0]}
        guess = tracker.get_slot("category_guess")
        intent = intent_of(tracker)
        if intent == "affirm" and guess:
            return {"category": guess}
        inferred = entity_values(tracker, "category")
        if inferred and inferred[0] != guess:
            # "không phải, là chuyện ống nước": propose what the correction reads as.
            return {"category": None, "category_guess": inferred[0]}
        if intent == "deny":
            return {"category": None, "category_guess": None}
        return {"category": None}

    async def validate_category(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        # The server's codes, not the NLU's: a category the NLU never learnt is still a button.
        if value not in await catalogue.categories():
            return {"category": None}
        return {"category": value, "category_guess": value}

    # location ----------------------------------------------------------------------------
    async def extract_location(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        pin = location_from(tracker.latest_message)
        if pin:
            place = describe_point(pin["latitude"], pin["longitude"])
            if place is None:
                # Refuse it, but keep a location given before.
                dispatcher.utter_message(response="utter_location_outside")
                return {"location": None} if requested(tracker, "location") else {}
            return {"location": {"resolved": report.location_from_place(place, "pin")}}
        intent = intent_of(tracker)
        pending = tracker.get_slot("location_pending")
        exif = self.exif_place(tracker)
        if exif and not tracker.get_slot("location") and not pending:
            # A photo taken on the spot knows where it was taken: offer that place.
            return {"location_pending": report.location_from_place(exif, "exif")}
        if requested(tracker, "location"):
            if pending and pending.get("latitude") is not None and intent == "affirm":
                return {"location": {"resolved": pending}}
            if pending and intent == "deny":
                return {"location": None, "location_pending": None}
            text = tracker.latest_message.get("text") or ""
            if text.startswith("/"):
                return {"location": None}
            if text in (pending or {}).get("choices", ()):
                return {"location": {"typed": text, "picked": True}}
            addresses = entity_values(tracker, "address")
            return {"location": {"typed": addresses[0] if addresses else text}}
        starting = tracker.get_slot("requested_slot") is None
        addresses = entity_values(tracker, "address")
        if starting and addresses and not tracker.get_slot("location"):
            return {"location": {"typed": addresses[0], "quiet": True}}
        return {}

    @staticmethod
    def exif_place(tracker: Tracker) -> Optional[Place]:
        """The place (inside Huế) recorded in the EXIF data of a photo just sent, if any."""
        for photo in photos_from(tracker.latest_message):
            position = photo.get("exif_location")
            if position:
                place = describe_point(position["latitude"], position["longitude"])
                if place:
                    return place
        return None

    async def validate_location(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if not isinstance(value, dict):
            return {"location": None}
        if "resolved" in value:  # a pin inside Huế, or a place the citizen confirmed
            return {"location": value["resolved"], "location_pending": None}
        if "typed" in value:
            return await self.resolve_typed(value["typed"], dispatcher, quiet=value.get("quiet", False),
                                            picked=value.get("picked", False))
        return {"location": None}

    @staticmethod
    async def resolve_typed(typed: str, dispatcher, *, quiet: bool, picked: bool) -> Dict[Text, Any]:
        """A typed address becomes a place to confirm, ward buttons, or a clear refusal.
        `quiet` is for an address caught in the first message: no complaint about it yet;
        `picked`, for a unit the citizen chose from our own buttons: nothing left to confirm."""
        place = await geocoder().resolve(typed)
        if place is None or (place.unit is None and not place.candidates):
            if not quiet:
                outside = place is not None and place.outside_hue
                dispatcher.utter_message(
                    response="utter_location_outside" if outside else "utter_location_not_found", query=typed)
            return {"location": None, "location_pending": None}
        pending = report.location_from_place(place, "typed")
        if place.unit is None:
            # A street through several units: the citizen picks the unit from buttons.
            choices = [b["payload"] for b in report.ward_choices(place)]
            return {"location": None, "location_pending": {**pending, "choices": choices, "query": place.query}}
        if picked:
            return {"location": pending, "location_pending": None}
        return {"location": None, "location_pending": pending}

    # photos ------------------------------------------------------------------------------
    async def extract_photos_done(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        new = photos_from(tracker.latest_message)
        if new:
            before = tracker.get_slot("photos") or []
            if len(before) + len(new) > MAX_PHOTOS_PER_REPORT:
                dispatcher.utter_message(response="utter_photos_limit", max_photos=MAX_PHOTOS_PER_REPORT)
            photos = {"photos": report.add_photos(before, new)}
            # Re-asking after each photo tells the citizen how many arrived.
            return {**photos, "photos_done": None} if requested(tracker, "photos_done") else photos
        if requested(tracker, "photos_done"):
            return {"photos_done": True if intent_of(tracker) in ("affirm", "deny") else None}
        return {}

    def validate_photos_done(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return {"photos_done": True if value else None}

    # summary -----------------------------------------------------------------------------
    async def extract_confirmed(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if not requested(tracker, "confirmed"):
            return {}
        intent = intent_of(tracker)
        if intent == "affirm":
            return {"confirmed": True}
        fields = entity_values(tracker, "field")
        if intent == "deny" and fields:
            return {"confirmed": None, **{slot: None for slot in report.fix_slots(fields[0])}}
        return {"confirmed": None}

    def validate_confirmed(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return {"confirmed": True if value else None}
