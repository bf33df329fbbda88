"""Public figures of the reports received in a period, as the IOC publishes them: per category, per
agency, per unit and in total (`GET /open311/v2/stats.json`, and the page `/stats/`).

Only counts and derived figures leave this module: no description, address, phone or account.
Counts and sums are added up in SQL at the finest grain (category x agency x unit) and rolled up
here; the median time to resolve needs each resolved report's time, which SQLite cannot take a
median of, so those times are read and the median taken in Python.

Definitions (README, "Public figures"): `received` the reports filed in the period; `resolved` those
of them whose state is resolved now; `on_time_share` resolved by their `expected_at` (the deadline
the directory gave their category when filed), among the resolved; `median_hours_to_resolve` from
filing to the last resolution; `mean_rating` over the rated ones; `rating_share` rated among the
resolved; `reopened_share` reopened at least once among the received.
"""
from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Optional, Tuple

from aiohttp import web
from cachetools import TTLCache
from multidict import MultiMapping
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import lifecycle
from .appkeys import AREA, DIRECTORY, SESSIONS
from .errors import bad_request
from .forms import VIETNAM, local_time, parse_datetime, to_w3c
from .schema import Report

# Public and unauthenticated: a burst of identical requests costs one query a minute.
CACHE_TTL_S = 60
CACHE_PERIODS = 256
EARLIEST, LATEST = datetime(2000, 1, 1), datetime(2100, 1, 1)


@dataclass(frozen=True)
class Period:
    """Reports filed from `start` (included) to `end` (excluded), naive UTC like the database."""

    start: datetime
    end: datetime


def now_minute() -> datetime:
    """Now in naive UTC, truncated to the minute: periods ending now are cached for a minute."""
    return datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)


def local_midnight(day: date) -> datetime:
    """The UTC time at which `day` starts in Huế."""
    return datetime(day.year, day.month, day.day, tzinfo=VIETNAM).astimezone(timezone.utc).replace(tzinfo=None)


def month_start(now: datetime) -> datetime:
    """The start of the local month that `now` (naive UTC) is in."""
    return local_midnight(local_time(now).date().replace(day=1))


def _is_date_only(value: str) -> bool:
    try:
        date.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def parse_period(query: MultiMapping[str], now: Optional[datetime] = None) -> Period:
    """`start_date`/`end_date` (ISO 8601, Huế time unless an offset is given); a bare date as
    `end_date` includes that whole day. Defaults: from the start of this month to now (`now_minute`).
    Open311Error 400."""
    now = now or now_minute()
    raw_start = (query.get("start_date") or "").strip()
    raw_end = (query.get("end_date") or "").strip()
    end = parse_datetime(raw_end, "end_date") if raw_end else now
    if raw_end and _is_date_only(raw_end):
        end += timedelta(days=1)
    if raw_start:
        start = parse_datetime(raw_start, "start_date")
    else:
        start = month_start(min(end - timedelta(seconds=1), now))
    for moment, name in ((start, "start_date"), (end, "end_date")):
        # Beyond these the local times shown would overflow the calendar; no report is filed there.
        if not EARLIEST <= moment <= LATEST:
            raise bad_request(
                f"Thời điểm {name} phải trong khoảng năm {EARLIEST.year}–{LATEST.year - 1}.",
                f"{name} must be between {EARLIEST.year} and {LATEST.year - 1}.",
            )
    if start >= end:
        raise bad_request(
            "Thời điểm bắt đầu phải trước thời điểm kết thúc.", "start_date must be before end_date."
        )
    return Period(start, end)


@dataclass
class Tally:
    """What adds up across groups; the figures are derived from it at the end."""

    received: int = 0
    resolved: int = 0
    on_time: int = 0
    rated: int = 0
    rating_sum: int = 0
    rated_resolved: int = 0
    reopened: int = 0
    hours: List[float] = field(default_factory=list)  # each resolved report's time to resolve

    def add(self, other: "Tally") -> None:
        self.received += other.received
        self.resolved += other.resolved
        self.on_time += other.on_time
        self.rated += other.rated
        self.rating_sum += other.rating_sum
        self.rated_resolved += other.rated_resolved
        self.reopened += other.reopened
        self.hours.extend(other.hours)

    def figures(self) -> Dict[str, Any]:
        return {
            "received": self.received,
            "resolved": self.resolved,
            # Among the resolved whose resolution time is known (all but those resolved before it was kept).
            "on_time_share": _share(self.on_time, len(self.hours)),
            "median_hours_to_resolve": round(statistics.median(self.hours), 1) if self.hours else None,
            "mean_rating": round(self.rating_sum / self.rated, 2) if self.rated else None,
            "rating_share": _share(self.rated_resolved, self.resolved),
            "reopened_share": _share(self.reopened, self.received),
        }


