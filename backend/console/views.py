"""The console's pages: sign-in, the list (with its map), one report, and the forms that move it.

Every handler but the sign-in page starts with `signed_in` (anonymous: to the sign-in page), and
every report it shows or changes goes through `security.may` first: an agency account gets 403
for another agency's report, whatever URL it types.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from math import ceil
from typing import Any, Dict, List, Optional

import aiohttp_jinja2
from aiohttp import web
from aiohttp_security import authorized_userid, forget, remember
from aiohttp_session import get_session
from multidict import MultiMapping

from bot import photos
from bot.report_codes import report_number
from bot.text import fold

from .. import lifecycle
from ..appkeys import AREA, DIRECTORY, MEDIA, SESSIONS
from ..forms import MAX_NOTE, local_time
from ..queries import Refused, WrongAgency, change_state, get_report, reassign, report_updates
from ..schema import Report
from . import accounts, listing, security
from .accounts import Identity
from .keys import LIMITS, TEMPLATES, TILE_ATTRIBUTION, TILE_URL

log = logging.getLogger(__name__)

STATE_LABELS = {
    lifecycle.RECEIVED: "Đã tiếp nhận",
    lifecycle.ASSIGNED: "Đã giao xử lý",
    lifecycle.IN_PROGRESS: "Đang xử lý",
    lifecycle.RESOLVED: "Đã xử lý xong",
    lifecycle.REJECTED: "Không xử lý",
}
KIND_LABELS = {"state": "", "reassign": "Chuyển cơ quan", "reopen": "Người dân báo chưa xong",
               "rating": "Người dân đánh giá"}
ACTOR_LABELS = {"operator": "Trung tâm điều hành", "citizen": "Người dân", "system": "Hệ thống"}
# Said on the report's page after a form went through (`?done=`): the page itself shows the result,
# but without a word an operator cannot tell a saved form from a reloaded page.
DONE_TEXTS = {"state": "Đã cập nhật trạng thái.", "reassign": "Đã chuyển phản ánh sang cơ quan mới."}


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _when(value: Optional[datetime]) -> str:
    return f"{local_time(value):%H:%M %d/%m/%Y}" if value else ""


async def signed_in(request: web.Request) -> Identity:
    user = await authorized_userid(request)
    if not isinstance(user, Identity):
        # After signing in, back to the page asked for (a path of the console only).
        query = {"next": request.rel_url.path_qs, **({"expired": "1"} if request.get(security.EXPIRED) else {})}
        raise web.HTTPFound(request.app.router["console.login"].url_for().with_query(query))
    return user


async def render(request: web.Request, template: str, context: Dict[str, Any], status: int = 200) -> web.Response:
    """The page `template` with what every page shows: who is signed in, the forms' CSRF token."""
    user = await authorized_userid(request)
    common = {
        "user": user if isinstance(user, Identity) else None,
        "csrf_token": security.csrf_token(await get_session(request)),
        "csrf_field": security.CSRF_FIELD,
        "tile_url": request.app[TILE_URL],
        "tile_attribution": request.app[TILE_ATTRIBUTION],
        "static": lambda path: f"/console/static/{path}",
    }
    return aiohttp_jinja2.render_template(template, request, {**common, **context}, status=status,
                                          app_key=TEMPLATES)


# Sign-in -------------------------------------------------------------------------------------------

def _next_page(request: web.Request, given: object) -> str:
    home = str(request.app.router["console.reports"].url_for())
    # Only a path inside the console: `//evil.example` or a full URL would leave the site.
    if isinstance(given, str) and given.startswith(home) and not given.startswith("//"):
        return given
    return home


async def login_page(request: web.Request) -> web.Response:
    if isinstance(await authorized_userid(request), Identity):
        raise web.HTTPFound(_next_page(request, request.query.get("next")))
    expired = request.query.get("expired") == "1"
    return await render(request, "login.html", {"next": request.query.get("next", ""), "login": "",
                                           "error": "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại."
                                           if expired else None})


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    login_name = str(form.get("login", "")).strip().lower()[:64]
    password = str(form.get("password", ""))[: accounts.MAX_PASSWORD]
    address = request.remote or ""
    limits = request.config_dict[LIMITS]
    context = {"next": form.get("next", ""), "login": login_name}
    if limits.blocked(login_name, address):
        log.warning("console: sign-in refused, too many failures for this login or address")
        return await render(request, "login.html", {
            **context, "error": "Bạn đã đăng nhập sai quá nhiều lần. Vui lòng thử lại sau 15 phút."}, 429)
    async with request.config_dict[SESSIONS]() as session, session.begin():
        account = await accounts.authenticate(session, login_name, password)
        user = accounts.identity_of(account) if account is not None else None
        remembered = accounts.session_identity(account) if account is not None else ""
    if user is None:
        limits.failed(login_name, address)
        log.info("console: failed sign-in")
        return await render(request, "login.html", {
            **context, "error": "Tên đăng nhập hoặc mật khẩu không đúng."}, 401)
    limits.succeeded(login_name)
    security.new_session(await get_session(request))
    response = web.HTTPFound(_next_page(request, form.get("next")))
    await remember(request, response, remembered)
    log.info("console: %s signed in (%s)", user.login, user.role)
    raise response


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPFound(request.app.router["console.login"].url_for())
    await forget(request, response)
    security.new_session(await get_session(request))
    raise response


