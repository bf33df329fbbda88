"""The admins' inbox: what the citizens wrote that the assistant did not understand well enough,
read from Rasa's tracker store and grouped by wording.

A message comes in for one of these reasons: the fallback (intent `nlu_fallback`, or
`action_fallback` ran after it), `out_of_scope`, an intent or an inferred category less sure than
INBOX_MIN_CONFIDENCE (`low_intent`, `low_category`), a complaint whose category could not be
inferred (`no_category`: the citizen was asked to describe it again; asking to report, "tôi muốn
phản ánh", is understood when the training data has it), or the citizen corrected the assistant: picked
another category than the one proposed or said "không phải" to it (`corrected_category`, the
message that proposed it, with the category they chose as `hint`), said the place understood was
wrong (`corrected_place`, with the address they typed next), or said "không phải" to an answer
that asked nothing (`denied`: the message before was misunderstood). Kept with the assistant's best
guesses, what it said just before, the channel and the time; never who sent it. Button payloads,
photos and pins are not wording to learn from, nor a button's word typed at its question ("gửi" at
the summary: it worked as the button, bot/report.py typed_button).

Each group's last decision (`decisions`) stays with it: a new message of a discarded wording joins
it there, one of a labelled wording joins the labelled group unless it was still answered otherwise
than its label (another intent, the fallback, or for a complaint another category): only then does
it come back to the open inbox.

`scan` reads the tracker store incrementally (a cursor per store, a small overlap for rows that
other Rasa servers committed late, and a unique (message, reason) so reading twice adds nothing).
Messages are grouped by `key`: lowercase, without marks and punctuation, so "Đèn đường hỏng!" and
"den duong hong" are one group.
"""
from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from typing import Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Tuple

from sqlalchemy import create_engine
from sqlalchemy import text as sql
from sqlalchemy.engine import Connection, make_url

from bot import danger
from bot.admin import audit, store
from bot.admin.errors import AdminError
from bot.messages import PHONE, SEND_PHOTO, SHARE_CONTACT, SHARE_LOCATION
from bot.report import typed_button
from bot.settings import Settings
from bot.text import fold

REASONS = ("fallback", "out_of_scope", "low_intent", "low_category", "no_category", "corrected_category",
           "corrected_place", "denied")
REPORT = "report_issue"
# Intents a channel sends with data (a pin, a photo, a phone number): nothing typed to learn from.
CHANNEL_INTENTS = frozenset(payload.lstrip("/") for payload in (SHARE_LOCATION, SEND_PHOTO, SHARE_CONTACT))
BATCH = 2000
# Rows below the cursor read again: with several Rasa servers a row with a lower id may be
# committed after a higher one was read.
OVERLAP = 200
# Earlier events of a conversation read with new ones: the assistant's turn before a message,
# the question a "không phải" answers.
CONTEXT = 80
_NOT_WORDS = re.compile(r"[\W_]+")
# A phone number a citizen typed (or the summary repeated) is not kept (PHONE): it says who they are.
PHONE_MASK = "SĐT"
EXTERNAL_PREFIX = "EXTERNAL: "  # the text Rasa gives a trigger_intent's user event


def key_of(text: str) -> str:
    """The group of a wording: lowercase, marks stripped, punctuation and spaces collapsed."""
    return _NOT_WORDS.sub(" ", fold(text)).strip()


def tracker_store_url(settings: Settings) -> Optional[str]:
    """The SQL tracker store the Rasa servers write (tools/supervise.py); None before the first
    conversation of a store on SQLite."""
    if settings.tracker_store_url:
        url = settings.tracker_store_url
        # SQLAlchemy knows PostgreSQL only by its full name.
        return "postgresql://" + url[len("postgres://"):] if url.startswith("postgres://") else url
    path = settings.data_dir / "trackers.sqlite3"
    return f"sqlite:///{path}" if path.exists() else None


