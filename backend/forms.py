"""Validation of what callers send: every refusal is an Open311 400 before anything is stored."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Optional, Tuple
from urllib.parse import urlsplit

from multidict import MultiMapping

from bot.photos import MAX_PHOTOS_PER_REPORT
from bot.report_codes import report_number
from bot.text import HTML

from .errors import bad_request
from .lifecycle import STATES, STATUSES
from .media import MediaStore

MAX_DESCRIPTION = 4000
MAX_ADDRESS = 500
MAX_ID = 128
MAX_URL = 1000
MAX_NOTE = 1000
MAX_COMMENT = 1000
MAX_IDEMPOTENCY_KEY = 64
_PHONE = re.compile(r"^\+?[0-9 .()-]{6,20}$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Naive dates in filters are Huế's local time, the only time zone the city uses.
VIETNAM = timezone(timedelta(hours=7))


@dataclass(frozen=True)
class NewReport:
    service_code: str
    description: str
    lat: Optional[float]
    long: Optional[float]
    address: Optional[str]
    media_urls: Tuple[str, ...]
    phone: Optional[str]
    device_id: Optional[str]
    account_id: Optional[str]
    channel: Optional[str]
    # Extension: the caller's name for this report, so that a repeated POST files nothing new.
    idempotency_key: Optional[str] = None


# What the citizen calls the fields the assistant fills in for them.
_LABELS = {
    "description": "Nội dung phản ánh", "address_string": "Địa chỉ", "note": "Ghi chú", "comment": "Nhận xét",
}


def form_text(form: MultiMapping[str], name: str, limit: int) -> Optional[str]:
    value = _CONTROL.sub("", form.get(name, "") or "").strip()
    if len(value) > limit:
        raise bad_request(
            f"{_LABELS.get(name, name)} quá dài (tối đa {limit} ký tự).",
            f"{name} is longer than {limit} characters.",
        )
    return value or None


def _plain_text(form: MultiMapping[str], name: str, limit: int) -> Optional[str]:
    value = form_text(form, name, limit)
    # Refused rather than silently cut out of the report (the assistant strips it beforehand).
    if value and HTML.search(value):
        raise bad_request(
            f"{_LABELS.get(name, name)} không được chứa mã HTML.", f"{name} must not contain HTML."
        )
    return value


def parse_note(form: MultiMapping[str]) -> Optional[str]:
    """An operator's note for the citizen (`status_notes`), plain text like a description."""
    return _plain_text(form, "note", MAX_NOTE)


def parse_state(form: MultiMapping[str]) -> str:
    state = (form.get("state") or "").strip().lower()
    if state not in STATES:
        raise bad_request("Trạng thái xử lý không hợp lệ.", f"state must be one of: {', '.join(STATES)}.")
    return state


def parse_work_photo(form: MultiMapping[str], media: MediaStore) -> Optional[str]:
    """The photo of the work done: one this backend stores (uploaded first with `media.json`), so
    that what the citizen is shown is a checked photo without EXIF, kept as long as the report."""
    url = (form.get("media_url") or "").strip()
    if not url:
        return None
    prefix = f"{media.public_base_url}/media/"
    if not url.startswith(prefix) or media.path_of(url[len(prefix):]) is None:
        raise bad_request(
            "Ảnh kết quả xử lý phải là ảnh đã tải lên máy chủ này (media.json).",
            "media_url must be a photo uploaded to this server's media.json.",
        )
    return url


@dataclass(frozen=True)
class Rating:
    account_id: str
    rating: Optional[int]  # None only with `fixed` false
    comment: Optional[str]
    fixed: bool


def parse_rating(form: MultiMapping[str]) -> Rating:
    account_id = form_text(form, "account_id", MAX_ID)
    if not account_id:
        raise bad_request("Thiếu tài khoản người phản ánh (account_id).", "account_id is required.")
    fixed_raw = (form.get("fixed") or "true").strip().lower()
    if fixed_raw not in ("true", "false"):
        raise bad_request("fixed phải là true hoặc false.", "fixed must be true or false.")
    fixed = fixed_raw == "true"
    raw = (form.get("rating") or "").strip()
    if raw not in ("1", "2", "3", "4", "5") and (raw or fixed):
        raise bad_request("Đánh giá phải là số từ 1 đến 5.", "rating must be a whole number from 1 to 5.")
    return Rating(
        account_id=account_id,
        rating=int(raw) if raw else None,
        comment=_plain_text(form, "comment", MAX_COMMENT),
        fixed=fixed,
    )