# The list and its map --------------------------------------------------------------------------------

def _names(request: web.Request) -> Dict[str, Dict[str, str]]:
    directory = request.config_dict[DIRECTORY]
    agencies = (directory.agency(agency_id) for agency_id in sorted(directory.agency_ids()))
    return {
        "categories": {c.code: c.name for c in directory.categories()},
        "units": {u.code: u.full_name for u in request.config_dict[AREA].units},
        "agencies": {a.id: a.name for a in sorted(filter(None, agencies), key=lambda a: a.name)},
    }


async def reports(request: web.Request) -> web.Response:
    user = await signed_in(request)
    wanted = listing.parse_filter(request.query, None if user.is_operator else user.agency_id)
    async with request.config_dict[SESSIONS]() as session:
        found, total = await listing.page_of_reports(session, wanted)
    now, names = now_utc(), _names(request)
    rows = [_row(report, now, names) for report in found]
    pins = [{"code": row["code"], "lat": row["lat"], "long": row["long"], "overdue": row["overdue"],
             "state": row["state_label"], "url": row["url"]} for row in rows if row["lat"] is not None]
    pages = max(1, ceil(total / listing.PER_PAGE))
    return await render(request, "reports.html", {
        "rows": rows, "total": total, "filter": wanted, "pages": pages, "names": names,
        "state_choices": [(listing.OPEN, "Chưa đóng"), *STATE_LABELS.items(), ("", "Tất cả")],
        "pins_json": json.dumps(pins, ensure_ascii=False).replace("<", "\\u003c"),
    })


def _place(address: Optional[str], unit: str) -> str:
    """The address and the unit, the unit once: the assistant's addresses often end with it."""
    if not address:
        return unit
    return address if fold(unit) in fold(address) else f"{address}, {unit}"


def _row(report: Report, now: datetime, names: Dict[str, Dict[str, str]]) -> Dict[str, Any]:
    unit = names["units"].get(report.ward_code, report.ward_code)
    return {
        "code": report.code, "url": f"reports/{report.code}", "state": report.state,
        "state_label": STATE_LABELS[report.state],
        "category": names["categories"].get(report.service_code, report.service_code),
        "unit": unit, "agency": report.agency_name, "place": _place(report.address, unit),
        "description": report.description, "lat": report.lat, "long": report.long,
        "requested": _when(report.requested_at), "deadline": _when(report.expected_at),
        "overdue": listing.overdue(report, now), "reopened": bool(report.reopened),
    }


# One report ------------------------------------------------------------------------------------

async def _their_report(request: web.Request, user: Identity) -> Report:
    number = report_number(request.match_info["code"])
    async with request.config_dict[SESSIONS]() as session:
        report = await get_report(session, number) if number is not None else None
    if report is None:
        raise web.HTTPNotFound(text="Không tìm thấy phản ánh này.")
    if not security.may(user, security.WORK, report):
        log.warning("console: %s refused %s (another agency's report)", user.login, report.code)
        raise web.HTTPForbidden(text="Phản ánh này thuộc cơ quan khác: tài khoản của bạn không xem được.")
    return report


async def report_page(request: web.Request) -> web.Response:
    user = await signed_in(request)
    report = await _their_report(request, user)
    return await _show(request, user, report, done=DONE_TEXTS.get(request.query.get("done", "")))


async def _show(request: web.Request, user: Identity, report: Report, error: Optional[str] = None,
                status: int = 200, *, typed: Optional[Dict[str, str]] = None,
                done: Optional[str] = None) -> web.Response:
    """The report's page; after a refused form, with the error and what was typed in it (`typed`),
    so that nothing the operator wrote is lost."""
    async with request.config_dict[SESSIONS]() as session:
        history = await report_updates(session, report.id)
    names = _names(request)
    steps: List[Dict[str, Any]] = [{
        "when": _when(report.requested_at), "state": STATE_LABELS[lifecycle.RECEIVED],
        "what": "Người dân gửi phản ánh", "note": None, "media_url": None, "agency": None,
    }]
    for update in history:
        steps.append({
            "when": _when(update.created_at), "state": STATE_LABELS.get(update.state, update.state),
            "what": KIND_LABELS.get(update.kind, update.kind), "note": update.note, "media_url": update.media_url,
            "agency": update.agency_name, "who": _actor(update.actor, names),
        })
    return await render(request, "report.html", {
        "report": _row(report, now_utc(), names), "photos": [m.url for m in report.media], "steps": steps,
        "status_notes": report.status_notes, "next_states": [
            (state, STATE_LABELS[state]) for state in lifecycle.NEXT_STATES[report.state]],
        # Operators call the citizen back when a report is unclear; agencies go through the IOC.
        "phone": report.phone if user.is_operator else None,
        "rating": report.rating, "rating_comment": report.rating_comment,
        "can_reassign": security.may(user, security.REASSIGN) and report.state not in lifecycle.CLOSED_STATES,
        "agencies": {k: v for k, v in names["agencies"].items() if k != report.agency_id},
        "error": error, "max_note": MAX_NOTE, "done": done, "typed": typed or {},
    }, status)


