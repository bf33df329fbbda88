"""Reads and writes of reports; each function works inside the caller's session/transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import List, Optional, Sequence, Set

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import lifecycle
from .forms import NewReport, ReportFilter
from .schema import Report, ReportMedia


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


async def list_reports(session: AsyncSession, filters: ReportFilter) -> List[Report]:
    query = select(Report)
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
    query = query.order_by(Report.requested_at.desc(), Report.id.desc()).limit(filters.limit)
    return list((await session.execute(query)).scalars())


class WrongAgency(Exception):
    """The report belongs to another agency than the one whose key asked to change it."""


async def change_state(
    session: AsyncSession, number: int, state: str, note: Optional[str], now: datetime,
    agency_id: Optional[str] = None,
) -> Optional[Report]:
    """The report with its new state, None if there is none; with `agency_id`, WrongAgency
    (nothing changed) unless the report is that agency's."""
    # Row lock on PostgreSQL so two operators' changes apply one after the other.
    query = select(Report).where(Report.id == number).with_for_update()
    report = (await session.execute(query)).scalar_one_or_none()
    if report is None:
        return None
    if agency_id is not None and report.agency_id != agency_id:
        raise WrongAgency(report.code)
    report.state = state
    report.status_notes = lifecycle.status_notes(state, report.agency_name, note)
    report.updated_at = now
    await session.flush()
    return report


async def referenced_media(session: AsyncSession, names: Sequence[str]) -> Set[str]:
    """Which of the stored photo `names` a report references (by URL, whatever its base). Every
    table that keeps a photo URL belongs here, or the sweep would remove its photos."""
    if not names:
        return set()
    matches = (ReportMedia.url.endswith(f"/media/{name}", autoescape=True) for name in names)
    query = select(ReportMedia.url).where(or_(*matches))
    urls = (await session.execute(query)).scalars()
    return {url.rsplit("/", 1)[-1] for url in urls}