def _share(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


# (category code, agency id, unit code): the finest grain the figures are rolled up from.
Key = Tuple[str, str, str]


def _count(condition) -> Any:
    return func.sum(case((condition, 1), else_=0))


async def tallies(session: AsyncSession, period: Period) -> Tuple[Dict[Key, Tally], Dict[str, str]]:
    """The tally of each (category, agency, unit) with reports filed in `period`, and the name each
    agency id was last stored with."""
    received_in = and_(Report.requested_at >= period.start, Report.requested_at < period.end)
    resolved = Report.state == lifecycle.RESOLVED
    grain = (Report.service_code, Report.agency_id, Report.ward_code)
    counts = (
        select(
            *grain,
            func.max(Report.agency_name),
            func.count(),
            _count(resolved),
            _count(and_(resolved, Report.resolved_at <= Report.expected_at)),
            func.count(Report.rating),
            func.coalesce(func.sum(Report.rating), 0),
            _count(and_(resolved, Report.rating.isnot(None))),
            _count(Report.reopened > 0),
        )
        .where(received_in)
        .group_by(*grain)
    )
    groups: Dict[Key, Tally] = {}
    agency_names: Dict[str, str] = {}
    for code, agency_id, unit, agency_name, *numbers in await session.execute(counts):
        received, resolved_n, on_time, rated, rating_sum, rated_resolved, reopened = (int(n or 0) for n in numbers)
        groups[(code, agency_id, unit)] = Tally(
            received, resolved_n, on_time, rated, rating_sum, rated_resolved, reopened
        )
        agency_names[agency_id] = agency_name
    times = select(*grain, Report.requested_at, Report.resolved_at).where(
        received_in, resolved, Report.resolved_at.isnot(None)
    )
    for code, agency_id, unit, requested_at, resolved_at in await session.execute(times):
        hours = (resolved_at - requested_at).total_seconds() / 3600
        tally = groups.get((code, agency_id, unit))
        if tally is not None:  # else filed and resolved between the two queries: left to the next minute
            tally.hours.append(hours)
    return groups, agency_names


def _rolled_up(groups: Dict[Key, Tally], position: int) -> Dict[str, Tally]:
    rolled: Dict[str, Tally] = {}
    for key, tally in groups.items():
        rolled.setdefault(key[position], Tally()).add(tally)
    return rolled


def _entries(
    rolled: Dict[str, Tally], names: Dict[str, str], id_field: str, listed: Iterable[str] = ()
) -> List[Dict[str, Any]]:
    """One entry per id that had reports, and per id of `listed` even without any (so that a
    category or unit with nothing to report shows 0), most reports first."""
    ids = list(dict.fromkeys([*listed, *rolled]))
    entries = [
        {id_field: key, "name": names.get(key, key), **rolled.get(key, Tally()).figures()} for key in ids
    ]
    # Stable: equal counts keep the directory's order (the order citizens see categories in).
    return sorted(entries, key=lambda entry: -entry["received"])


async def compute(app: web.Application, period: Period) -> Dict[str, Any]:
    """The public figures of `period`, as stats.json answers them."""
    async with app[SESSIONS]() as session:
        groups, agency_names = await tallies(session, period)
    total = Tally()
    for tally in groups.values():
        total.add(tally)
    categories = app[DIRECTORY].categories()
    units = app[AREA].units
    return {
        "start_date": to_w3c(period.start),
        "end_date": to_w3c(period.end),
        "total": total.figures(),
        "by_category": _entries(
            _rolled_up(groups, 0), {c.code: c.name for c in categories}, "code", (c.code for c in categories)
        ),
        "by_agency": _entries(_rolled_up(groups, 1), agency_names, "agency_id"),
        "by_unit": _entries(
            _rolled_up(groups, 2), {u.code: u.full_name for u in units}, "unit_code", (u.code for u in units)
        ),
    }


class StatsCache:
    """The figures of each period for `CACHE_TTL_S`; one computation at a time, so that a burst of
    requests for a period not cached yet waits for one query instead of running one each."""

    def __init__(self) -> None:
        self._figures: TTLCache[Period, Dict[str, Any]] = TTLCache(maxsize=CACHE_PERIODS, ttl=CACHE_TTL_S)
        self._lock = asyncio.Lock()

    async def figures(self, app: web.Application, period: Period) -> Dict[str, Any]:
        cached = self._figures.get(period)
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._figures.get(period)
            if cached is None:
                cached = self._figures[period] = await compute(app, period)
        return cached


STATS = web.AppKey("stats", StatsCache)


async def stats_json(request: web.Request) -> web.Response:
    period = parse_period(request.query)
    figures = await request.app[STATS].figures(request.app, period)
    return web.json_response(figures, headers={"Cache-Control": f"public, max-age={CACHE_TTL_S}"})


def setup(app: web.Application) -> None:
    """The cache and `GET /open311/v2/stats.json` (public: no key)."""
    app[STATS] = StatsCache()
    app.router.add_get("/open311/v2/stats.json", stats_json)