def _actor(actor: str, names: Dict[str, Dict[str, str]]) -> str:
    if actor.startswith("agency:"):
        return names["agencies"].get(actor.split(":", 1)[1], "Cơ quan xử lý")
    return ACTOR_LABELS.get(actor, actor)


def _note(form: MultiMapping[Any], name: str) -> Optional[str]:
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    return text[:MAX_NOTE] or None


async def _photo(request: web.Request, form: MultiMapping[Any]) -> Optional[str]:
    """The URL of the photo of the work done, stored like the citizens' (checked, EXIF removed)."""
    field = form.get("photo")
    if not isinstance(field, web.FileField):
        return None
    data = field.file.read(photos.MAX_PHOTO_BYTES + 1)
    if not data:
        return None
    if len(data) > photos.MAX_PHOTO_BYTES:
        raise photos.PhotoError(f"Ảnh quá lớn (tối đa {photos.MAX_PHOTO_BYTES // (1024 * 1024)} MB).")
    return await request.config_dict[MEDIA].save(data)


def _typed(form: MultiMapping[Any], which: str) -> Dict[str, str]:
    """What was typed in the page's form `which` (`typed.form`), to show it again."""
    fields = ("state", "note", "no_photo_reason", "agency_id", "reason")
    return {"form": which, **{name: str(form.get(name, "")) for name in fields}}


def _actor_of(user: Identity) -> str:
    return "operator" if user.is_operator else f"agency:{user.agency_id}"


async def move(request: web.Request) -> web.Response:
    user = await signed_in(request)
    report = await _their_report(request, user)
    form = await request.post()
    typed = _typed(form, "move")
    state = str(form.get("state", ""))
    note, reason = _note(form, "note"), _note(form, "no_photo_reason")
    if state not in lifecycle.NEXT_STATES[report.state]:
        return await _show(request, user, report, "Không chuyển được sang trạng thái này.", 400, typed=typed)
    try:
        media_url = await _photo(request, form)
    except photos.PhotoError as exc:
        return await _show(request, user, report, str(exc), 400, typed=typed)
    if state == lifecycle.RESOLVED and not media_url:
        if not reason:
            return await _show(request, user, report,
                               "Cần ảnh sau khi xử lý, hoặc ghi rõ lý do không có ảnh.", 400, typed=typed)
        note = f"{note}\n(Không có ảnh: {reason})" if note else f"Không có ảnh: {reason}"
    try:
        async with request.config_dict[SESSIONS]() as session, session.begin():
            changed = await change_state(
                session, report.id, state, note, now_utc(), actor=_actor_of(user),
                agency_id=None if user.is_operator else user.agency_id, media_url=media_url,
            )
    except WrongAgency as exc:
        raise web.HTTPForbidden(text="Phản ánh này thuộc cơ quan khác.") from exc
    except Refused as exc:
        return await _show(request, user, report, exc.vietnamese, 409, typed=typed)
    if changed is None:
        raise web.HTTPNotFound(text="Không tìm thấy phản ánh này.")
    log.info("console: %s moved %s to %s", user.login, changed.code, state)
    raise web.HTTPSeeOther(request.app.router["console.report"].url_for(code=changed.code)
                           .with_query(done="state"))


async def reassign_report(request: web.Request) -> web.Response:
    user = await signed_in(request)
    report = await _their_report(request, user)
    if not security.may(user, security.REASSIGN):
        raise web.HTTPForbidden(text="Chỉ trung tâm điều hành chuyển phản ánh sang cơ quan khác.")
    form = await request.post()
    typed = _typed(form, "reassign")
    agency = request.config_dict[DIRECTORY].agency(str(form.get("agency_id", "")))
    reason = _note(form, "reason")
    if agency is None or not reason:
        return await _show(request, user, report, "Cần chọn cơ quan và ghi lý do chuyển.", 400, typed=typed)
    try:
        async with request.config_dict[SESSIONS]() as session, session.begin():
            changed = await reassign(session, report.id, agency.id, agency.name, reason, now_utc(),
                                     actor=_actor_of(user))
    except Refused as exc:
        return await _show(request, user, report, exc.vietnamese, 409, typed=typed)
    if changed is None:
        raise web.HTTPNotFound(text="Không tìm thấy phản ánh này.")
    log.info("console: %s reassigned %s to %s", user.login, changed.code, agency.id)
    raise web.HTTPSeeOther(request.app.router["console.report"].url_for(code=changed.code)
                           .with_query(done="reassign"))
