"""HTTP handlers: the Open311 GeoReport v2 endpoints, the lifecycle's (state changes, the updates
feed, the citizen's rating), photos."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from aiohttp import BodyPartReader, web
from multidict import MultiDict, MultiMapping
from sqlalchemy.exc import IntegrityError

from bot import metrics, photos
from bot.categories import Category
from bot.report_codes import format_report_code, report_number

from . import lifecycle
from .appkeys import AREA, DIRECTORY, MEDIA, SESSIONS, SETTINGS, UPLOADS
from .auth import any_role_keys, given_key, require_api_key, state_changer, wrong_agency
from .directory import Agency
from .errors import REQUEST_ID, Open311Error, bad_request, not_found
from .forms import (
    local_time,
    parse_filter,
    parse_new_report,
    parse_note,
    parse_rating,
    parse_state,
    parse_window,
    parse_work_photo,
    to_w3c,
)
from .locate import route
from .media import CONTENT_TYPES
from .nearby import radius_for, reports_near
from .queries import (
    RATING,
    NotTheirs,
    Refused,
    WrongAgency,
    change_state,
    create_report,
    get_report,
    list_reports,
    rate,
    reassign,
    report_with_key,
    updates_between,
)
from .schema import Report, ReportUpdate

log = logging.getLogger(__name__)

# Room for the multipart envelope and the api_key field around a photo of the maximum size.
MAX_UPLOAD_BODY = photos.MAX_PHOTO_BYTES + 64 * 1024


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def service_names(app: web.Application) -> Dict[str, str]:
    return {c.code: c.name for c in app[DIRECTORY].categories()}


def _service(category: Category) -> Dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description,
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(category.keywords),
        "group": "Phản ánh hiện trường",
    }


def report_json(app: web.Application, report: Report, names: Dict[str, str]) -> Dict[str, Any]:
    unit = app[AREA].unit_by_code(report.ward_code)
    urls = [media.url for media in report.media]
    # Phone, device and account ids are personal data: stored for the agency, never listed.
    return {
        "service_request_id": report.code,
        "status": lifecycle.status_of(report.state),
        "status_notes": report.status_notes,
        "service_name": names.get(report.service_code, report.service_code),
        "service_code": report.service_code,
        "description": report.description,
        "agency_responsible": report.agency_name,
        "requested_datetime": to_w3c(report.requested_at),
        "updated_datetime": to_w3c(report.updated_at),
        "expected_datetime": to_w3c(report.expected_at),
        "address": report.address,
        "lat": report.lat,
        "long": report.long,
        "media_url": urls[0] if urls else None,
        "media_urls": urls,
        "ward": unit.full_name if unit else None,
        "ward_code": report.ward_code,
        "state": report.state,
        "channel": report.channel,
        "updates": [update_json(update, report.code) for update in report.updates if update.kind != RATING],
        "rating": report.rating,
        "rating_comment": report.rating_comment,
        "reopened": report.reopened,
        "followers": report.followers,
    }


def update_json(update: ReportUpdate, code: str) -> Dict[str, Any]:
    """One change as FixMyStreet's updates feed shows it (`description` is the note); who made it
    stays out: the feed is open to every key."""
    return {
        "update_id": update.id,
        "service_request_id": code,
        "updated_datetime": to_w3c(update.created_at),
        "status": lifecycle.status_of(update.state),
        "state": update.state,
        "description": update.note,
        "media_url": update.media_url,
        # Extension: what kind of change (state, reassign, reopen), so that a notifier can tell a
        # citizen's own reopening apart from the agency's work.
        "kind": update.kind,
        # Extension: the agency responsible after the change, which a reassignment names.
        "agency_responsible": update.agency_name,
    }


async def read_form(request: web.Request) -> MultiMapping[str]:
    try:
        posted = await request.post()
    # ValueError: bytes that are not UTF-8, a multipart body without its boundary; AssertionError:
    # aiohttp's complaint about a multipart body cut short; LookupError: an unknown charset.
    except (ValueError, AssertionError, LookupError) as exc:
        raise bad_request("Dữ liệu gửi lên không đọc được.", "Unreadable form body.") from exc
    # Open311 fields are text; a file sent in their place is ignored rather than read as text.
    return MultiDict((name, value) for name, value in posted.items() if isinstance(value, str))


async def services(request: web.Request) -> web.Response:
    return web.json_response([_service(c) for c in request.app[DIRECTORY].categories()])


async def service_definition(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if code not in service_names(request.app):
        raise not_found("Không có loại phản ánh này.", "Unknown service_code.")
    # No service has extra attributes (`metadata` is false), so the definition is empty.
    return web.json_response({"service_code": code, "attributes": []})


def _created(report: Report, status: int) -> web.Response:
    deadline = local_time(report.expected_at)
    notice = (
        f"Đã tiếp nhận phản ánh {report.code}, chuyển đến {report.agency_name}; "
        f"thời hạn xử lý dự kiến trước {deadline:%H:%M} ngày {deadline:%d/%m/%Y}."
    )
    return web.json_response([{"service_request_id": report.code, "service_notice": notice}], status=status)


async def create(request: web.Request) -> web.Response:
    app = request.app
    form = await read_form(request)
    require_api_key(given_key(request, form), app[SETTINGS].effective_backend_api_keys)
    new = parse_new_report(form, service_names(app))
    routing = route(app[AREA], app[DIRECTORY], new)
    key = new.idempotency_key
    if key:
        async with app[SESSIONS]() as session:
            stored = await report_with_key(session, key)
        if stored is not None:
            return _repeat(stored, request)
    try:
        async with app[SESSIONS]() as session, session.begin():
            report = await create_report(session, new, routing, utc_now())
    except IntegrityError:
        # The same key raced in from a second request that stored its report first.
        if not key:
            raise
        async with app[SESSIONS]() as session:
            stored = await report_with_key(session, key)
        if stored is None:
            raise
        return _repeat(stored, request)
    log.info("created %s -> %s [%s]", report.code, report.agency_id, request[REQUEST_ID])
    metrics.BACKEND_REPORTS_CREATED.labels(metrics.channel_label(new.channel)).inc()
    # 201: a new resource exists at requests/{code}.json (Open311 clients accept any 2xx).
    return _created(report, 201)


def _repeat(report: Report, request: web.Request) -> web.Response:
    """A create whose idempotency key names a stored report: that report, nothing new (200)."""
    log.info("repeated create answered with %s [%s]", report.code, request[REQUEST_ID])
    return _created(report, 200)


async def list_requests(request: web.Request) -> web.Response:
    app = request.app
    filters = parse_filter(request.query)
    if filters.account_id or filters.device_id:
        # Whose reports these are is personal: only the assistant (or an operator) may ask.
        settings = app[SETTINGS]
        require_api_key(
            given_key(request),
            settings.effective_backend_api_keys + settings.effective_backend_operator_keys,
        )
    async with app[SESSIONS]() as session:
        if filters.near is not None:  # the duplicate offer's nearby reports
            radius = radius_for(filters.near, filters.service_codes, app[DIRECTORY].categories())
            reports = await reports_near(session, filters, radius, utc_now())
        else:
            reports = await list_reports(session, filters)
    names = service_names(app)
    return web.json_response([report_json(app, report, names) for report in reports])


def request_number(request: web.Request) -> int:
    number = report_number(request.match_info["id"])
    if number is None:
        raise not_found("Không tìm thấy phản ánh này.", "No such service request.")
    return number


async def show(request: web.Request) -> web.Response:
    app = request.app
    number = request_number(request)
    async with app[SESSIONS]() as session:
        report = await get_report(session, number)
    if report is None:
        raise not_found("Không tìm thấy phản ánh này.", "No such service request.")
    return web.json_response([report_json(app, report, service_names(app))])


async def set_state(request: web.Request) -> web.Response:
    app = request.app
    form = await read_form(request)
    settings = app[SETTINGS]
    # Operators change any report, an agency only its own; the assistant's keys none (403).
    agency = state_changer(
        given_key(request, form), settings.effective_backend_operator_keys,
        settings.backend_agency_keys, settings.effective_backend_api_keys,
    )
    number = request_number(request)
    note = parse_note(form)
    actor = f"agency:{agency}" if agency else "operator"
    new_agency_id = (form.get("agency") or "").strip()
    try:
        if new_agency_id:
            new_agency = _reassignment(app, agency, new_agency_id)
            async with app[SESSIONS]() as session, session.begin():
                report = await reassign(session, number, new_agency.id, new_agency.name, note, utc_now(), actor=actor)
        else:
            state = parse_state(form)
            media_url = parse_work_photo(form, app[MEDIA])
            async with app[SESSIONS]() as session, session.begin():
                report = await change_state(
                    session, number, state, note, utc_now(), actor=actor, agency_id=agency, media_url=media_url
                )
    except WrongAgency as exc:
        raise wrong_agency() from exc
    except Refused as exc:
        raise bad_request(exc.vietnamese, exc.english) from exc
    if report is None:
        raise not_found("Không tìm thấy phản ánh này.", "No such service request.")
    log.info("%s is now %s of %s, by %s [%s]", report.code, report.state, report.agency_id, actor, request[REQUEST_ID])
    return web.json_response([report_json(app, report, service_names(app))])


def _reassignment(app: web.Application, changer: Optional[str], agency_id: str) -> Agency:
    """The agency a report is handed to: operators only (the IOC's "wrong agency" case)."""
    if changer is not None:
        raise Open311Error(
            403, "Chỉ trung tâm điều hành được chuyển phản ánh sang cơ quan khác.",
            "Only operators may reassign a report to another agency.",
        )
    agency = app[DIRECTORY].agency(agency_id)
    if agency is None:
        raise bad_request("Cơ quan xử lý không tồn tại.", "agency is not a known agency id.")
    return agency


async def feed(request: web.Request) -> web.Response:
    """Changes made between `start_date` and `end_date` (default the last 24 hours), oldest first,
    at most `queries.FEED_LIMIT`: a reader that gets that many asks again from the last one's
    time, and knows repeats by `update_id`. Any key of any role may read it."""
    app = request.app
    require_api_key(given_key(request), any_role_keys(app[SETTINGS]))
    start, end = parse_window(request.query, utc_now())
    async with app[SESSIONS]() as session:
        updates = await updates_between(session, start, end)
    return web.json_response([update_json(update, format_report_code(update.report_id)) for update in updates])


async def rating(request: web.Request) -> web.Response:
    """The citizen's verdict on their resolved report, through the assistant: `rating` 1-5,
    `comment`, `fixed` (false: not fixed); an unhappy verdict soon enough reopens it."""
    app = request.app
    form = await read_form(request)
    settings = app[SETTINGS]
    require_api_key(given_key(request, form), settings.effective_backend_api_keys)
    number = request_number(request)
    verdict = parse_rating(form)
    try:
        async with app[SESSIONS]() as session, session.begin():
            report = await rate(
                session, number, verdict.account_id, verdict.rating, verdict.comment, verdict.fixed, utc_now(),
                reopen_window_days=settings.reopen_window_days, reopen_limit=settings.reopen_limit,
            )
    except NotTheirs as exc:
        raise Open311Error(
            403, "Chỉ người gửi phản ánh mới đánh giá được.", "Only the account that filed the report may rate it."
        ) from exc
    except Refused as exc:
        raise bad_request(exc.vietnamese, exc.english) from exc
    if report is None:
        raise not_found("Không tìm thấy phản ánh này.", "No such service request.")
    log.info("%s rated %s, now %s [%s]", report.code, verdict.rating, report.state, request[REQUEST_ID])
    return web.json_response([report_json(app, report, service_names(app))])


async def _read_upload(request: web.Request) -> Dict[str, Any]:
    fields: Dict[str, Any] = {}
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader):
            raise bad_request("Dữ liệu tải lên không hợp lệ.", "Nested multipart is not supported.")
        if part.name == "file":
            data = bytearray()
            while chunk := await part.read_chunk():
                data.extend(chunk)
                if len(data) > photos.MAX_PHOTO_BYTES:
                    raise Open311Error(
                        413,
                        f"Ảnh quá lớn (tối đa {photos.MAX_PHOTO_BYTES // (1024 * 1024)} MB).",
                        "The file is too large.",
                    )
            fields["file"] = bytes(data)
        elif part.name == "api_key":
            fields["api_key"] = (await part.read_chunk(1024)).decode("utf-8", "replace").strip()
        else:
            await part.release()
    return fields