@contextmanager
def tracker_events(settings: Settings) -> Iterator[Optional[Tuple[str, Connection]]]:
    """The tracker store's name (its URL without password) and a connection to it; None when
    there is no store or no `events` table yet."""
    url = tracker_store_url(settings)
    if url is None:
        yield None
        return
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            has_events = engine.dialect.has_table(connection, "events")
            yield (make_url(url).render_as_string(hide_password=True), connection) if has_events else None
    finally:
        engine.dispose()


def _event(row: Any) -> Dict[str, Any]:
    event = json.loads(row.data or "{}")
    event.update(_id=row.id, _sender=row.sender_id, _type=row.type_name, _at=row.timestamp)
    return event


def _iso(timestamp: Optional[float]) -> str:
    return datetime.fromtimestamp(timestamp or 0, timezone.utc).isoformat(timespec="seconds")


def _mask(text: Optional[str]) -> Optional[str]:
    return PHONE.sub(PHONE_MASK, text) if text else text


def _entity(parse_data: Dict[str, Any], name: str) -> Optional[Dict[str, Any]]:
    return next((e for e in parse_data.get("entities") or [] if e.get("entity") == name), None)


def _confidence(entity: Dict[str, Any]) -> Optional[float]:
    # The category classifier says `confidence`, Rasa's extractors `confidence_entity`; an entity
    # from a button says neither (the citizen chose it).
    value = entity.get("confidence", entity.get("confidence_entity"))
    return None if value is None else float(value)


