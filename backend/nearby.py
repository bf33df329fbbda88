"""Nearby reports, for the duplicate offer (extension of `GET requests.json`: `lat`, `long`,
`radius` in metres): FixMyStreet's way, open reports of the same category close to the new one.

A bounding box narrows the rows in SQL (the same query on SQLite and PostgreSQL, no spatial
extension needed), then the distance in Huế's local frame (`bot.area.distance_km`, as the
assistant measures) keeps those within the radius, nearest first.
"""
from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Iterable, List

from sqlalchemy.ext.asyncio import AsyncSession

from bot.area import distance_km
from bot.categories import DEFAULT_NEARBY_RADIUS_M, Category

from .forms import Near, ReportFilter
from .queries import list_reports
from .schema import Report

EARTH_RADIUS_M = 6_371_000
# "From the last weeks": an older open report is news to nobody nearby, unless `start_date` says so.
NEARBY_WINDOW = timedelta(weeks=4)


def radius_for(near: Near, service_codes: Iterable[str], categories: Iterable[Category]) -> float:
    """The radius asked for, else that of the one category asked about, else FixMyStreet's 250 m."""
    if near.radius_m is not None:
        return near.radius_m
    codes = set(service_codes)
    radii = [category.nearby_radius_m for category in categories if category.code in codes]
    return radii[0] if len(codes) == 1 and radii else DEFAULT_NEARBY_RADIUS_M


async def reports_near(session: AsyncSession, filters: ReportFilter, radius_m: float, now: datetime) -> List[Report]:
    """The reports `filters` select within `radius_m` of `filters.near`, nearest first, at most
    `filters.limit`; from the last NEARBY_WINDOW unless `filters.start` says otherwise."""
    near = filters.near
    assert near is not None
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    # Longitude degrees shrink with the latitude; Huế is far from the poles.
    dlong = dlat / max(math.cos(math.radians(near.lat)), 0.01)
    boxed = replace(filters, near=None, start=filters.start or now - NEARBY_WINDOW)
    candidates = await list_reports(session, boxed, box=(near.lat - dlat, near.lat + dlat,
                                                         near.long - dlong, near.long + dlong))
    measured = [(distance_km((near.lat, near.long), (r.lat, r.long)) * 1000, r) for r in candidates]
    within = sorted((pair for pair in measured if pair[0] <= radius_m), key=lambda pair: (pair[0], pair[1].id))
    return [report for _, report in within[:filters.limit]]
