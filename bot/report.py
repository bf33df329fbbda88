"""The report conversation's domain logic, kept out of the Rasa actions so it is testable alone.

Slot values produced here are plain JSON (they live in the tracker store):
`location` = {"display", "latitude", "longitude", "unit_code", "unit_name", "source"}.
`names` is always the Open311 server's categories, service_code -> service_name
(`ServiceCatalogue.categories()` in bot/services.py), passed in so this module stays pure.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional

from bot.area import Unit, load_area
from bot.geocode import Place
from bot.photos import MAX_PHOTOS_PER_REPORT
from bot.text import fold, strip_html

# Fields of the summary the citizen may fix, in the order shown, with the slots each one clears.
FIXABLE = {
    "description": ("Sửa mô tả", ("description",)),
    # Another category or place may have other reports nearby: looked up again (bot/duplicates.py).
    "category": ("Sửa loại", ("category", "category_guess", "duplicate", "duplicate_offer")),
    "location": ("Sửa vị trí", ("location", "location_pending", "location_tries", "duplicate", "duplicate_offer")),
    "photos": ("Sửa ảnh", ("photos", "photos_done")),
}
REPORT_FORM = "report_form"
MIN_DESCRIPTION_CHARS = 8
# A question asked this many times in a row without an answer is not asked the same way again.
ASKED_ENOUGH = 2
MAX_DESCRIPTION_CHARS = 4000  # the routing backend's limit
VN_TZ = timezone(timedelta(hours=7))


def _aliases(name: str) -> List[str]:
    parts = [fold(part) for part in name.split(",")] + [fold(name)]
    # "khác" alone is an everyday word; only "loại khác" names the category.
    return [f"loai {part}" if len(part) < 5 else part for part in parts if part]


def category_named_in(text: str, names: Mapping[str, str]) -> Optional[str]:
    """The category a citizen typed by (part of) its name: "cái này là giao thông"."""
    folded = fold(text)
    for code, name in names.items():
        if any(re.search(rf"\b{re.escape(alias)}\b", folded) for alias in _aliases(name)):
            return code
    return None


# An answer to "… Đúng không ạ?" that starts by saying no ("không phải, là đèn trang trí", "sai
# rồi", "ko, ..."), whatever the NLU makes of the rest, which often reads as the complaint again.
_SAYS_NO = re.compile(r"^(?:(?:khong|ko|k|hong|hok|kg)(?: phai| dung| co)?|sai(?: roi)?|chua dung)\b")


def says_no(text: str) -> bool:
    return bool(_SAYS_NO.match(fold(text)))


def category_name(code: Optional[str], names: Mapping[str, str]) -> str:
    return names.get(code or "", "Chưa rõ")


def payload(intent: str, **entities: Any) -> str:
    """A button payload that Rasa turns into this intent and entities without NLU."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities, ensure_ascii=False, separators=(',', ':'))}"


def category_buttons(names: Mapping[str, str], exclude: Optional[str] = None) -> List[Dict[str, str]]:
    return [
        {"title": name, "payload": payload("inform", category=code)}
        for code, name in names.items()
        if code != exclude
    ]


def confirm_category_buttons(guess: str, names: Mapping[str, str]) -> List[Dict[str, str]]:
    return [{"title": "✅ Đúng", "payload": payload("affirm")}] + category_buttons(names, exclude=guess)


def yes_no_buttons(yes: str = "✅ Đúng", no: str = "✏️ Nhập lại") -> List[Dict[str, str]]:
    return [{"title": yes, "payload": payload("affirm")}, {"title": no, "payload": payload("deny")}]


def photo_buttons(count: int) -> List[Dict[str, str]]:
    if count:
        return [{"title": "✅ Xong", "payload": payload("affirm")}]
    return [{"title": "⏭️ Bỏ qua", "payload": payload("deny")}]


def summary_buttons() -> List[Dict[str, str]]:
    buttons = [{"title": "✅ Gửi", "payload": payload("affirm")}]
    buttons += [{"title": title, "payload": payload("deny", field=name)} for name, (title, _) in FIXABLE.items()]
    buttons.append({"title": "❌ Hủy", "payload": payload("cancel")})
    return buttons


def fix_slots(field: Optional[str]) -> Iterable[str]:
    """The slots to clear so the form asks for `field` again."""
    return FIXABLE[field][1] if field in FIXABLE else ()


def clean_description(text: str) -> str:
    """What the routing backend accepts: no markup (a pasted snippet keeps its words), at most
    MAX_DESCRIPTION_CHARS, so a confirmed report is never refused for its description."""
    return strip_html(text.strip())[:MAX_DESCRIPTION_CHARS].strip()


def is_description(text: str, asked: int = 0) -> bool:
    """Whether a typed message can stand as the description (not a payload, not a bare word).
    Asked twice already, any words will do ("ổ gà"): the question is never asked a third time."""
    text = (text or "").strip()
    if text.startswith("/"):
        return False
    if asked >= ASKED_ENOUGH:
        return sum(char.isalpha() for char in text) >= 2
    return len(text) >= MIN_DESCRIPTION_CHARS


