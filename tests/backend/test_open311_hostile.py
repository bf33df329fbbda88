"""Hostile input to the routing backend: every route refuses with an Open311 error, never a 500;
a foreign Host is refused; uploads are limited per address; photos no report references go."""
from __future__ import annotations

import dataclasses
import itertools
import os
import time
from urllib.parse import urlsplit

import aiohttp
import pytest

from backend import create_app
from bot.settings import DEV_API_KEY, DEV_OPERATOR_KEY
from tests.support.images import jpeg
from tests.support.open311 import API, create_at_phu_xuan
from tests.support.places import PHU_XUAN
from tests.support.servers import eventually

# Wrong types, arrays instead of values, huge values, control characters, non-ASCII digits,
# dates at the ends of the calendar.
HOSTILE = [
    "[]", "{}", "a" * 5000, "\x00", "\u202e", "٣", "１２", "²", "𝟙", "nan", "inf", "1e400", "-1",
    "99999999999999999999", "0001-01-01", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
    "2026-13-45", "PA٠٠٠٠٠١", "PA000001,%",
]
QUERY_FIELDS = ["start_date", "end_date", "limit", "status", "service_request_id", "service_code",
                "account_id", "device_id"]
FORM_FIELDS = ["service_code", "lat", "long", "description", "address_string", "media_url", "media_urls",
               "phone", "device_id", "account_id", "channel", "state", "note", "agency", "rating", "comment",
               "fixed"]


async def refused_as_open311(response: aiohttp.ClientResponse) -> bool:
    """Whether `response` is a refusal (4xx) with an Open311 error body."""
    if not 400 <= response.status < 500:
        return False
    body = await response.json()
    return isinstance(body, list) and body[0]["code"] == response.status and body[0]["description"]


async def test_no_query_value_gives_a_500(client):
    code = await create_at_phu_xuan(client)
    for field, value in itertools.product(QUERY_FIELDS, HOSTILE):
        response = await client.get(f"{API}/requests.json", params={field: value},
                                    headers={"X-Api-Key": DEV_API_KEY})
        assert response.status == 200 or await refused_as_open311(response), (field, value, response.status)
        response = await client.get(f"{API}/servicerequestupdates.json", params={field: value},
                                    headers={"X-Api-Key": DEV_API_KEY})
        assert response.status == 200 or await refused_as_open311(response), (field, value, response.status)
    for path in ("requests/%ff.json", "requests/PA%00.json", f"requests/{'9' * 400}.json",
                 "requests/PA٠٠٠٠٠١.json", "services/%ff.json", f"requests/{code}.json?x=%ff"):
        response = await client.get(f"{API}/{path}")
        assert response.status == 200 or await refused_as_open311(response), (path, response.status)


@pytest.mark.parametrize("path, key", [("requests.json", DEV_API_KEY),
                                       ("requests/PA000001/state.json", DEV_OPERATOR_KEY),
                                       ("requests/PA000001/rating.json", DEV_API_KEY)])
async def test_no_form_value_gives_a_500(client, path, key):
    await create_at_phu_xuan(client)
    for field, value in itertools.product(FORM_FIELDS, HOSTILE):
        form = {"api_key": key, "service_code": "moi_truong", "lat": str(PHU_XUAN[0]),
                "long": str(PHU_XUAN[1]), "state": "assigned", field: value}
        response = await client.post(f"{API}/{path}", data=form)
        assert response.status in (200, 201) or await refused_as_open311(response), (field, value, response.status)


@pytest.mark.parametrize("path", ["requests.json", "requests/PA000001/state.json", "requests/PA000001/rating.json",
                                  "media.json"])
@pytest.mark.parametrize("body, content_type", [
    (b"[]", "application/json"),
    (b"[" * 50_000, "application/json"),
    (b"a=%ff%fe", "application/x-www-form-urlencoded"),
    (b"\xff\xfe\x00", "application/x-www-form-urlencoded"),
    (b"a=1", "application/x-www-form-urlencoded; charset=ebcdic"),  # an unknown charset
    (b"--b\r\n", "multipart/form-data; boundary=b"),  # a multipart body cut short
    (b"junk", "multipart/form-data"),  # without its boundary
])
async def test_a_body_that_is_no_form_is_a_400(client, path, body, content_type):
    response = await client.post(f"{API}/{path}", data=body, headers={"Content-Type": content_type})
    assert await refused_as_open311(response), (response.status, await response.text())


async def test_a_form_larger_than_any_report_is_refused_before_it_is_read(client):
    form = {"api_key": DEV_API_KEY, "service_code": "moi_truong", "description": "x" * 1_000_000}
    response = await client.post(f"{API}/requests.json", data=form)
    assert response.status == 413 and await refused_as_open311(response)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
async def test_a_foreign_host_header_is_refused(client, host):
    response = await client.get(f"{API}/services.json", headers={"Host": host})
    assert response.status == 400 and await refused_as_open311(response)


async def test_the_configured_and_public_names_are_served(aiohttp_client, settings):
    settings = dataclasses.replace(settings, allowed_hosts=("phananh.hue.gov.vn",),
                                   backend_public_url="https://anh.hue.gov.vn")
    client = await aiohttp_client(create_app(settings))
    for host in ("phananh.hue.gov.vn", "anh.hue.gov.vn:443", "localhost:8000", "127.0.0.1"):
        assert (await client.get(f"{API}/services.json", headers={"Host": host})).status == 200, host


def _photo_form() -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("api_key", DEV_API_KEY)
    form.add_field("file", jpeg(), filename="photo.jpg", content_type="image/jpeg")
    return form


async def test_uploads_are_limited_per_address(aiohttp_client, settings):
    client = await aiohttp_client(create_app(dataclasses.replace(settings, backend_uploads_per_hour=2)))
    statuses = [(await client.post(f"{API}/media.json", data=_photo_form())).status for _ in range(2)]
    assert statuses == [201, 201]
    refused = await client.post(f"{API}/media.json", data=_photo_form())
    assert refused.status == 429 and await refused_as_open311(refused)


async def test_photos_no_report_references_are_removed_after_a_day(aiohttp_client, settings):
    client = await aiohttp_client(create_app(settings))
    urls = []
    for _ in range(3):
        response = await client.post(f"{API}/media.json", data=_photo_form())
        urls.append((await response.json())["media_url"])
    kept, orphan, fresh = (settings.media_dir / urlsplit(url).path.rsplit("/", 1)[1] for url in urls)
    await create_at_phu_xuan(client, media_url=urls[0])
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (kept, orphan):
        os.utime(path, (two_days_ago, two_days_ago))

    # The backend process sweeps at start (then every hour): a restart over the same data.
    await aiohttp_client(create_app(settings))
    await eventually(lambda: not orphan.exists(), "the day-old unreferenced photo removed")
    assert kept.exists() and fresh.exists()
    assert (await client.get(urlsplit(urls[0]).path)).status == 200
