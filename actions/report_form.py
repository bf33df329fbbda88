"""The report form's validation: takes what each message gives, whatever the step."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.types import DomainDict

from bot import danger, duplicates, report
from bot.geocode import Place
from bot.messages import location_from, photos_from
from bot.open311_client import BackendRejected, BackendUnavailable, Open311Client
from bot.photos import MAX_PHOTOS_PER_REPORT
from bot.settings import get_settings

from .common import catalogue, entity_values, geocoder, intent_of, requested, reset_report

logger = logging.getLogger(__name__)

# Intents that interrupt a report: the form fills nothing, so Rasa rejects it and the rules for
# these intents answer (then the report carries on, or stops for "hủy"). The notifier's news that
# an earlier report was resolved is one (actions/feedback.py asks about it outside a report).
INTERRUPTIONS = {"cancel", "emergency", "check_status", "help", "bot_challenge", "share_contact",
                 "EXTERNAL_report_resolved"}
# After this many typed addresses that did not give a place, the question offers other ways.
LOCATION_TRIES = 2


class ValidateReportForm(FormValidationAction):
    """Takes what each message gives, whatever the step, and asks only for what is missing."""

    def name(self) -> Text:
        return "validate_report_form"

    async def run(self, dispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        # rasa-sdk returns only the validated required slots; the helper slots set while
        # extracting (photos, location_pending, category_guess) must reach the tracker too.
        asked = tracker.get_slot("requested_slot")
        if not asked and report.is_old_button(tracker.latest_message):
            # A button left from a report that is over would start a report that swallows the
            # next messages: say so, and end the form before it asks anything.
            dispatcher.utter_message(response="utter_report_over")
            return reset_report() + [ActiveLoop(None)]
        if asked:
            # A button's word typed by hand means what the button means ("bỏ qua" skips the
            # photos; the NLU alone would read it as cancelling the whole report).
            buttons = report.answer_buttons(asked, tracker.current_slot_values(), await catalogue.categories())
            button = report.typed_button(tracker.latest_message.get("text") or "", buttons)
            if asked == "duplicate":  # "PA000123", "theo dõi", "gửi mới" (a code alone reads as a status question)
                button = duplicates.typed_choice(tracker.latest_message.get("text") or "",
                                                 tracker.get_slot("duplicate_offer") or [])
            if button:
                tracker.latest_message = report.pressed(tracker.latest_message, button)
        # At the danger question an emergency told in words is the answer, not an interruption.
        answers_danger = asked == "danger_now" and intent_of(tracker) == "emergency"
        if asked and intent_of(tracker) in INTERRUPTIONS and not answers_danger:
            return []
        extracted = await self.get_extraction_events(dispatcher, tracker, domain)
        tracker.add_slots(extracted)
        validated = await self._extract_validation_events(dispatcher, tracker, domain)
        offer = await self.look_for_duplicates(tracker)
        if offer:
            # Found now that the category and the place are known: the next question may change.
            tracker.add_slots([SlotSet(name, value) for name, value in offer.items()])
            validated = [event for event in validated if event["name"] != "requested_slot"]
            validated += [SlotSet(name, value) for name, value in offer.items()]
            validated += [event for event in [await self.next_requested_slot(dispatcher, tracker, domain)] if event]
        names = {event["name"] for event in validated}
        return [event for event in extracted if event["name"] not in names] + validated

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> List[Text]:
        # A citizen who follows a nearby report instead has nothing more to say about theirs.
        if duplicates.follows(tracker.get_slot("duplicate")):
            return domain_slots[:domain_slots.index("duplicate") + 1]
        return domain_slots

    # duplicates --------------------------------------------------------------------------
    @staticmethod
    async def look_for_duplicates(tracker: Tracker) -> Dict[Text, Any]:
        """The nearby open reports of the category, once category and place are known; a server
        that has no such query (or cannot answer) leaves nothing to offer."""
        query = duplicates.to_look_up(tracker.current_slot_values())
        if query is None:
            return {}
        try:
            async with Open311Client.from_settings(get_settings(), retries=0) as backend:
                found = await backend.nearby(**query)
        except (BackendUnavailable, BackendRejected) as exc:
            logger.info("no duplicate offer, the nearby query failed: %s",
                        exc.detail if isinstance(exc, BackendUnavailable) else f"HTTP {exc.code} {exc.description}")
            found = []
        offer = duplicates.offered(found, query["lat"], query["long"], query["radius_m"], datetime.now(timezone.utc))
        return duplicates.outcome(offer)

    async def extract_duplicate(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if not requested(tracker, "duplicate"):
            return {}
        return {"duplicate": duplicates.chosen(intent_of(tracker), entity_values(tracker, "report_id"),
                                               tracker.get_slot("duplicate_offer") or [])}

    def validate_duplicate(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return {"duplicate": value or None}

    # danger ------------------------------------------------------------------------------
    async def extract_danger_now(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if requested(tracker, "danger_now"):
            # Recall before precision: only a clear "no" goes on without the emergency numbers.
            return {"danger_now": intent_of(tracker) != "deny"}
        # Decided on the complaint itself: the message starting the report, or the description asked for.
        complaint = tracker.get_slot("requested_slot") in (None, "description")
        if complaint and tracker.get_slot("danger_now") is None and not danger.worth_asking(tracker.latest_message):
            return {"danger_now": False}  # no danger signs: the question is not asked
        return {}

    def validate_danger_now(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if value:
            dispatcher.utter_message(response="utter_emergency")
        return {"danger_now": value}

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
        asked = report.times_asked(tracker.events, "description")
        return {"description": description if report.is_description(description, asked) else None}

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
        if intent == "deny" or report.says_no(text):
            # The same guess again would be the question they just said no to: list them all.
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
            place = geocoder().describe_point(pin["latitude"], pin["longitude"])
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
            addresses = entity_values(tracker, "address")
            if intent == "share_location" and not addresses:
                # "gửi vị trí" typed, as the keyboard's button says: no address, the pin is to come.
                return {"location": None}
            if text.startswith("/"):
                if intent == "inform" and addresses:  # a ward button: completes the street, if any
                    typed = report.with_street(addresses[0], pending) or addresses[0]
                    return {"location": {"typed": typed, "picked": True}}
                return {"location": None}
            typed = report.joined_address(addresses) or text
            return {"location": {"typed": typed, "whole": text, "rest_of": report.with_street(typed, pending)}}
        starting = tracker.get_slot("requested_slot") is None
        addresses = entity_values(tracker, "address")
        if starting and addresses and not tracker.get_slot("location"):
            # The whole message too: the spans may leave out the unit's "phường"/"xã" it needs.
            text = tracker.latest_message.get("text") or ""
            return {"location": {"typed": report.joined_address(addresses), "whole": text, "quiet": True}}
        return {}

    @staticmethod
    def exif_place(tracker: Tracker) -> Optional[Place]:
        """The place (inside Huế) recorded in the EXIF data of a photo just sent, if any."""
        for photo in photos_from(tracker.latest_message):
            position = photo.get("exif_location")
            if position:
                place = geocoder().describe_point(position["latitude"], position["longitude"])
                if place:
                    return place
        return None

    async def validate_location(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if not isinstance(value, dict):
            return {"location": None}
        if "resolved" in value:  # a pin inside Huế, or a place the citizen confirmed
            return {"location": value["resolved"], "location_pending": None}
        if "typed" in value:
            pending = tracker.get_slot("location_pending")
            if value.get("rest_of") and not await self.names_a_place(value["typed"]):
                # The ward of the street asked about: "45 Nguyễn Huệ", then "phường Thuận Hóa".
                ward = await geocoder().resolve(value["rest_of"])
                if ward is not None and ward.unit is not None and ward.unit.full_name in pending["choices"]:
                    return {"location": report.location_from_place(ward, "typed"), "location_pending": None}
            quiet = value.get("quiet", False)
            # The address spans the NLU found first; the whole message when they miss the ward.
            queries = [value["typed"]]
            if value.get("whole") and value["whole"] != value["typed"]:
                completed = report.with_units_named(value["typed"], value["whole"])
                queries += [completed, value["whole"]] if completed else [value["whole"]]
            slots = await self.resolve_typed(queries, dispatcher, quiet=quiet, picked=value.get("picked", False))
            if not quiet and slots["location"] is None and not (slots["location_pending"] or {}).get("latitude"):
                # Not a place yet: counted, so that the question changes instead of repeating.
                slots["location_tries"] = (tracker.get_slot("location_tries") or 0) + 1
            return slots
        return {"location": None}

    @staticmethod
    async def names_a_place(typed: str) -> bool:
        """Whether `typed` is a place of its own (a landmark, coordinates), not the rest of a street."""
        place = await geocoder().resolve(typed)
        return place is not None and place.precise

    @staticmethod
    async def resolve_typed(queries: List[str], dispatcher, *, quiet: bool, picked: bool) -> Dict[Text, Any]:
        """A typed address becomes a place to confirm, ward buttons, or a clear refusal; of several
        readings of it (`queries`), the first that finds the unit, else the first.
        `quiet` is for an address caught in the first message: no complaint about it yet;
        `picked`, for a unit the citizen chose from our own buttons: nothing left to confirm."""
        typed = queries[0]
        place = first = await geocoder().resolve(typed)
        for query in queries[1:]:
            if place is not None and place.unit is not None:
                break
            place = await geocoder().resolve(query)
        if place is None or place.unit is None:
            place = first
        if place is None or (place.unit is None and not place.candidates):
            if not quiet:
                outside = place is not None and place.outside_hue
                dispatcher.utter_message(
                    response="utter_location_outside" if outside else "utter_location_not_found", query=typed)
            return {"location": None, "location_pending": None}
        pending = report.location_from_place(place, "typed")
        if place.unit is None:
            # A street through several units: the citizen picks the unit from buttons.
            choices = report.unit_names(place.candidates)
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
