"""Citizen-facing report codes: `PA` and six digits (`PA000123`)."""
from __future__ import annotations

import re
from typing import Optional

PREFIX = "PA"
DIGITS = 6

# Users type codes in any case, with a dash, dot or space after "PA", and often drop the zeros.
_TYPED = re.compile(r"^\s*pa[\s._-]*(\d{1,%d})\s*$" % DIGITS, re.IGNORECASE)


def format_report_code(number: int) -> str:
    return f"{PREFIX}{number:0{DIGITS}d}"


def normalize_report_code(text: Optional[str]) -> Optional[str]:
    """`"pa-000123"`, `"PA 123"` -> `"PA000123"`; None for anything that is not a code."""
    match = _TYPED.match(text or "")
    if not match or int(match.group(1)) == 0:
        return None
    return format_report_code(int(match.group(1)))


def report_number(code: str) -> Optional[int]:
    """The database id behind a code as typed, or None."""
    normalized = normalize_report_code(code)
    return int(normalized[len(PREFIX):]) if normalized else None