def times_asked(events: Iterable[Mapping[str, Any]], slot: str) -> int:
    """How many times in a row the report form has asked for `slot` (its `utter_ask_`/`action_ask_`
    question ran) since the form opened, with no other question in between."""
    asked = 0
    for event in reversed(list(events)):
        if event.get("event") == "active_loop" and event.get("name"):
            break
        name = (event.get("name") or "") if event.get("event") == "action" else ""
        if name.startswith(("utter_ask_", "action_ask_")):
            if name.split("_ask_", 1)[1] != slot:
                break
            asked += 1
    return asked


def location_from_place(place: Place, source: str) -> Dict[str, Any]:
    return {
        "display": place.display,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "unit_code": place.unit.code if place.unit else None,
        "unit_name": place.unit.full_name if place.unit else None,
        "source": source,
    }


def ward_buttons(names: Iterable[str]) -> List[Dict[str, str]]:
    """A button per unit (its full name): it completes the street awaiting its ward, if any."""
    return [{"title": name, "payload": payload("inform", address=name)} for name in names]


def unit_names(units: Iterable[Unit]) -> List[str]:
    return [unit.full_name for unit in units]


def with_street(typed: str, pending: Optional[Dict[str, Any]]) -> Optional[str]:
    """An address typed in pieces: the street still waiting for its ward, then the ward ("45
    Nguyễn Huệ", then "phường Thuận Hóa"). None when nothing waits, or when the new piece has a
    house number of its own (a new address, not the rest of the old one)."""
    street = (pending or {}).get("query") if (pending or {}).get("choices") else None
    if not street or re.search(r"\d", typed):
        return None
    return f"{street}, {typed}"


def joined_address(spans: Iterable[str]) -> Optional[str]:
    """The address spans of one message as one address: "kiệt 45 Nguyễn Huệ ở phường Thuận Hóa"
    has two (the street, then the ward)."""
    unique = list(dict.fromkeys(span.strip() for span in spans if span and span.strip()))
    return ", ".join(unique) or None


def with_units_named(typed: str, whole: str) -> Optional[str]:
    """The address spans completed with the units the whole message names as typed ("xã Phong
    Xuân", when the spans kept only "Phong Xuân"); None when the spans hold them all already."""
    named = [whole[m.start:m.end] for m in load_area().name_matches(whole)]
    missing = [name for name in named if fold(name) not in fold(typed)]
    if not missing:
        return None
    pieces = [piece for piece in typed.split(",") if not any(fold(piece) in fold(name) for name in missing)]
    return joined_address(pieces + missing)


def question_buttons(slot: Optional[str], slots: Dict[str, Any], names: Mapping[str, str]) -> List[Dict[str, str]]:
    """The buttons of the report form's question for `slot`, as the ask actions show them."""
    if slot == "category":
        guess = slots.get("category_guess")
        if isinstance(guess, str) and guess in names:
            return confirm_category_buttons(guess, names)
        return category_buttons(names)
    if slot == "location":
        pending = slots.get("location_pending") or {}
        if pending.get("choices"):
            return ward_buttons(pending["choices"])
        return yes_no_buttons() if pending else []
    if slot == "photos_done":
        return photo_buttons(len(slots.get("photos") or []))
    if slot == "confirmed":
        return summary_buttons()
    return []


def answer_buttons(slot: Optional[str], slots: Dict[str, Any], names: Mapping[str, str]) -> List[Dict[str, str]]:
    """The buttons whose words typed at the question for `slot` mean them: those shown, and at
    the photo step both "Bỏ qua" and "Xong" (either ends the photos)."""
    shown = question_buttons(slot, slots, names)
    return shown + photo_buttons(0) + photo_buttons(1) if slot == "photos_done" else shown


# Words citizens add around a button's word: "bỏ qua nhé", "xong rồi ạ", "gửi đi".
_PARTICLES = {"a", "nhe", "nha", "ne", "di", "luon", "roi", "oi", "ad", "em", "minh", "toi", "nhu", "vay"}
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> List[str]:
    return [w for w in _WORD.findall(fold(text)) if w not in _PARTICLES]


# A ward's button may be typed without its kind, or with it shortened: "thuan hoa", "p thuan hoa"
# for "Phường Thuận Hóa".
_UNIT_KINDS = {"phuong", "xa", "p"}


def _without_kind(words: List[str]) -> List[str]:
    return words[1:] if len(words) > 1 and words[0] in _UNIT_KINDS else words


def typed_button(text: str, buttons: Iterable[Dict[str, str]]) -> Optional[str]:
    """The payload of the button whose word the citizen typed by hand instead of pressing it
    ("bỏ qua", "Bo qua nhe" for "⏭️ Bỏ qua"), with or without diacritics; None otherwise."""
    if not text or text.startswith("/"):
        return None
    typed = _without_kind(_words(text))
    if not typed:
        return None
    for button in buttons:
        if _without_kind(_words(button["title"])) == typed:
            return button["payload"]
    return None


_PAYLOAD = re.compile(r"^/(\w+)(\{.*\})?$", re.S)


