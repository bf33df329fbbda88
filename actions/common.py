"""What every action shares: reading the latest message, the report's slots, and the services
of `bot/` they call (the Open311 server, its categories, the geocoder)."""
from __future__ import annotations

from typing import Any, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from bot.geocode import Geocoder
from bot.open311_client import Open311Client
from bot.services import ServiceCatalogue
from bot.settings import get_settings

REPORT_SLOTS = ("description", "danger_now", "category", "category_guess", "location",
                "location_pending", "location_tries", "duplicate", "duplicate_offer", "photos", "photos_done",
                "confirmed", "requested_slot")

catalogue = ServiceCatalogue()
_geocoder: Optional[Geocoder] = None


def geocoder() -> Geocoder:
    """One per process: it holds the gazetteer and Nominatim's rate limit."""
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
