"""Figures as Vietnamese readers write them: a decimal comma, a dot between thousands, "–" for a
figure that does not exist yet (nothing resolved, nothing rated)."""
from __future__ import annotations

from typing import Callable, Dict, Optional

MISSING = "–"


def count(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def decimal(value: Optional[float], places: int = 1) -> str:
    if value is None:
        return MISSING
    whole, _, fraction = f"{value:,.{places}f}".partition(".")
    return whole.replace(",", ".") + ("," + fraction if fraction else "")


def percent(share: Optional[float]) -> str:
    return MISSING if share is None else decimal(share * 100) + "%"


def hours(value: Optional[float]) -> str:
    if value is None:
        return MISSING
    # Under an hour, in minutes: "0,0 giờ" would read as nothing at all.
    return f"{max(1, round(value * 60))} phút" if value < 1 else decimal(value) + " giờ"


def rating(value: Optional[float]) -> str:
    return MISSING if value is None else decimal(value) + "/5"


FILTERS: Dict[str, Callable] = {
    "count": count, "decimal": decimal, "percent": percent, "hours": hours, "rating": rating,
}