def payload_intent(payload_text: str) -> Optional[str]:
    """The intent a button's payload names ("/inform{...}": inform), or None."""
    match = _PAYLOAD.match(payload_text)
    return match.group(1) if match else None


def pressed(message: Dict[str, Any], payload_text: str) -> Dict[str, Any]:
    """`message` as if its button `payload_text` had been pressed: the payload's intent and
    entities instead of what the NLU read in the typed words."""
    match = _PAYLOAD.match(payload_text)
    if not match:
        return {**message, "text": payload_text}
    entities = json.loads(match.group(2)) if match.group(2) else {}
    return {**message, "text": payload_text, "intent": {"name": match.group(1), "confidence": 1.0},
            "entities": [{"entity": name, "value": value} for name, value in entities.items()]}


# Intents of the buttons of a report's questions (yes, no, a category, a ward, a field to fix).
ANSWER_INTENTS = ("affirm", "deny", "inform")


def is_old_button(message: Dict[str, Any]) -> bool:
    """A button of a report's question pressed while no report is being told: left in the chat
    from a report that was sent or cancelled. Typed words never start with "/"."""
    text = (message.get("text") or "").strip()
    return text.startswith("/") and (message.get("intent") or {}).get("name") in ANSWER_INTENTS


def add_photos(current: Optional[List[str]], new: Iterable[Dict[str, Any]]) -> List[str]:
    urls = list(current or [])
    for photo in new:
        if photo["url"] not in urls:
            urls.append(photo["url"])
    return urls[:MAX_PHOTOS_PER_REPORT]


def summary_params(slots: Dict[str, Any], names: Mapping[str, str]) -> Dict[str, Any]:
    location = slots.get("location") or {}
    return {
        "category_name": category_name(slots.get("category"), names),
        "description": slots.get("description") or "",
        "place": location.get("display") or "",
        "photo_count": len(slots.get("photos") or []),
    }


def form_opened_at(events: Iterable[Mapping[str, Any]]) -> Optional[float]:
    """The timestamp of the event that opened the latest report form (the one being filled or just
    finished), from the tracker's events; None if no report form was ever opened."""
    opened = active = None
    for event in events:
        kind = event.get("event")
        if kind == "active_loop":
            # Interruptions re-predict the form while it is active; only a fresh activation opens one.
            if event.get("name") == REPORT_FORM and active != REPORT_FORM:
                opened = event.get("timestamp")
            active = event.get("name")
        elif kind in ("restart", "session_started"):
            active = None
    return opened


def idempotency_key(sender_id: str, events: Iterable[Mapping[str, Any]]) -> Optional[str]:
    """The key that names this report for the Open311 server, the same however often it is
    confirmed (twice, or again after the Rasa server crashed mid-submission: the events before the
    confirmation are kept), and new with each new report; None if no form was opened."""
    opened = form_opened_at(events)
    if opened is None:
        return None
    # 64 hex characters, the backend's limit; nothing personal readable in it.
    return hashlib.sha256(f"{sender_id}\n{opened!r}".encode()).hexdigest()


def request_fields(slots: Dict[str, Any], sender_id: str, channel: Optional[str],
                   idempotency_key: Optional[str] = None) -> Dict[str, Any]:
    """Keyword arguments of `Open311Client.create_request` for the confirmed report."""
    location = slots.get("location") or {}
    address = location.get("display") or ""
    unit_name = location.get("unit_name")
    if unit_name and unit_name.lower() not in address.lower():
        # Lets any Open311 server route by the ward even without coordinates.
        address = f"{address}, {unit_name}"
    return {
        "service_code": slots["category"],
        "description": slots["description"],
        "lat": location.get("latitude"),
        "long": location.get("longitude"),
        "address_string": address,
        "media_urls": tuple(slots.get("photos") or ()),
        "phone": slots.get("phone"),
        "account_id": sender_id,
        "channel": channel,
        "idempotency_key": idempotency_key,
    }


def parse_time(value: Optional[str]) -> Optional[datetime]:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def elapsed_vi(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return "vài giây"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} phút"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} giờ"
    return f"{hours // 24} ngày"


def status_text(request: Dict[str, Any]) -> str:
    state = request.get("state")
    texts = {
        "received": "đã tiếp nhận, đang chờ phân công",
        "assigned": "đã chuyển đơn vị xử lý",
        "in_progress": "đang xử lý",
        "resolved": "đã xử lý xong",
        "rejected": "đã đóng, không xử lý",
    }
    if state in texts:
        return texts[state]
    return "đã đóng" if request.get("status") == "closed" else "đang xử lý"


def status_params(request: Dict[str, Any], names: Mapping[str, str],
                  now: Optional[datetime] = None) -> Dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    requested = parse_time(request.get("requested_datetime"))
    notes = (request.get("status_notes") or "").strip()
    return {
        "report_id": request.get("service_request_id"),
        "category_name": category_name(request.get("service_code"), names),
        "status_text": status_text(request),
        "agency": request.get("agency_responsible") or "đang phân công",
        "requested": requested.astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y") if requested else "?",
        "elapsed": elapsed_vi(now - requested) if requested else "?",
        "notes": f"\nGhi chú: {notes}" if notes else "",
    }
