"""The console's list of reports: filters read from the page's query string, one page of the
matching reports sorted by deadline, and what makes a report overdue."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import List, Mapping, Optional, Tuple
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import lifecycle
from ..schema import Report

PER_PAGE = 20
OPEN = "open"  # every state that is not closed: what the list shows first
STATE_CHOICES = (OPEN, *lifecycle.STATES)


@dataclass(frozen=True)
class ListFilter:
    state: str = OPEN  # OPEN, one state, or "" for all
    service_code: str = ""
    ward_code: str = ""
    agency_id: str = ""
    page: int = 1

    def query(self, **changes: object) -> str:
        """This filter, with `changes`, as the list page's query string (page 1 left out)."""
        changed = replace(self, **changes)  # type: ignore[arg-type]
        pairs = {"state": changed.state, "service_code": changed.service_code, "ward_code": changed.ward_code,
                 "agency_id": changed.agency_id}
        if changed.page > 1:
            pairs["page"] = str(changed.page)
        return urlencode({key: value for key, value in pairs.items() if value or key == "state"})


def parse_filter(query: Mapping[str, str], agency_id: Optional[str]) -> ListFilter:
    """The filter the page asked for; anything unknown is dropped rather than refused, since it
    only narrows a list. An agency account's list is always its agency's."""
    state = query.get("state", OPEN)
    page = query.get("page", "1")
    return ListFilter(
        state=state if state in STATE_CHOICES else "",
        service_code=query.get("service_code", "")[:32],
        ward_code=query.get("ward_code", "")[:8],
        agency_id=agency_id or query.get("agency_id", "")[:64],
        page=int(page) if page.isascii() and page.isdigit() and 0 < int(page) < 100_000 else 1,
    )


async def page_of_reports(session: AsyncSession, wanted: ListFilter) -> Tuple[List[Report], int]:
    """The reports of the filter's page, nearest deadline first, and how many match in all."""
    query = select(Report)
    if wanted.state == OPEN:
        query = query.where(Report.state.notin_(lifecycle.CLOSED_STATES))
    elif wanted.state:
        query = query.where(Report.state == wanted.state)
    for column, value in ((Report.service_code, wanted.service_code), (Report.ward_code, wanted.ward_code),
                          (Report.agency_id, wanted.agency_id)):
        if value:
            query = query.where(column == value)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    page = query.order_by(Report.expected_at, Report.id).offset((wanted.page - 1) * PER_PAGE).limit(PER_PAGE)
    return list((await session.execute(page)).scalars()), total


def overdue(report: Report, now: datetime) -> bool:
    """Past its deadline and still open."""
    return report.state not in lifecycle.CLOSED_STATES and report.expected_at < now
