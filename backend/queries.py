"""Reads and writes of reports; each function works inside the caller's session/transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import List, Optional, Sequence, Set, Tuple

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import lifecycle
from .forms import NewReport, ReportFilter
from .schema import Report, ReportFollow, ReportMedia, ReportUpdate


@dataclass(frozen=True)
class Routing:
    """Where a new report goes: the unit that contains it and the agency that must act."""

    ward_code: str
    agency_id: str
    agency_name: str
    deadline: timedelta


async def create_report(
    session: AsyncSession, new: NewReport, routing: Routing, now: datetime
) -> Report:
    report = Report(
        service_code=new.service_code,
        description=new.description,
        lat=new.lat,
        long=new.long,
        address=new.address,
        ward_code=routing.ward_code,
        agency_id=routing.agency_id,
        agency_name=routing.agency_name,
        state=lifecycle.RECEIVED,
        status_notes=lifecycle.status_notes(lifecycle.RECEIVED, routing.agency_name),
        phone=new.phone,
        device_id=new.device_id,
        account_id=new.account_id,
        channel=new.channel,
        idempotency_key=new.idempotency_key,
        requested_at=now,
        updated_at=now,
        expected_at=now + routing.deadline,
        media=[ReportMedia(position=i, url=url) for i, url in enumerate(new.media_urls)],
    )
    session.add(report)
    # The id (hence the code) comes from the database's sequence, so concurrent creates differ.
    await session.flush()
    return report


async def report_with_key(session: AsyncSession, key: str) -> Optional[Report]:
    query = select(Report).where(Report.idempotency_key == key)
    return (await session.execute(query)).scalar_one_or_none()


async def get_report(session: AsyncSession, number: int) -> Optional[Report]:
    return (await session.execute(select(Report).where(Report.id == number))).scalar_one_or_none()


async def list_reports(
    session: AsyncSession, filters: ReportFilter, box: Optional[Tuple[float, float, float, float]] = None
) -> List[Report]:
    """The reports `filters` select, newest first, at most `filters.limit`; with `box` (south,
    north, west, east) all those located inside it (`backend.nearby` keeps the nearest)."""
    query = select(Report)
    if box is not None:
        south, north, west, east = box
        query = query.where(Report.lat.between(south, north), Report.long.between(west, east))
    if filters.numbers:
        query = query.where(Report.id.in_(filters.numbers))
    if filters.service_codes:
        query = query.where(Report.service_code.in_(filters.service_codes))
    if filters.start is not None:
        query = query.where(Report.requested_at >= filters.start)
    if filters.end is not None:
        query = query.where(Report.requested_at <= filters.end)
    if filters.statuses:
        states = [s for status in filters.statuses for s in lifecycle.states_with_status(status)]
        query = query.where(Report.state.in_(states))
    if filters.account_id is not None:
        query = query.where(Report.account_id == filters.account_id)
    if filters.device_id is not None:
        query = query.where(Report.device_id == filters.device_id)
    query = query.order_by(Report.requested_at.desc(), Report.id.desc())
    if box is None:
        query = query.limit(filters.limit)
    return list((await session.execute(query)).scalars())


class WrongAgency(Exception):
    """The report belongs to another agency than the one whose key asked to change it."""


class Refused(Exception):
    """The change is not allowed in the report's present state; nothing changed. In Vietnamese
    for the citizen or operator, and in English for integrators."""

    def __init__(self, vietnamese: str, english: str) -> None:
        super().__init__(english)
        self.vietnamese = vietnamese
        self.english = english


class NotTheirs(Exception):
    """The account rating a report is not the one that filed it."""


# The feed's page: a reader that gets this many asks again from the last one's time.
FEED_LIMIT = 1000
# Rows of the history that are not news for the citizen (the feed and request JSON leave them out).
RATING = "rating"


async def _locked(session: AsyncSession, number: int) -> Optional[Report]:
    # Row lock on PostgreSQL so that two changes of one report apply one after the other.
    query = select(Report).where(Report.id == number).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


def _record(report: Report, now: datetime, kind: str, actor: str, note: Optional[str],
            media_url: Optional[str] = None) -> None:
    """Appends the report's present state to its history (flushed with the report)."""
    report.updated_at = now
    report.updates.append(ReportUpdate(
        created_at=now, state=report.state, agency_id=report.agency_id, agency_name=report.agency_name,
        note=note, media_url=media_url, actor=actor, kind=kind,
    ))


async def change_state(
    session: AsyncSession, number: int, state: str, note: Optional[str], now: datetime, *,
    actor: str, agency_id: Optional[str] = None, media_url: Optional[str] = None,
) -> Optional[Report]:
    """The report with its new state, None if there is none; with `agency_id`, WrongAgency
    (nothing changed) unless the report is that agency's; Refused for a move `lifecycle` does not
    allow, or a resolution with neither a photo of the work done nor a note saying why not."""
    report = await _locked(session, number)
    if report is None:
        return None
    if agency_id is not None and report.agency_id != agency_id:
        raise WrongAgency(report.code)
    if state not in lifecycle.NEXT_STATES[report.state]:
        raise Refused(
            f"Không thể chuyển phản ánh {report.code} từ trạng thái {report.state} sang {state}.",
            f"{report.code} cannot go from {report.state} to {state}"
            + (" (a closed report is only reopened by its citizen)." if report.state in lifecycle.CLOSED_STATES
               else "."),
        )
    if state == lifecycle.RESOLVED and not media_url and not note:
        raise Refused(
            "Cần ảnh kết quả xử lý (media_url), hoặc ghi chú (note) nói rõ vì sao không có ảnh.",
            "Resolving needs a photo of the work done (media_url), or a note saying why there is none.",
        )
    report.state = state
    report.status_notes = lifecycle.status_notes(state, report.agency_name, note)
    report.resolved_at = now if state == lifecycle.RESOLVED else None
    _record(report, now, "state", actor, note, media_url)
    await session.flush()
    return report