def _guess(parse_data: Dict[str, Any]) -> Dict[str, Any]:
    intent = parse_data.get("intent") or {}
    if intent.get("name") == "nlu_fallback":
        # What the model would have said: more use to the admin than "fallback".
        intent = next((r for r in parse_data.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"), intent)
    category = _entity(parse_data, "category") or {}
    category_confidence = _confidence(category) if category else None
    return {"intent": intent.get("name"), "intent_confidence": round(float(intent.get("confidence") or 0), 3),
            "category": category.get("value"),
            "category_confidence": None if category_confidence is None else round(category_confidence, 3),
            # The assistant asked "is anyone in danger right now?" (bot/danger.py).
            "danger_asked": danger.worth_asking(parse_data)}


def from_citizen(event: Dict[str, Any]) -> bool:
    """A user event a citizen sent, not the assistant's own trigger_intent (the notifier's)."""
    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""
    return not intent.startswith("EXTERNAL_") and not (event.get("text") or "").startswith(EXTERNAL_PREFIX)


def citizen_wording(event: Dict[str, Any]) -> bool:
    """A message the citizen typed (not a button, a photo, a pin, nor a trigger_intent)."""
    text = (event.get("text") or "").strip()
    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""
    return from_citizen(event) and bool(key_of(text)) and not text.startswith("/") and intent not in CHANNEL_INTENTS


def plain_requests(settings: Settings) -> FrozenSet[str]:
    """The keys of the training data's complaints without a category: asking to report ("tôi muốn
    phản ánh"), rightly answered by asking what the problem is."""
    from bot.admin import labels  # here, not above: labels builds on this module

    return frozenset(key_of(text) for block in labels.training_blocks(settings)
                     if block.intent == REPORT and block.category is None for text in block.examples)


def unsure_reason(parse_data: Dict[str, Any], min_confidence: float,
                  plain: FrozenSet[str] = frozenset()) -> Optional[str]:
    """Why a typed message belongs in the inbox on its own, if it does (`plain`: plain_requests)."""
    intent = parse_data.get("intent") or {}
    if intent.get("name") == "nlu_fallback":
        return "fallback"
    if intent.get("name") == "out_of_scope":
        return "out_of_scope"
    if float(intent.get("confidence") or 0) < min_confidence:
        return "low_intent"
    category = _entity(parse_data, "category")
    confidence = _confidence(category) if category else None
    if confidence is not None and confidence < min_confidence:
        return "low_category"
    if category is None and intent.get("name") == REPORT and key_of(parse_data.get("text") or "") not in plain:
        return "no_category"
    return None


def button_word(event: Dict[str, Any], buttons: Sequence[Dict[str, Any]]) -> bool:
    """A button's word typed at the question that showed it: it worked as the button."""
    return bool(buttons) and typed_button(event.get("text") or "", buttons) is not None


Found = Tuple[Dict[str, Any], str, Optional[Dict[str, Any]]]  # message, reason, hint


class _Conversation:
    """Walks one conversation's events in order and says which messages go to the inbox."""

    def __init__(self, min_confidence: float, fresh_after: int, plain: FrozenSet[str]) -> None:
        self.min_confidence = min_confidence
        self.plain = plain
        self.fresh_after = fresh_after  # only what an event after this id shows is reported
        self.found: List[Found] = []
        self._new_session()

    def _new_session(self) -> None:
        self.previous: Optional[str] = None  # the assistant's last words
        self.channel: Optional[str] = None
        self.last_typed: Optional[Dict[str, Any]] = None
        self.last_user: Optional[Dict[str, Any]] = None
        self.guess: Optional[str] = None  # slot category_guess
        self.question: Optional[str] = None  # what the assistant's last turn asked
        self.buttons: List[Dict[str, Any]] = []  # the buttons it showed
        self.proposal: Optional[Tuple[Dict[str, Any], Optional[str]]] = None  # message, category proposed
        self.place_asked: Optional[Dict[str, Any]] = None  # message whose place was asked to confirm
        self.place_denied: Optional[Dict[str, Any]] = None

    def _found(self, event: Dict[str, Any], message: Optional[Dict[str, Any]], reason: str,
               hint: Optional[Dict[str, Any]] = None) -> None:
        if message is not None and event["_id"] > self.fresh_after:
            self.found.append((message, reason, hint))

    def _last_typed_with(self, entity: str) -> Optional[Dict[str, Any]]:
        return self.last_typed if self.last_typed and self.last_typed["_entities"].get(entity) else None

    def read(self, event: Dict[str, Any]) -> None:
        kind = event["_type"]
        if kind == "session_started":
            self._new_session()
        elif kind == "bot":
            self._bot(event)
        elif kind == "slot":
            self._slot(event)
        elif kind == "action" and event.get("name") == "action_fallback":
            self._found(event, self.last_user, "fallback")
        elif kind == "user":
            self._user(event)

    def _bot(self, event: Dict[str, Any]) -> None:
        response = (event.get("metadata") or {}).get("utter_action") or ""
        buttons = (event.get("data") or {}).get("buttons") or []
        text = event.get("text") or ""
        self.buttons = buttons or self.buttons
        if response == "utter_ask_category_guess":
            self.question = "category"
            proposed = self._last_typed_with("category") or self.last_typed
            self.proposal = (proposed, self.guess) if proposed else None
        elif response == "utter_ask_location_confirm":
            self.question = "place"
            self.place_asked = self._last_typed_with("address")
        elif response.startswith("utter_ask") or text.rstrip().endswith("?") \
                or any(b.get("payload") == "/deny" for b in buttons):
            self.question = self.question or "other"
        if text:
            self.previous = _mask(text)

    def _slot(self, event: Dict[str, Any]) -> None:
        name, value = event.get("name"), event.get("value")
        if name == "category_guess":
            self.guess = value
        elif name == "category" and value and self.proposal:
            message, proposed = self.proposal
            if value != proposed:
                self._found(event, message, "corrected_category", {"category": value})
            self.proposal = None

    def _user(self, event: Dict[str, Any]) -> None:
        parse_data = event.get("parse_data") or {}
        intent = (parse_data.get("intent") or {}).get("name")
        question, self.question = self.question, None
        buttons, self.buttons = self.buttons, []
        self.channel = (event.get("metadata") or {}).get("channel") or event.get("input_channel") or self.channel
        message = self._message(event, parse_data) if citizen_wording(event) else None
        if intent == "deny":
            if question == "category" and self.proposal:
                self._found(event, self.proposal[0], "corrected_category")
            elif question == "place" and self.place_asked:
                self._found(event, self.place_asked, "corrected_place")
                self.place_denied = self.place_asked
            elif question is None and self.last_user and self.last_user["guess"]["intent"] != "deny":
                # The answer to the citizen's message just before (typed, not a button) was wrong.
                self._found(event, self.last_user, "denied")
        elif self.place_denied and message and message["_entities"].get("address"):
            self._found(event, self.place_denied, "corrected_place", {"address": message["_entities"]["address"]})
            self.place_denied = None
        if message:
            reason = None if button_word(event, buttons) else unsure_reason(parse_data, self.min_confidence,
                                                                            self.plain)
            if reason:
                self._found(event, message, reason)
            self.last_typed = message
        self.last_user = message

    def _message(self, event: Dict[str, Any], parse_data: Dict[str, Any]) -> Dict[str, Any]:
        text = _mask(" ".join(event["text"].split())) or ""
        return {"source": f"{event['_id']}:{event['_at']!r}", "text": text, "key": key_of(text),
                "guess": _guess(parse_data), "previous": self.previous, "channel": self.channel,
                "seen_at": _iso(event["_at"]), "answered": (parse_data.get("intent") or {}).get("name"),
                "_entities": {e.get("entity"): e.get("value") for e in parse_data.get("entities") or []}}


COLUMNS = "id, sender_id, type_name, timestamp, data"


def _found_in(connection: Connection, events: Sequence[Any], fresh_after: int, min_confidence: float,
              plain: FrozenSet[str]) -> List[Found]:
    by_sender: Dict[str, List[Any]] = defaultdict(list)
    for row in events:
        by_sender[row.sender_id].append(row)
    found: List[Found] = []
    for sender, rows in by_sender.items():
        earlier = connection.execute(
            sql(f"SELECT {COLUMNS} FROM events WHERE sender_id = :sender AND id <= :before "
                "ORDER BY id DESC LIMIT :n"), {"sender": sender, "before": fresh_after, "n": CONTEXT}).fetchall()
        conversation = _Conversation(min_confidence, fresh_after, plain)
        for row in list(reversed(earlier)) + rows:
            conversation.read(_event(row))
        found += conversation.found
    return found


def _answered_otherwise(message: Dict[str, Any], reason: str, intent: str, category: Optional[str]) -> bool:
    """Whether the assistant answered `message` otherwise than its group's label says."""
    if reason == "fallback" or message["answered"] != intent:
        return True
    return intent == REPORT and message["guess"]["category"] != category


def _status(db: sqlite3.Connection, message: Dict[str, Any], reason: str) -> str:
    decisions = {status: (intent, category) for status, intent, category in db.execute(
        "SELECT status, intent, category FROM decisions WHERE key = ?", (message["key"],))}
    if "discarded" in decisions:
        return "discarded"  # what an admin threw away stays away
    if "labelled" in decisions and not _answered_otherwise(message, reason, *decisions["labelled"]):
        return "labelled"
    return "open"


def _store(db: sqlite3.Connection, found: Iterable[Found]) -> int:
    added = 0
    for message, reason, hint in found:
        status = _status(db, message, reason)
        hint_json = json.dumps(hint, ensure_ascii=False) if hint else None
        added += db.execute(
            "INSERT OR IGNORE INTO inbox (source, reason, key, text, guess, hint, previous, channel, seen_at, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (message["source"], reason, message["key"], message["text"], json.dumps(message["guess"]), hint_json,
             message["previous"], message["channel"], message["seen_at"], status)).rowcount
        if hint_json:
            db.execute("UPDATE inbox SET hint = ? WHERE source = ? AND reason = ? AND hint IS NULL",
                       (hint_json, message["source"], reason))
    return added


def scan(settings: Settings) -> int:
    """Adds to the inbox what the tracker store received since the last scan; how many added."""
    added = 0
    with tracker_events(settings) as opened, closing(store.connect()) as db:
        if opened is None:
            return 0
        name, connection = opened
        plain = plain_requests(settings)
        row = db.execute("SELECT last_event_id FROM scan_cursor WHERE store = ?", (name,)).fetchone()
        cursor = row[0] if row else 0
        if (connection.execute(sql("SELECT MAX(id) FROM events")).scalar() or 0) < cursor:
            cursor = 0  # the store was emptied or made anew: its ids start again
        after = max(cursor - OVERLAP, 0)
        while True:
            events = connection.execute(sql(f"SELECT {COLUMNS} FROM events WHERE id > :after ORDER BY id LIMIT :n"),
                                        {"after": after, "n": BATCH}).fetchall()
            if not events:
                break
            found = _found_in(connection, events, after, settings.inbox_min_confidence, plain)
            after = max(events[-1].id, cursor)
            with db:
                db.execute("BEGIN IMMEDIATE")
                added += _store(db, found)
                db.execute("INSERT INTO scan_cursor (store, last_event_id) VALUES (?, ?) "
                           "ON CONFLICT (store) DO UPDATE SET last_event_id = excluded.last_event_id", (name, after))
            if len(events) < BATCH:
                break
    return added


def require_keys(keys: Any) -> List[str]:
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise AdminError("Cần chọn ít nhất một nhóm tin nhắn (keys).")
    return list(dict.fromkeys(keys))


def representative(variants: Counter) -> str:
    # The most frequent wording; between equals, the one with its marks (better training data).
    return max(variants, key=lambda text: (variants[text], sum(not c.isascii() for c in text)))


def _group(key: str, rows: List[sqlite3.Row], decision: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    messages = {row["source"]: row for row in rows}  # one message, however many reasons
    variants = Counter(row["text"] for row in messages.values())
    latest = max(rows, key=lambda row: (row["seen_at"], row["id"]))
    hints = Counter(row["hint"] for row in rows if row["hint"])
    return {
        "key": key, "text": representative(variants), "variants": [text for text, _ in variants.most_common()],
        "count": len(messages), "reasons": dict(Counter(row["reason"] for row in rows)),
        "guess": json.loads(latest["guess"]), "hint": json.loads(hints.most_common(1)[0][0]) if hints else None,
        "previous": latest["previous"],
        "channels": dict(Counter(row["channel"] or "unknown" for row in messages.values())),
        "last_seen": latest["seen_at"], "decision": decision,
    }


def _rows(db: sqlite3.Connection, where: str, params: Sequence[Any]) -> Dict[str, List[sqlite3.Row]]:
    db.row_factory = sqlite3.Row
    by_key: Dict[str, List[sqlite3.Row]] = defaultdict(list)
    for row in db.execute(f"SELECT * FROM inbox WHERE {where} ORDER BY id", params):
        by_key[row["key"]].append(row)
    return by_key


def groups(status: str = "open", limit: int = 100, offset: int = 0) -> Dict[str, Any]:
    """The inbox's groups in `status`, the most frequent first."""
    if status not in store.STATUSES:
        raise AdminError(f"Trạng thái không hợp lệ: {status!r} (chọn {', '.join(store.STATUSES)}).")
    with closing(store.connect()) as db:
        by_key = _rows(db, "status = ?", (status,))
        decided = _decisions(db, list(by_key), status) if status != "open" else {}
        found = [_group(key, rows, decided.get(key)) for key, rows in by_key.items()]
    found.sort(key=lambda group: (-group["count"], _newest_first(group["last_seen"])))
    return {"groups": found[max(offset, 0):max(offset, 0) + max(limit, 0)], "total_groups": len(found),
            "total_messages": sum(group["count"] for group in found)}


def _decisions(db: sqlite3.Connection, keys: List[str], status: str) -> Dict[str, Dict[str, Any]]:
    decided: Dict[str, Dict[str, Any]] = {}
    for start in range(0, len(keys), 500):  # SQLite's limit on parameters
        chunk = keys[start:start + 500]
        rows = db.execute(f"SELECT key, intent, category, address, by, at FROM decisions "
                          f"WHERE status = ? AND key IN ({', '.join('?' for _ in chunk)})", [status, *chunk])
        decided.update({key: {"intent": intent, "category": category, "address": address, "by": by, "at": at}
                        for key, intent, category, address, by, at in rows})
    return decided


def decide(db: sqlite3.Connection, key: str, status: str, who: str, intent: Optional[str] = None,
           category: Optional[str] = None, address: Optional[str] = None,
           written: Optional[Tuple[str, str]] = None) -> None:
    """Keeps the group's decision (replacing an earlier one of that status): what the admin chose
    and, for a label, the file and the exact line it appended."""
    file, line = written or (None, None)
    db.execute("INSERT OR REPLACE INTO decisions (key, status, intent, category, address, by, at, file, line) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (key, status, intent, category, address, audit.require_who(who), audit.now(), file, line))


def written_line(db: sqlite3.Connection, key: str) -> Optional[Tuple[str, str]]:
    """The file and the exact line the group's label appended, if it did."""
    row = db.execute("SELECT file, line FROM decisions WHERE key = ? AND status = 'labelled' AND line IS NOT NULL",
                     (key,)).fetchone()
    return (row[0], row[1]) if row else None


def forget_decisions(db: sqlite3.Connection, key: str, status: Optional[str] = None) -> None:
    """Forgets the group's decisions (of `status` only, when given)."""
    db.execute("DELETE FROM decisions WHERE key = ? AND status = coalesce(?, status)", (key, status))


def _newest_first(iso: str) -> float:
    return -datetime.fromisoformat(iso).timestamp()


def open_groups(db: sqlite3.Connection, keys: Any) -> Dict[str, Dict[str, Any]]:
    """The groups `keys` name, as `groups` shows them (any status); AdminError 404 for a key the
    inbox does not have."""
    keys = require_keys(keys)
    placeholders = ", ".join("?" for _ in keys)
    by_key = _rows(db, f"key IN ({placeholders})", keys)
    for key in keys:
        if key not in by_key:
            raise AdminError(f"Không có nhóm tin nhắn “{key}” trong hộp thư.", 404)
    return {key: _group(key, by_key[key]) for key in keys}


def texts(chosen: Dict[str, Dict[str, Any]]) -> List[str]:
    """The groups as citizens wrote them, for the audit log (their keys have no marks)."""
    return [group["text"] for group in chosen.values()]


def set_status(db: sqlite3.Connection, keys: Iterable[str], status: str, among: Tuple[str, ...] = ("open",)) -> int:
    """Moves the messages of `keys` that are in a status `among` to `status`; how many groups had any."""
    placeholders = ", ".join("?" for _ in among)
    return sum(1 for key in keys if db.execute(
        f"UPDATE inbox SET status = ? WHERE key = ? AND status IN ({placeholders})", (status, key, *among)).rowcount)


def discard(keys: Optional[List[str]], who: str) -> Dict[str, int]:
    """Throws the groups away (not training material): they leave the open inbox, and later
    messages of the same wording join them there."""
    with closing(store.connect()) as db, db:
        db.execute("BEGIN IMMEDIATE")
        chosen = open_groups(db, keys)
        discarded = set_status(db, chosen, "discarded")
        for key in chosen:
            if db.execute("SELECT 1 FROM inbox WHERE key = ? AND status = 'discarded'", (key,)).fetchone():
                decide(db, key, "discarded", who)
        audit.record(who, "discard", {"texts": texts(chosen), "discarded": discarded}, db)
    return {"discarded": discarded}
