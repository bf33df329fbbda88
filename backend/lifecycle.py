"""Internal states of a report and what the citizen sees of them (Open311 `status`)."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

RECEIVED, ASSIGNED, IN_PROGRESS, RESOLVED, REJECTED = (
    "received", "assigned", "in_progress", "resolved", "rejected"
)
STATES = (RECEIVED, ASSIGNED, IN_PROGRESS, RESOLVED, REJECTED)
CLOSED_STATES = (RESOLVED, REJECTED)
STATUSES = ("open", "closed")

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