async def reassign(
    session: AsyncSession, number: int, agency_id: str, agency_name: str, note: Optional[str],
    now: datetime, *, actor: str,
) -> Optional[Report]:
    """The report handed to another agency (state `assigned`, `note` the reason, required), None if
    there is none; Refused when it is closed, already that agency's, or no reason is given."""
    report = await _locked(session, number)
    if report is None:
        return None
    if not note:
        raise Refused("Cần ghi lý do chuyển cơ quan xử lý (note).", "Reassigning needs a reason (note).")
    if report.state in lifecycle.CLOSED_STATES:
        raise Refused(
            f"Phản ánh {report.code} đã đóng, không chuyển cơ quan được.",
            f"{report.code} is closed and cannot be reassigned.",
        )
    if report.agency_id == agency_id:
        raise Refused(
            f"Phản ánh {report.code} đã do {agency_name} xử lý.", f"{report.code} is already that agency's."
        )
    report.agency_id, report.agency_name = agency_id, agency_name
    report.state = lifecycle.ASSIGNED
    report.status_notes = lifecycle.reassigned_notes(agency_name, note)
    _record(report, now, "reassign", actor, note)
    await session.flush()
    return report


async def rate(
    session: AsyncSession, number: int, account_id: str, rating: Optional[int], comment: Optional[str],
    fixed: bool, now: datetime, *, reopen_window_days: int, reopen_limit: int,
) -> Optional[Report]:
    """The citizen's verdict on a resolved report: `rating` (1-5, or None with `fixed` false) and
    `comment` stored; "not fixed" or a rating of 2 or less within `reopen_window_days` of the
    resolution reopens it (back to `assigned`), at most `reopen_limit` times. None if there is no
    such report; NotTheirs unless `account_id` filed it; Refused unless it is resolved."""
    report = await _locked(session, number)
    if report is None:
        return None
    if not account_id or report.account_id != account_id:
        raise NotTheirs(report.code)
    if report.state != lifecycle.RESOLVED:
        raise Refused(
            f"Phản ánh {report.code} chưa được xử lý xong nên chưa đánh giá được.",
            f"{report.code} is not resolved: only a resolved report can be rated.",
        )
    # Reports resolved before resolution times were kept: their last change was the resolution.
    resolved_at = report.resolved_at or report.updated_at
    if rating is not None:
        report.rating, report.rating_comment, report.rated_at = rating, comment, now
    # The verdict is kept in the history even when it reopens nothing (too late, or once too often).
    _record(report, now, RATING, "citizen", comment)
    unhappy = not fixed or (rating is not None and rating <= 2)
    if unhappy and report.reopened < reopen_limit and now - resolved_at <= timedelta(days=reopen_window_days):
        report.state = lifecycle.ASSIGNED
        report.reopened += 1
        report.resolved_at = None
        report.status_notes = lifecycle.reopened_notes(report.agency_name)
        _record(report, now, "reopen", "citizen", report.status_notes)
    await session.flush()
    return report


async def follow(session: AsyncSession, number: int, account_id: str, now: datetime) -> Optional[Report]:
    """The report, now followed by `account_id` (counted once however often it asks); None if
    there is no such report."""
    report = await _locked(session, number)  # two follows of one account count once
    if report is None:
        return None
    query = select(ReportFollow.id).where(ReportFollow.report_id == number, ReportFollow.account_id == account_id)
    if (await session.execute(query)).first() is None:
        session.add(ReportFollow(report_id=number, account_id=account_id, created_at=now))
        report.followers += 1
        await session.flush()
    return report


async def report_updates(session: AsyncSession, number: int) -> List[ReportUpdate]:
    """The report's history, oldest first, ratings included (`kind` tells them apart)."""
    query = select(ReportUpdate).where(ReportUpdate.report_id == number).order_by(ReportUpdate.id)
    return list((await session.execute(query)).scalars())


async def updates_between(
    session: AsyncSession, start: datetime, end: datetime, limit: int = FEED_LIMIT
) -> List[ReportUpdate]:
    """The feed: changes citizens hear of (ratings are not news to them) made from `start` to `end`
    (both included), the oldest `limit` first."""
    query = (
        select(ReportUpdate)
        .where(ReportUpdate.created_at >= start, ReportUpdate.created_at <= end, ReportUpdate.kind != RATING)
        .order_by(ReportUpdate.created_at, ReportUpdate.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def referenced_media(session: AsyncSession, names: Sequence[str]) -> Set[str]:
    """Which of the stored photo `names` a report references (by URL, whatever its base). Every
    table that keeps a photo URL belongs here, or the sweep would remove its photos."""
    if not names:
        return set()
    found: Set[str] = set()
    for column in (ReportMedia.url, ReportUpdate.media_url):
        matches = (column.endswith(f"/media/{name}", autoescape=True) for name in names)
        urls = (await session.execute(select(column).where(or_(*matches)))).scalars()
        found.update(url.rsplit("/", 1)[-1] for url in urls)
    return found
