"""What a citizen is told about their reports: the history of one in short form (each step, how
long it took, where it stands against the deadline) and the list of their own reports.

Pure code over the Open311 request JSON (`updates` is the bundled backend's history extension,
FixMyStreet's update items; a server without it gives just the creation and the deadline).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional

from bot.report import VN_TZ, category_name, elapsed_vi, parse_time, status_text

MAX_LISTED = 10
MAX_NOTE_CHARS = 120
STEP_WORDS = {
    "received": "Tiếp nhận lại",
    "assigned": "Chuyển đơn vị xử lý",
    "in_progress": "Bắt đầu xử lý",
    "resolved": "Đã xử lý xong",
    "rejected": "Đóng, không xử lý",
}
CLOSED = ("resolved", "rejected")


def when(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime("%H:%M %d/%m")


def _step(state: Optional[str], before: Optional[str]) -> str:
    if before in CLOSED and state not in CLOSED:
        return "Mở lại, chuyển lại đơn vị xử lý"
    if state == before:
        return "Chuyển sang đơn vị khác"
    return STEP_WORDS.get(state or "", "Cập nhật")


def _note(text: Optional[str]) -> str:
    text = " ".join((text or "").split())
    if len(text) > MAX_NOTE_CHARS:
        text = text[: MAX_NOTE_CHARS - 1].rstrip() + "…"
    return f": “{text}”" if text else ""


def history_lines(request: Mapping[str, Any]) -> List[str]:
    """One line per step, oldest first: when, what, the agency's note, and how long it took."""
    requested = parse_time(request.get("requested_datetime"))
    lines = [f"• {when(requested)} Tiếp nhận" if requested else "• Tiếp nhận"]
    previous_time, previous_state = requested, "received"
    for update in request.get("updates") or []:
        moment = parse_time(update.get("updated_datetime"))
        state = update.get("state")
        took = f" (sau {elapsed_vi(moment - previous_time)})" if moment and previous_time else ""
        stamp = f"{when(moment)} " if moment else ""
        lines.append(f"• {stamp}{_step(state, previous_state)}{_note(update.get('description'))}{took}")
        previous_time, previous_state = moment or previous_time, state or previous_state
    return lines


def _resolved_at(request: Mapping[str, Any]) -> Optional[datetime]:
    resolved = [u for u in request.get("updates") or [] if u.get("state") == "resolved"]
    return parse_time(resolved[-1].get("updated_datetime")) if resolved else None


def deadline_line(request: Mapping[str, Any], now: datetime) -> str:
    """Where the report stands against its deadline (`expected_datetime`); "" without one."""
    expected = parse_time(request.get("expected_datetime"))
    state = request.get("state")
    if expected is None or state == "rejected":
        return ""
    if state == "resolved":
        done = _resolved_at(request)
        requested = parse_time(request.get("requested_datetime"))
        if done is None or requested is None:
            return ""
        took = f"Xử lý xong sau {elapsed_vi(done - requested)}"
        if done <= expected:
            return f"{took}, trước hạn {elapsed_vi(expected - done)} (hạn {when(expected)})."
        return f"{took}, trễ hạn {elapsed_vi(done - expected)} (hạn {when(expected)})."
    if now <= expected:
        return f"Hạn xử lý: {when(expected)} (còn {elapsed_vi(expected - now)})."
    return f"Đã quá hạn xử lý {elapsed_vi(now - expected)} (hạn {when(expected)})."


def history_text(request: Mapping[str, Any], now: Optional[datetime] = None) -> str:
    """The `{history}` of `utter_status`: the steps, the deadline and the citizen's rating."""
    now = now or datetime.now(timezone.utc)
    lines = ["", "Diễn biến:", *history_lines(request)]
    deadline = deadline_line(request, now)
    if deadline:
        lines.append(deadline)
    if request.get("rating"):
        lines.append(f"Bạn đã đánh giá: {'⭐' * int(request['rating'])}")
    if request.get("reopened"):
        lines.append(f"Đã mở lại {request['reopened']} lần theo ý kiến của bạn.")
    return "\n".join(lines)


def own_reports(requests: List[Dict[str, Any]], names: Mapping[str, str],
                now: Optional[datetime] = None) -> Dict[str, Any]:
    """The params of `utter_my_reports`: the newest MAX_LISTED of the citizen's reports, one line
    each (code, category, state in plain words, when sent), and how many more there are."""
    now = now or datetime.now(timezone.utc)
    ordered = sorted(requests, key=lambda r: parse_time(r.get("requested_datetime")) or now, reverse=True)
    lines = []
    for request in ordered[:MAX_LISTED]:
        sent = parse_time(request.get("requested_datetime"))
        age = f"gửi {when(sent)}, {elapsed_vi(now - sent)} trước" if sent else "chưa rõ thời gian"
        lines.append(f"• {request.get('service_request_id')} — {category_name(request.get('service_code'), names)}: "
                     f"{status_text(request)} ({age})")
    rest = len(ordered) - MAX_LISTED
    more = f"\n… và {rest} phản ánh cũ hơn." if rest > 0 else ""
    return {"count": len(ordered), "lines": "\n".join(lines), "more": more}