def _coordinate(form: MultiMapping[str], name: str, bound: float) -> Optional[float]:
    raw = (form.get(name, "") or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or abs(value) > bound:
        raise bad_request(
            f"Tọa độ {name} không hợp lệ.", f"{name} must be a number between -{bound:g} and {bound:g}."
        )
    return value


def _media_urls(form: MultiMapping[str]) -> Tuple[str, ...]:
    # `media_url` is standard and may repeat; `media_urls` (extension) may be comma separated.
    raw = list(form.getall("media_url", [])) + [
        part for value in form.getall("media_urls", []) for part in value.split(",")
    ]
    urls = tuple(dict.fromkeys(url.strip() for url in raw if url.strip()))
    if len(urls) > MAX_PHOTOS_PER_REPORT:
        raise bad_request(
            f"Mỗi phản ánh có tối đa {MAX_PHOTOS_PER_REPORT} ảnh.",
            f"At most {MAX_PHOTOS_PER_REPORT} media URLs per request.",
        )
    for url in urls:
        parts = urlsplit(url)
        if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad_request("Đường dẫn ảnh không hợp lệ.", "media_url must be an http(s) URL.")
    return urls


def parse_new_report(form: MultiMapping[str], service_codes: Iterable[str]) -> NewReport:
    service_code = (form.get("service_code", "") or "").strip()
    if not service_code:
        raise bad_request("Thiếu loại phản ánh (service_code).", "service_code is required.")
    if service_code not in set(service_codes):
        raise bad_request(
            f"Loại phản ánh không tồn tại: {service_code[:40]}.", "service_code is not a known service."
        )
    description = _plain_text(form, "description", MAX_DESCRIPTION) or ""
    lat, long = _coordinate(form, "lat", 90), _coordinate(form, "long", 180)
    if (lat is None) != (long is None):
        raise bad_request("Cần cả vĩ độ và kinh độ.", "lat and long must be given together.")
    address = form_text(form, "address_string", MAX_ADDRESS)
    if lat is None and address is None:
        raise bad_request(
            "Thiếu vị trí: cần tọa độ hoặc địa chỉ có tên phường/xã.",
            "A location is required: lat and long, or address_string.",
        )
    phone = form_text(form, "phone", 32)
    if phone and not _PHONE.match(phone):
        raise bad_request("Số điện thoại không hợp lệ.", "phone is not a phone number.")
    channel = form_text(form, "channel", 32)
    if channel and not _CHANNEL.match(channel):
        raise bad_request("Kênh gửi không hợp lệ.", "channel must be a short lowercase name.")
    return NewReport(
        service_code=service_code,
        description=description,
        lat=lat,
        long=long,
        address=address,
        media_urls=_media_urls(form),
        phone=phone,
        device_id=form_text(form, "device_id", MAX_ID),
        account_id=form_text(form, "account_id", MAX_ID),
        channel=channel,
        idempotency_key=form_text(form, "idempotency_key", MAX_IDEMPOTENCY_KEY),
    )


def parse_datetime(value: str, name: str) -> datetime:
    """A W3C/ISO 8601 date(time) as naive UTC, the way the database stores times."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=VIETNAM)
        # The first and last days of the calendar have no UTC time on the other side of midnight.
        return parsed.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise bad_request(
            f"Thời điểm {name} không hợp lệ.", f"{name} must be an ISO 8601 date and time."
        ) from None


FEED_DEFAULT_WINDOW = timedelta(hours=24)


def parse_window(query: MultiMapping[str], now: datetime) -> Tuple[datetime, datetime]:
    """The updates feed's `start_date`/`end_date` as `requests.json` reads them; by default the 24
    hours up to `now` (or before `end_date`)."""
    start, end = query.get("start_date"), query.get("end_date")
    until = parse_datetime(end, "end_date") if end else now
    since = parse_datetime(start, "start_date") if start else until - FEED_DEFAULT_WINDOW
    return since, until


def local_time(value: datetime) -> datetime:
    """Naive UTC from the database -> Huế local time."""
    return value.replace(tzinfo=timezone.utc).astimezone(VIETNAM)


def to_w3c(value: datetime) -> str:
    """Times as Open311 shows them: W3C format, in Huế local time with its offset."""
    return local_time(value).isoformat(timespec="seconds")


DEFAULT_LIMIT = 200
MAX_LIMIT = 1000


# Nearby reports (extension, for the duplicate offer): `radius` in metres, at most this.
MAX_RADIUS_M = 2000


@dataclass(frozen=True)
class Near:
    lat: float
    long: float
    radius_m: Optional[float]  # None: the category's own (bot/data/categories.yml)


@dataclass(frozen=True)
class ReportFilter:
    numbers: Tuple[int, ...] = ()
    service_codes: Tuple[str, ...] = ()
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    statuses: Tuple[str, ...] = ()
    account_id: Optional[str] = None
    device_id: Optional[str] = None
    limit: int = DEFAULT_LIMIT
    near: Optional[Near] = None


def _comma_list(query: MultiMapping[str], name: str) -> Tuple[str, ...]:
    # Control characters out, as in `_text`: PostgreSQL refuses a NUL in any string (a 500).
    parts = (_CONTROL.sub("", part).strip() for value in query.getall(name, []) for part in value.split(","))
    return tuple(part for part in parts if part)


def parse_near(query: MultiMapping[str]) -> Optional[Near]:
    """`lat`, `long` and optional `radius` (metres, above 0; more than MAX_RADIUS_M is capped)."""
    lat, long = _coordinate(query, "lat", 90), _coordinate(query, "long", 180)
    raw = (query.get("radius", "") or "").strip()
    if lat is None and long is None and not raw:
        return None
    if lat is None or long is None:
        raise bad_request("Cần cả vĩ độ và kinh độ.", "lat and long must be given together.")
    radius: Optional[float] = None
    if raw:
        try:
            radius = float(raw)
        except ValueError:
            radius = math.nan
        if not math.isfinite(radius) or radius <= 0:
            raise bad_request("Bán kính (radius) phải là số mét lớn hơn 0.", "radius must be metres above 0.")
        radius = min(radius, MAX_RADIUS_M)
    return Near(lat, long, radius)


def parse_filter(query: MultiMapping[str]) -> ReportFilter:
    codes = _comma_list(query, "service_request_id")
    parsed = [report_number(code) for code in codes]
    numbers = tuple(number for number in parsed if number is not None)
    if len(numbers) != len(parsed):
        raise bad_request("Mã phản ánh không hợp lệ.", "service_request_id must list report codes.")
    if numbers:
        # Open311: with service_request_id every other filter is ignored.
        return ReportFilter(numbers=numbers, limit=MAX_LIMIT)
    statuses = tuple(status.lower() for status in _comma_list(query, "status"))
    if any(status not in STATUSES for status in statuses):
        raise bad_request("Trạng thái phải là open hoặc closed.", "status must be open or closed.")
    raw_limit = (query.get("limit", "") or "").strip()
    # isdigit() alone admits "²" and other digits int() refuses.
    if raw_limit and not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIMIT):
        raise bad_request(
            f"limit phải từ 1 đến {MAX_LIMIT}.", f"limit must be between 1 and {MAX_LIMIT}."
        )
    start = query.get("start_date")
    end = query.get("end_date")
    return ReportFilter(
        service_codes=_comma_list(query, "service_code"),
        start=parse_datetime(start, "start_date") if start else None,
        end=parse_datetime(end, "end_date") if end else None,
        statuses=statuses,
        account_id=form_text(query, "account_id", MAX_ID),
        device_id=form_text(query, "device_id", MAX_ID),
        limit=int(raw_limit) if raw_limit else DEFAULT_LIMIT,
        near=parse_near(query),
    )
