"""Internal states of a report and what the citizen sees of them (Open311 `status`)."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

RECEIVED, ASSIGNED, IN_PROGRESS, RESOLVED, REJECTED = (
    "received", "assigned", "in_progress", "resolved", "rejected"
)
STATES = (RECEIVED, ASSIGNED, IN_PROGRESS, RESOLVED, REJECTED)
CLOSED_STATES = (RESOLVED, REJECTED)
STATUSES = ("open", "closed")

# Where each state may go by a state change: forward only, and any open state may be closed. A closed
# report changes only when its citizen reopens it (back to ASSIGNED), never by a state change.
NEXT_STATES: Dict[str, Tuple[str, ...]] = {
    RECEIVED: (ASSIGNED, IN_PROGRESS, RESOLVED, REJECTED),
    ASSIGNED: (IN_PROGRESS, RESOLVED, REJECTED),
    IN_PROGRESS: (RESOLVED, REJECTED),
    RESOLVED: (),
    REJECTED: (),
}

# What the citizen reads when the operator leaves no note of their own.
_DEFAULT_NOTES: Dict[str, str] = {
    RECEIVED: "Đã tiếp nhận phản ánh, đang chuyển đến {agency}.",
    ASSIGNED: "{agency} đã nhận phản ánh.",
    IN_PROGRESS: "{agency} đang xử lý.",
    RESOLVED: "{agency} đã xử lý xong.",
    REJECTED: "Phản ánh không được xử lý.",
}


def status_of(state: str) -> str:
    return "closed" if state in CLOSED_STATES else "open"


def states_with_status(status: str) -> Tuple[str, ...]:
    return tuple(state for state in STATES if status_of(state) == status)


def status_notes(state: str, agency_name: str, note: Optional[str] = None) -> str:
    return note or _DEFAULT_NOTES[state].format(agency=agency_name)


def reassigned_notes(agency_name: str, reason: str) -> str:
    return f"Phản ánh được chuyển đến {agency_name}: {reason}"


def reopened_notes(agency_name: str) -> str:
    # Without the citizen's comment: the feed, open to every key, carries no words of theirs.
    return f"Người dân báo vấn đề chưa được khắc phục; phản ánh được chuyển lại {agency_name}."
