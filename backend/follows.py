"""`POST requests/{id}/follow.json` (extension, the assistant's keys): a citizen who found their
problem already reported nearby follows that report instead of filing it again. One row per
account and report, counted on the report (`followers` in its JSON); following again changes
nothing. Which accounts follow stays on the backend, like who filed a report.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from . import api
from .appkeys import SESSIONS, SETTINGS
from .auth import given_key, require_api_key
from .errors import REQUEST_ID, bad_request, not_found
from .forms import MAX_ID, _text
from .queries import _locked
from .schema import Report, ReportFollow

log = logging.getLogger(__name__)


async def follow(session: AsyncSession, number: int, account_id: str, now: datetime) -> Optional[Report]:
    """The report, now followed by `account_id` (counted once however often it asks); None if
    there is no such report."""
    # The report's row lock (PostgreSQL) makes two follows of one account count once.
    report = await _locked(session, number)
    if report is None:
        return None
    query = select(ReportFollow.id).where(ReportFollow.report_id == number, ReportFollow.account_id == account_id)
    if (await session.execute(query)).first() is None:
        session.add(ReportFollow(report_id=number, account_id=account_id, created_at=now))
        report.followers += 1
        await session.flush()
    return report


async def follow_request(request: web.Request) -> web.Response:
    app = request.app
    form = await api._form(request)
    require_api_key(given_key(request, form), app[SETTINGS].effective_backend_api_keys)
    number = api._number(request)
    account_id = _text(form, "account_id", MAX_ID)
    if not account_id:
        raise bad_request("Thiếu tài khoản người theo dõi (account_id).", "account_id is required.")
    async with app[SESSIONS]() as session, session.begin():
        report = await follow(session, number, account_id, api._now())
    if report is None:
        raise not_found("Không tìm thấy phản ánh này.", "No such service request.")
    log.info("%s followed, %d followers [%s]", report.code, report.followers, request[REQUEST_ID])
    return web.json_response([api.report_json(app, report, api._service_names(app))])


def setup(app: web.Application) -> None:
    app.router.add_post("/open311/v2/requests/{id}/follow.json", follow_request)
