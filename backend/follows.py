"""`POST requests/{id}/follow.json` (extension, the assistant's keys): a citizen who found their
problem already reported nearby follows that report instead of filing it again. One row per
account and report (`report_follows`), counted on the report (`followers` in its JSON); following
again changes nothing. Which accounts follow stays on the backend, like who filed a report.
"""
from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from . import api
from .appkeys import SESSIONS, SETTINGS
from .auth import given_key, require_api_key
from .errors import REQUEST_ID, bad_request, not_found
from .forms import MAX_ID, form_text
from .queries import follow, get_report

log = logging.getLogger(__name__)


async def follow_request(request: web.Request) -> web.Response:
    app = request.app
    form = await api.read_form(request)
    require_api_key(given_key(request, form), app[SETTINGS].effective_backend_api_keys)
    number = api.request_number(request)
    account_id = form_text(form, "account_id", MAX_ID)
    if not account_id:
        raise bad_request("Thiếu tài khoản người theo dõi (account_id).", "account_id is required.")
    try:
        async with app[SESSIONS]() as session, session.begin():
            report = await follow(session, number, account_id, api.utc_now())
    except IntegrityError:
        # The same account's follow raced in first (SQLite locks no rows): counted once already.
        async with app[SESSIONS]() as session:
            report = await get_report(session, number)
    if report is None:
        raise not_found("Không tìm thấy phản ánh này.", "No such service request.")
    log.info("%s followed, %d followers [%s]", report.code, report.followers, request[REQUEST_ID])
    return web.json_response([api.report_json(app, report, api.service_names(app))])


def setup(app: web.Application) -> None:
    app.router.add_post("/open311/v2/requests/{id}/follow.json", follow_request)
