"""Conversations written into Rasa's own SQL tracker store (SQLite `DATA_DIR/trackers.sqlite3`,
what `make run` uses), as the Rasa server would have stored them, for what reads the store
afterwards (the admins' inbox and dashboard).

    await store_said(data_dir, "den duong hong", "nlu_fallback", 0.21, previous="Bạn cần gì ạ?")
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from tools import supervise


async def store_said(data_dir: Path, text: str, intent: str, confidence: float, *,
                     channel: str = "telegram", previous: Optional[str] = None,
                     category: Optional[str] = None, category_confidence: float = 0.9,
                     sender: Optional[str] = None, emergency_signs: float = 0.0) -> str:
    """Stores a citizen's `text`, understood as `intent` with `confidence` (and the `category`
    entity, when given; `emergency_signs`, the emergency's rank), after the assistant said
    `previous`, then the fallback action when the intent is a fallback; the sender id (a new one
    unless given)."""
    sender = sender or f"{channel}:{uuid.uuid4().hex[:8]}"
    entities: List[Dict[str, Any]] = []
    if category:
        entities.append({"entity": "category", "value": category, "confidence_entity": category_confidence,
                         "extractor": "CategoryClassifier"})
    parse_data = {"text": text, "intent": {"name": intent, "confidence": confidence},
                  "intent_ranking": [{"name": intent, "confidence": confidence}], "entities": entities}
    if emergency_signs:
        parse_data["intent_ranking"].append({"name": "emergency", "confidence": emergency_signs})
    events: List[Event] = [ActionExecuted("action_listen")]
    if previous:
        events.insert(0, BotUttered(previous))
    events.append(UserUttered(text, parse_data["intent"], entities, parse_data, input_channel=channel))
    if intent == "nlu_fallback":
        events.append(ActionExecuted("action_fallback"))
    await store_events(data_dir, sender, events)
    return sender


async def store_events(data_dir: Path, sender: str, events: List[Event], url: Optional[str] = None) -> None:
    """Appends `events` (Rasa's own: UserUttered, BotUttered with its `utter_action`, SlotSet...)
    to `sender`'s conversation in the store, as the Rasa server would after a turn; the store of
    TRACKER_STORE_URL `url` when given."""
    if url:
        config = supervise.tracker_store(url)
        store = SQLTrackerStore(Domain.empty(), dialect=config["dialect"], host=config.get("url"),
                                port=config.get("port"), db=config["db"], username=config.get("username"),
                                password=config.get("password"))
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(data_dir / "trackers.sqlite3"))
    try:
        tracker = await store.retrieve(sender) or DialogueStateTracker(sender, slots=[])
        for event in events:
            tracker.update(event)
        await store.save(tracker)
    finally:
        store.engine.dispose()


def user_said(text: str, intent: str, confidence: float = 0.95, *, channel: str = "telegram",
              entities: Sequence[Dict[str, Any]] = (), ranking: Optional[List[Dict[str, Any]]] = None,
              at: Optional[float] = None) -> UserUttered:
    """A citizen's message as the Rasa server stores it (`at`: Unix time, default now)."""
    parse_data = {"text": text, "intent": {"name": intent, "confidence": confidence},
                  "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
                  "entities": list(entities)}
    return UserUttered(text, parse_data["intent"], list(entities), parse_data, input_channel=channel,
                       timestamp=at)


def bot_said(text: str, response: Optional[str] = None, *, buttons: Sequence[str] = (),
             at: Optional[float] = None) -> BotUttered:
    """The assistant's message: the response it came from, the payloads of its buttons."""
    return BotUttered(text, {"buttons": [{"title": p, "payload": p} for p in buttons]} if buttons else {},
                      {"utter_action": response} if response else {}, timestamp=at)