async def upload_media(request: web.Request) -> web.Response:
    app = request.app
    if request.content_length and request.content_length > MAX_UPLOAD_BODY:
        raise Open311Error(413, "Ảnh quá lớn.", "The upload is too large.")
    if not request.content_type.startswith("multipart/"):
        raise bad_request("Cần gửi ảnh dạng multipart/form-data.", "Send multipart/form-data.")
    await app[UPLOADS].take(request.remote or "")  # before the body is read
    try:
        fields = await _read_upload(request)
    except (ValueError, AssertionError) as exc:  # aiohttp's complaints about broken multipart
        raise bad_request("Dữ liệu tải lên không hợp lệ.", "Malformed multipart body.") from exc
    # The assistant's photos of a problem, and operators' and agencies' photos of the work done.
    require_api_key(given_key(request, fields), any_role_keys(app[SETTINGS]))
    if not fields.get("file"):
        raise bad_request("Thiếu tệp ảnh (trường file).", "The multipart field 'file' is required.")
    try:
        url = await app[MEDIA].save(fields["file"])
    except photos.PhotoError as exc:
        raise bad_request(str(exc), "The file is not an acceptable JPEG, PNG or WebP photo.") from exc
    log.info("stored photo %s [%s]", url.rsplit("/", 1)[-1], request[REQUEST_ID])
    return web.json_response({"media_url": url}, status=201)


async def media_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = request.app[MEDIA].path_of(name)
    if path is None:
        raise not_found("Không tìm thấy ảnh.", "No such media.")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": CONTENT_TYPES[name.rsplit(".", 1)[1]],
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


def routes() -> List[web.RouteDef]:
    base = "/open311/v2"
    return [
        web.get(f"{base}/services.json", services),
        web.get(f"{base}/services/{{code}}.json", service_definition),
        web.post(f"{base}/requests.json", create),
        web.get(f"{base}/requests.json", list_requests),
        web.get(f"{base}/requests/{{id}}.json", show),
        web.post(f"{base}/requests/{{id}}/state.json", set_state),
        web.post(f"{base}/requests/{{id}}/rating.json", rating),
        web.get(f"{base}/servicerequestupdates.json", feed),
        web.post(f"{base}/media.json", upload_media),
        web.get("/media/{name}", media_file),
    ]
