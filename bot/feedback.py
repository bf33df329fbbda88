"""The citizen's word on a resolved report: really fixed?, a 1–5 rating, an optional comment.

Pure code used by actions/feedback.py. Every answer can be a button or typed words, with or
without diacritics ("✅ Đã khắc phục", "chua sua", "5", "năm sao", "tốt", "tệ", "bỏ qua"). A message
that answers nothing gives None: the feedback form then lets the rules handle it (a new complaint
starts a report) and never asks the same question again.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional

from bot.report import payload, typed_button
from bot.text import fold, strip_html

FIXED = "feedback_fixed"
RATING = "feedback_rating"
COMMENT = "feedback_comment"
REPORT = "feedback_report"
SLOTS = (FIXED, RATING, COMMENT, REPORT)
MAX_COMMENT_CHARS = 1000
# A rating this low reopens a recently resolved report, like "not fixed" (the backend decides).
LOW_RATING = 2

FIXED_BUTTONS = [{"title": "✅ Đã khắc phục", "payload": payload("affirm")},
                 {"title": "❌ Chưa khắc phục", "payload": payload("deny")}]
_RATING_WORDS = {1: "Rất tệ", 2: "Tệ", 3: "Tạm được", 4: "Tốt", 5: "Rất tốt"}
# In ascending order, so that Zalo's numbered list makes "5" the fifth button: five stars.
RATING_BUTTONS = [{"title": f"{'⭐' * n} {word}", "payload": payload("inform", rating=n)}
                  for n, word in _RATING_WORDS.items()]
SKIP_BUTTONS = [{"title": "⏭️ Bỏ qua", "payload": payload("deny")}]

# Folded phrases, longest meaning first: "chưa sửa xong" is not fixed although it says "xong".
_NOT_FIXED = re.compile(r"\b(chua|van con|van hong|van bi|van chua|van nhu cu|khong|ko|k|no|sai)\b")
_FIXED = re.compile(r"\b(da khac phuc|khac phuc|roi|da sua|sua roi|xong|ok|oke|okay|dung|co|tot roi|yes|that)\b")
_SKIP = re.compile(r"^(bo qua|khong|ko|k|thoi|khong co|khong can|skip|het|vay thoi)( [a-z]+)?$")
_NUMBER_WORDS = {"mot": 1, "hai": 2, "ba": 3, "bon": 4, "tu": 4, "nam": 5}
# Words for a rating, most specific first ("rất tốt" before "tốt", "không tốt" before "tốt").
_RATING_PHRASES = [
    (r"rat te|qua te|te qua|rat kem|qua kem|te hai", 1),
    (r"khong hai long|chua hai long|khong tot|chua tot|khong duoc|chua duoc|te|kem", 2),
    (r"binh thuong|tam duoc|tam on|trung binh|on|duoc", 3),
    (r"rat tot|tuyet voi|xuat sac|rat hai long|qua tot|tuyet|nhanh lam", 5),
    (r"tot|hai long|nhanh", 4),
]


def _words(message: Mapping[str, Any]) -> str:
    return fold(message.get("text") or "")


def _intent(message: Mapping[str, Any]) -> Optional[str]:
    return (message.get("intent") or {}).get("name")


def _entity(message: Mapping[str, Any], name: str) -> Any:
    return next((e.get("value") for e in message.get("entities") or [] if e.get("entity") == name), None)


def _is_payload(message: Mapping[str, Any]) -> bool:
    return (message.get("text") or "").strip().startswith("/")


def fixed_answer(message: Mapping[str, Any]) -> Optional[bool]:
    """Whether the citizen says the problem is really fixed; None if the message is no answer."""
    text = message.get("text") or ""
    button = typed_button(text, FIXED_BUTTONS)
    if button:
        return button == payload("affirm")
    intent = _intent(message)
    if _is_payload(message):
        return {"affirm": True, "deny": False}.get(intent or "")
    words = _words(message)
    if len(words.split()) <= 6:  # a short answer, not a new complaint that happens to say "chưa"
        if _NOT_FIXED.search(words):
            return False
        if _FIXED.search(words):
            return True
    return {"affirm": True, "deny": False}.get(intent or "")


def rating_answer(message: Mapping[str, Any]) -> Optional[int]:
    """1–5 from a star button, a digit ("5", "4 sao"), a number word with "sao"/"điểm" ("năm
    sao"), or a word ("tốt", "tệ"); None if the message is no rating."""
    value = _entity(message, "rating")
    if value is not None:
        try:
            number = int(value)
        except (TypeError, ValueError):
            return None
        return number if 1 <= number <= 5 else None
    if _is_payload(message):
        return None
    words = _words(message)
    if len(words.split()) > 6:
        return None
    digits = re.findall(r"(?<![\d,.])([1-5])(?![\d,.])", words)
    if len(set(digits)) == 1:
        return int(digits[0])
    named = re.fullmatch(r"(?:cho |danh gia )?(mot|hai|ba|bon|tu|nam)( sao| diem)?( thoi| a| nhe| nha)?", words)
    if named and (named.group(2) or words == named.group(1)):
        return _NUMBER_WORDS[named.group(1)]
    for phrases, number in _RATING_PHRASES:
        if re.search(rf"\b({phrases})\b", words):
            return number
    return None


def comment_answer(message: Mapping[str, Any]) -> Optional[str]:
    """The comment ("" when skipped); None if the message is a button of something else."""
    text = (message.get("text") or "").strip()
    if typed_button(text, SKIP_BUTTONS):
        return ""
    if _is_payload(message):
        return "" if _intent(message) == "deny" else None
    if _SKIP.match(_words(message)):
        return ""
    return strip_html(text)[:MAX_COMMENT_CHARS].strip() or None


def answer(asked: Optional[str], message: Mapping[str, Any]) -> Dict[str, Any]:
    """The slots the message fills at the question `asked`, with the next question in
    `requested_slot` (None: all said); {} when the message answers nothing."""
    if asked == FIXED:
        fixed = fixed_answer(message)
        if fixed is None:
            return {}
        # Not fixed: no stars to give, but a word on what is still wrong helps the agency.
        return {FIXED: fixed, "requested_slot": RATING if fixed else COMMENT}
    if asked == RATING:
        rating = rating_answer(message)
        return {} if rating is None else {RATING: rating, "requested_slot": COMMENT}
    if asked == COMMENT:
        comment = comment_answer(message)
        return {} if comment is None else {COMMENT: comment, "requested_slot": None}
    return {}


def unhappy(slots: Mapping[str, Any]) -> bool:
    """What the citizen said asks for the report to be reopened."""
    rating = slots.get(RATING)
    return slots.get(FIXED) is False or (rating is not None and rating <= LOW_RATING)


def was_reopened(after: Mapping[str, Any]) -> bool:
    """The report is open again after the rating (back to the agency)."""
    state = after.get("state")
    return state not in ("resolved", "rejected") if state else after.get("status") == "open"


def outcome(slots: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """What the citizen's answer did: "reopened" (back to the agency), "not_reopened" (unhappy,
    but too late or reopened enough already) or "thanked"."""
    if was_reopened(after):
        return "reopened"
    return "not_reopened" if unhappy(slots) else "thanked"


def rating_fields(slots: Mapping[str, Any]) -> Dict[str, Any]:
    """Keyword arguments of `Open311Client.rate` (but the code and the account)."""
    rating = slots.get(RATING)
    return {"rating": int(rating) if rating is not None else None,
            "comment": slots.get(COMMENT) or None,
            "fixed": bool(slots.get(FIXED))}
