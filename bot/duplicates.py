"""The duplicate offer: before a report is sent, the open reports of its category nearby (as
FixMyStreet suggests them: within 250 m unless the category says otherwise, at most five), each
with its state and age, to follow instead of filing the same problem again.

Pure: the actions fetch the reports (`Open311Client.nearby`) and hand them in. The `duplicate`
slot holds the outcome: NOTHING_NEAR (no offer, or the server has no such query), NEW (the citizen
sends theirs anyway) or the code of the report they follow; `duplicate_offer` the reports shown,
as [{"code", "line"}].
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Dict, Iterable, List, Mapping, Optional

from bot.area import distance_km
from bot.categories import DEFAULT_NEARBY_RADIUS_M, load_categories
from bot.report import elapsed_vi, parse_time, payload, status_text
from bot.report_codes import normalize_report_code
from bot.text import fold

MAX_OFFERED = 5
NOTHING_NEAR = "none"
NEW = "new"
# "Yes, send mine": the button every channel shows as its confirmation (Zalo's numbered "✅").
NEW_BUTTON = "✅ Vẫn gửi phản ánh mới"


def radius_m(service_code: Optional[str]) -> float:
    """How far a report of this category counts as the same problem (bot/data/categories.yml)."""
    for category in load_categories():
        if category.code == service_code:
            return category.nearby_radius_m
    return DEFAULT_NEARBY_RADIUS_M


def offered(items: Iterable[Mapping[str, Any]], lat: float, long: float, radius: float,
            now: datetime) -> List[Dict[str, str]]:
    """The reports to offer, nearest first, at most MAX_OFFERED: open, and within `radius` metres
    when they say where they are (another Open311 server may ignore the position asked for)."""
    measured = []
    for item in items:
        code = str(item.get("service_request_id") or "")
        if not code or item.get("status") == "closed":
            continue
        try:
            distance = distance_km((lat, long), (float(item["lat"]), float(item["long"]))) * 1000
        except (KeyError, TypeError, ValueError):
            continue  # nowhere to measure from: not shown as "near"
        if distance <= radius:
            measured.append((distance, code, item))
    measured.sort(key=lambda found: found[0])
    return [{"code": code, "line": line(item, now)} for _, code, item in measured[:MAX_OFFERED]]


def line(item: Mapping[str, Any], now: datetime) -> str:
    """"PA000123 · đang xử lý · 3 ngày trước"."""
    requested = parse_time(item.get("requested_datetime"))
    age = f"{elapsed_vi(now - requested)} trước" if requested else "chưa rõ ngày gửi"
    return f"{item.get('service_request_id')} · {status_text(dict(item))} · {age}"


def offer_text(offer: Iterable[Mapping[str, str]]) -> str:
    return "\n".join(f"• {entry['line']}" for entry in offer)


def offer_buttons(offer: Iterable[Mapping[str, str]]) -> List[Dict[str, str]]:
    buttons = [{"title": f"👁️ Theo dõi {entry['code']}", "payload": payload("inform", report_id=entry["code"])}
               for entry in offer]
    return buttons + [{"title": NEW_BUTTON, "payload": payload("affirm")}]


_CODE = re.compile(r"\bpa[\s._-]*\d{1,6}\b")
_NEW = re.compile(r"\b(gui|bao|tao|lam)\b.*\bmoi\b|\bvan gui\b|^moi$")
_FOLLOW = re.compile(r"\btheo doi\b|\btheo\b")


def typed_choice(text: str, offer: Iterable[Mapping[str, str]]) -> Optional[str]:
    """The button a typed answer means, with or without diacritics: a code of the offer ("theo
    dõi PA000123", "pa 123"), "theo dõi" when one report is offered, "gửi mới"; None otherwise."""
    if not text or text.startswith("/"):
        return None
    folded = fold(text)
    codes = [entry["code"] for entry in offer]
    typed_codes = [normalize_report_code(match) for match in _CODE.findall(folded)]
    chosen = [code for code in typed_codes if code in codes]
    if chosen:
        return payload("inform", report_id=chosen[0])
    if _NEW.search(folded):
        return payload("affirm")
    if _FOLLOW.search(folded) and len(codes) == 1 and not typed_codes:
        return payload("inform", report_id=codes[0])
    return None


def chosen(intent: Optional[str], report_ids: Iterable[Any], offer: Iterable[Mapping[str, str]]) -> Optional[str]:
    """The `duplicate` slot's value for an answer to the offer (a button's intent and entities):
    the code of an offered report, NEW (the send button, or "no": not the same problem), or None
    (not an answer: asked again)."""
    codes = [entry["code"] for entry in offer]
    if intent == "inform":
        picked = [code for code in (normalize_report_code(str(value)) for value in report_ids) if code in codes]
        return picked[0] if picked else None
    return NEW if intent in ("affirm", "deny") else None


def follows(value: Optional[str]) -> bool:
    """Whether the `duplicate` slot names a report the citizen follows instead of sending theirs."""
    return bool(value) and value not in (NEW, NOTHING_NEAR)


def to_look_up(slots: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The nearby query to make now (`Open311Client.nearby`'s arguments), once the category and
    the place are known and nothing was looked up for them yet; None otherwise."""
    location = slots.get("location") or {}
    category = slots.get("category")
    if slots.get("duplicate") or slots.get("duplicate_offer") or not category or location.get("latitude") is None:
        return None
    return {"lat": location["latitude"], "long": location["longitude"], "service_code": category,
            "radius_m": radius_m(category), "limit": MAX_OFFERED}


def outcome(offer: List[Dict[str, str]]) -> Dict[str, Any]:
    """The slots after a look-up: the offer to show, or nothing to ask."""
    return {"duplicate_offer": offer} if offer else {"duplicate": NOTHING_NEAR}
