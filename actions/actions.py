"""Rasa custom actions. Thin: each reads the tracker, calls `bot/` and says what it found."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot import misses, outbox, report
from bot.geocode import Geocoder, describe_point
from bot.messages import channel_from, location_from, phone_from, photos_from
from bot.open311_client import BackendRejected, BackendUnavailable, Open311Client
from bot.photos import MAX_PHOTOS_PER_REPORT
from bot.report_codes import normalize_report_code
from bot.settings import get_settings

logger = logging.getLogger(__name__)

# Intents that interrupt a report: the form fills nothing, so Rasa rejects it and the rules for
# these intents answer (then the report carries on, or stops for "hủy").
INTERRUPTIONS = {"cancel", "emergency", "check_status", "help", "bot_challenge", "share_contact"}
REPORT_SLOTS = ("description", "category", "category_guess", "location", "location_pending",
                "photos", "photos_done", "confirmed", "requested_slot")
_geocoder: Optional[Geocoder] = None


def geocoder() -> Geocoder:
    global _geocoder
    if _geocoder is None:
        _geocoder = Geocoder(get_settings())
    return _geocoder


def client() -> Open311Client:
    return Open311Client.from_settings(get_settings())


def intent_of(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def entity_values(tracker: Tracker, entity: str, *, typed_only: bool = False) -> List[Any]:
    """Values of an entity in the latest message; `typed_only` skips inferred ones."""
    return [
        e.get("value")
        for e in tracker.latest_message.get("entities") or []
        if e.get("entity") == entity
        and not (typed_only and e.get("extractor") == "CategoryClassifier")
    ]


def requested(tracker: Tracker, slot: str) -> bool:
    return tracker.get_slot("requested_slot") == slot


def reset_report() -> List[EventType]:
    return [SlotSet(slot, None) for slot in REPORT_SLOTS]


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
        named = entity_values(tracker, "category", typed_only=True) or [report.category_named_in(text)]
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

    def validate_category(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if value not in report.category_names():
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
    def exif_place(tracker: Tracker):
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


class ActionAskCategory(Action):
    def name(self) -> Text:
        return "action_ask_category"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        guess = tracker.get_slot("category_guess")
        if guess in report.category_names():
            dispatcher.utter_message(response="utter_ask_category_guess",
                                     category_name=report.category_name(guess),
                                     buttons=report.confirm_category_buttons(guess))
        else:
            dispatcher.utter_message(response="utter_ask_category_choice",
                                     buttons=report.category_buttons())
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
        dispatcher.utter_message(response="utter_ask_confirmed", buttons=report.summary_buttons(),
                                 **report.summary_params(tracker.current_slot_values()))
        return []


class ActionSubmitReport(Action):
    def name(self) -> Text:
        return "action_submit_report"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        fields = report.request_fields(tracker.current_slot_values(), tracker.sender_id,
                                       channel_from(tracker.latest_message) or tracker.get_latest_input_channel())
        try:
            async with client() as backend:
                await outbox.flush(backend)
                created = await backend.create_request(**fields)
                code = created["service_request_id"]
                sent = await backend.get_request(code) or {}
        except BackendUnavailable as exc:
            outbox.save(fields)
            logger.warning("backend unavailable, report kept in the outbox (sender %s): %s",
                           tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_report_queued")
            return reset_report()
        except BackendRejected as exc:
            logger.error("backend rejected a report (sender %s): %s", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_report_rejected", reason=exc.description)
            return reset_report()
        dispatcher.utter_message(response="utter_report_sent", report_id=code,
                                 agency=sent.get("agency_responsible") or "đang phân công")
        return reset_report()


class ActionCancelReport(Action):
    def name(self) -> Text:
        return "action_cancel_report"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        if tracker.active_loop_name:
            dispatcher.utter_message(response="utter_cancelled")
            return [ActiveLoop(None)] + reset_report()
        dispatcher.utter_message(response="utter_nothing_to_cancel")
        return [ActiveLoop(None)]


class ActionCheckStatus(Action):
    def name(self) -> Text:
        return "action_check_status"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        typed = next(iter(entity_values(tracker, "report_id")), None)
        code = normalize_report_code(typed) if typed else None
        try:
            async with client() as backend:
                await outbox.flush(backend)
                if typed and not code:
                    dispatcher.utter_message(response="utter_status_unknown", report_id=typed)
                elif code:
                    found = await backend.get_request(code)
                    if found:
                        dispatcher.utter_message(response="utter_status", **report.status_params(found))
                    else:
                        dispatcher.utter_message(response="utter_status_unknown", report_id=code)
                else:
                    self.list_own(dispatcher, await backend.list_requests(account_id=tracker.sender_id))
        except BackendUnavailable as exc:
            logger.warning("status lookup failed (sender %s): %s", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_backend_down")
        return [SlotSet("report_id", None)]

    @staticmethod
    def list_own(dispatcher: CollectingDispatcher, requests: List[Dict[str, Any]]) -> None:
        if not requests:
            dispatcher.utter_message(response="utter_status_none")
        elif len(requests) == 1:
            dispatcher.utter_message(response="utter_status", **report.status_params(requests[0]))
        else:
            dispatcher.utter_message(response="utter_status_list_header")
            for request in requests[:5]:
                dispatcher.utter_message(response="utter_status_line", **report.status_params(request))


class ActionStorePhone(Action):
    def name(self) -> Text:
        return "action_store_phone"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        phone = phone_from(tracker.latest_message)
        if not phone:
            return []
        dispatcher.utter_message(response="utter_phone_saved", phone=phone)
        return [SlotSet("phone", phone)]


class ActionFallback(Action):
    """Asks to rephrase; a second miss in a row offers the menu instead."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        message = tracker.latest_message
        misses.record(message.get("text") or "", message.get("intent_ranking") or [],
                      channel_from(message) or tracker.get_latest_input_channel())
        if self.previous_bot_action(tracker) == self.name():
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
