"""The report conversation's domain logic, kept out of the Rasa actions so it is testable alone.

Slot values produced here are plain JSON (they live in the tracker store):
`location` = {"display", "latitude", "longitude", "unit_code", "unit_name", "source"}.
`names` is always the Open311 server's categories, service_code -> service_name
(`ServiceCatalogue.categories()` in bot/services.py), passed in so this module stays pure.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Mapping, Optional

from bot.geocode import Place
from bot.photos import MAX_PHOTOS_PER_REPORT
from bot.text import fold, strip_html

# Fields of the summary the citizen may fix, in the order shown, with the slots each one clears.
FIXABLE = {
    "description": ("Sửa mô tả", ("description",)),
    "category": ("Sửa loại", ("category", "category_guess")),
    "location": ("Sửa vị trí", ("location", "location_pending")),
    "photos": ("Sửa ảnh", ("photos", "photos_done")),
}
MIN_DESCRIPTION_CHARS = 8
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


def is_description(text: str) -> bool:
    """Whether a typed message can stand as the description (not a payload, not a bare word)."""
    text = (text or "").strip()
    return not text.startswith("/") and len(text) >= MIN_DESCRIPTION_CHARS


def location_from_place(place: Place, source: str) -> Dict[str, Any]:
    return {
        "display": place.display,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "unit_code": place.unit.code if place.unit else None,
        "unit_name": place.unit.full_name if place.unit else None,
        "source": source,
    }


def ward_choices(place: Place) -> List[Dict[str, str]]:
    """Buttons that complete a street-only address with each unit the street crosses."""
    return [
        {"title": unit.full_name, "payload": f"{place.query}, {unit.full_name}"}
        for unit in place.candidates
    ]


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


def request_fields(slots: Dict[str, Any], sender_id: str, channel: Optional[str]) -> Dict[str, Any]:
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
