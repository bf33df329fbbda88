"""The location figure of `make bench`: the share of the location table (bench/places.yml: typed
addresses, landmarks, older ward names and pins) that the geocoder puts in the right unit."""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from bot.geocode import Geocoder, Place

logger = logging.getLogger("bench")

PLACES_TABLE = Path(__file__).with_name("places.yml")


@dataclass(frozen=True)
class Row:
    kind: str
    unit: str  # the current unit's name, e.g. "Thuận Hóa"
    query: Optional[str] = None
    pin: Optional[Tuple[float, float]] = None


def load_table(path: Path = PLACES_TABLE) -> List[Row]:
    rows = []
    for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["places"]:
        pin = tuple(entry["pin"]) if "pin" in entry else None
        if (entry.get("query") is None) == (pin is None):
            raise ValueError(f"{path.name}: a row is either a query or a pin: {entry}")
        rows.append(Row(kind=entry["kind"], unit=entry["unit"], query=entry.get("query"), pin=pin))
    return rows


async def locate(geocoder: Geocoder, row: Row) -> Optional[Place]:
    if row.pin is not None:
        return geocoder.describe_point(*row.pin)
    return await geocoder.resolve(row.query or "")


async def resolved(geocoder: Geocoder, rows: List[Row]) -> Dict[str, List[bool]]:
    """Per kind, whether each row's place is in its unit (a list of candidate units is not)."""
    outcome: Dict[str, List[bool]] = defaultdict(list)
    for row in rows:
        place = await locate(geocoder, row)
        right = place is not None and place.unit is not None and place.unit.name == row.unit
        if not right:
            logger.info("places: %r -> %s, expected %s", row.query or row.pin,
                        place.unit.name if place and place.unit else None, row.unit)
        outcome[row.kind].append(right)
    return outcome


def bench_places(emit, rows: Optional[List[Row]] = None, geocoder: Optional[Geocoder] = None) -> None:
    rows = load_table() if rows is None else rows
    outcome = asyncio.run(resolved(geocoder or Geocoder(), rows))
    everything = [ok for oks in outcome.values() for ok in oks]
    context = {"dataset": "bench/places.yml", "geocoder": "bot/geocode.py"}
    emit("places.resolved_share", sum(everything) / len(everything), "ratio", n=len(everything), **context)
    for kind, oks in sorted(outcome.items()):
        emit(f"places.{kind}.resolved_share", sum(oks) / len(oks), "ratio", n=len(oks), **context)
