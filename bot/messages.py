"""What the assistant sees of a citizen's message, whatever channel it came through.

Channels build messages only with the `*_message` functions below; actions read them only with
the `*_from` functions. A location, photos or a shared phone number travel as a payload intent
(`/share_location`, `/send_photo`, `/share_contact`) with their data in the message metadata, so
that the dialogue can react to them and no action ever needs to know which channel was used.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from bot.text import fold

# A Vietnamese phone number as people type it: 0905 123 456, 0905.123.456, +84 905123456.
PHONE = re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.\-]?\d){8,10}(?!\d)")
SHARE_LOCATION = "/share_location"
SEND_PHOTO = "/send_photo"
SHARE_CONTACT = "/share_contact"


@dataclass(frozen=True)
class Inbound:
    """A message ready to hand to Rasa: `UserMessage(text, ..., metadata=metadata)`."""

    text: str
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Photo:
    url: str  # stable URL on the routing backend (never a channel's expiring link)
    exif_location: Optional[Dict[str, float]] = None  # {"latitude", "longitude"} if inside Huế


def _base(channel: str, user_id: str) -> Dict[str, Any]:
    return {"channel": channel, "user_id": str(user_id)}


def text_message(text: str, *, channel: str, user_id: str) -> Inbound:
    return Inbound(text=text, metadata=_base(channel, user_id))


def location_message(latitude: float, longitude: float, *, channel: str, user_id: str) -> Inbound:
    metadata = _base(channel, user_id)
    metadata["location"] = {"latitude": float(latitude), "longitude": float(longitude)}
    return Inbound(text=SHARE_LOCATION, metadata=metadata)


def photo_message(photos: List[Photo], *, channel: str, user_id: str, caption: str = "") -> Inbound:
    metadata = _base(channel, user_id)
    metadata["photos"] = [
        {"url": p.url, **({"exif_location": p.exif_location} if p.exif_location else {})}
        for p in photos
    ]
    if caption:
        metadata["caption"] = caption
    return Inbound(text=SEND_PHOTO, metadata=metadata)


def contact_message(phone: str, *, channel: str, user_id: str) -> Inbound:
    metadata = _base(channel, user_id)
    metadata["phone"] = phone
    return Inbound(text=SHARE_CONTACT, metadata=metadata)


# Reading side (actions) ---------------------------------------------------------------------

def _metadata(latest_message: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    return (latest_message or {}).get("metadata") or {}


def location_from(latest_message: Optional[Dict[str, Any]]) -> Optional[Dict[str, float]]:
    loc = _metadata(latest_message).get("location")
    if not isinstance(loc, dict):
        return None
    try:
        return {"latitude": float(loc["latitude"]), "longitude": float(loc["longitude"])}
    except (KeyError, TypeError, ValueError):
        return None


def photos_from(latest_message: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    photos = _metadata(latest_message).get("photos") or []
    return [p for p in photos if isinstance(p, dict) and isinstance(p.get("url"), str)]


def phone_from(latest_message: Optional[Dict[str, Any]]) -> Optional[str]:
    phone = _metadata(latest_message).get("phone")
    return str(phone) if phone else None


# The words a message that gives a phone number names it with ("sdt của em đây nhé").
_CONTACT_WORDS = frozenset(
    "sdt sđt so dien thoai lien lac lh cua toi em minh anh chi day nha ne nhe nhen a ah la gui ban oi ma nay "
    "moi de va co can thi ok goi duoc khi".split())


def words_beside_phone(text: str) -> int:
    """How many words `text` has besides a phone number and the words that name it."""
    return sum(word not in _CONTACT_WORDS for word in re.findall(r"\w+", fold(PHONE.sub(" ", text or ""))))


def typed_phone(text: str) -> Optional[str]:
    """The phone number typed in `text`, as digits from its leading 0; None if there is none."""
    match = PHONE.search(text or "")
    if not match:
        return None
    digits = re.sub(r"\D", "", match.group(0))
    return "0" + digits[2:] if digits.startswith("84") else digits


def channel_from(latest_message: Optional[Dict[str, Any]]) -> Optional[str]:
    return _metadata(latest_message).get("channel")
