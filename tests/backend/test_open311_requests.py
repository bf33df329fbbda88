"""The Open311 endpoints and every refusal, on SQLite and on PostgreSQL."""
import asyncio
from datetime import datetime, timedelta

import pytest

from bot.categories import category_names
from bot.settings import DEV_API_KEY, DEV_OPERATOR_KEY
from tests.support.open311 import API, at, create, create_at_phu_xuan, show, upload_photo
from tests.support.places import DA_NANG, HANOI, PHU_XUAN


async def assert_error(response, status: int, *words: str):
    assert response.status == status, await response.text()
    body = await response.json()
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["code"] == status
    for word in words:
        assert word in body[0]["description"]


async def test_services_lists_the_categories_in_the_order_citizens_see(client):
    response = await client.get(f"{API}/services.json")
    assert response.status == 200
    services = await response.json()
    assert [(s["service_code"], s["service_name"]) for s in services] == list(category_names().items())
    assert all(s["metadata"] is False and s["type"] == "realtime" for s in services)


async def test_service_definition(client):
    response = await client.get(f"{API}/services/giao_thong.json")
    assert response.status == 200
    assert await response.json() == {"service_code": "giao_thong", "attributes": []}
    await assert_error(await client.get(f"{API}/services/nope.json"), 404)


async def test_create_then_show_a_report_at_phu_xuan(client):
    before = datetime.now().astimezone()
    response = await create(
        client,
        **at(PHU_XUAN), address_string="Cửa Thượng Tứ",
        description="Rác ùn ứ cả tuần trước cổng chợ", phone="0905 123 456",
        device_id="telegram", account_id="telegram:42", channel="telegram",
    )
    assert response.status == 201
    [created] = await response.json()
    code = created["service_request_id"]
    assert code.startswith("PA") and len(code) == 8 and code[2:].isdigit()
    assert code in created["service_notice"] and "UBND phường Phú Xuân" in created["service_notice"]

    report = await show(client, code)
    assert report["service_request_id"] == code
    assert report["status"] == "open" and report["state"] == "received"
    assert report["status_notes"]
    assert report["service_code"] == "moi_truong" and report["service_name"] == "Môi trường, vệ sinh"
    assert report["description"] == "Rác ùn ứ cả tuần trước cổng chợ"
    assert report["agency_responsible"] == "UBND phường Phú Xuân"
    assert report["ward"] == "Phường Phú Xuân" and report["ward_code"] == "19753"
    assert report["address"] == "Cửa Thượng Tứ"
    assert (report["lat"], report["long"]) == PHU_XUAN
    assert report["media_url"] is None and report["media_urls"] == []
    requested = datetime.fromisoformat(report["requested_datetime"])
    assert report["requested_datetime"].endswith("+07:00")
    assert abs(requested - before) < timedelta(minutes=1)
    assert datetime.fromisoformat(report["expected_datetime"]) > requested
    assert report["updated_datetime"] == report["requested_datetime"]
    # Personal data is stored for the agency but never listed.
    assert not {"phone", "device_id", "account_id"} & set(report)


@pytest.mark.parametrize("typed", ["{code}", "{lower}", "pa-{digits}", "PA {short}"])
async def test_show_accepts_codes_as_citizens_type_them(client, typed):
    code = await create_at_phu_xuan(client)
    path = typed.format(code=code, lower=code.lower(), digits=code[2:], short=int(code[2:]))
    response = await client.get(f"{API}/requests/{path}.json")
    assert response.status == 200
    assert (await response.json())[0]["service_request_id"] == code


async def test_unknown_or_malformed_ids_are_404(client):
    await assert_error(await client.get(f"{API}/requests/PA999999.json"), 404)
    await assert_error(await client.get(f"{API}/requests/hello.json"), 404)
    await assert_error(await client.get(f"{API}/nothing-here"), 404)


async def test_several_photos_first_is_media_url(client):
    urls = [f"https://example.org/p{i}.jpg" for i in range(3)]
    response = await client.post(f"{API}/requests.json", data=[
        ("api_key", DEV_API_KEY), ("service_code", "cay_xanh"), ("description", "Cây đổ"),
        *at(PHU_XUAN).items(),
        ("media_url", urls[0]), ("media_urls", f"{urls[1]},{urls[2]}"), ("media_url", urls[0]),
    ])
    assert response.status == 201
    report = await show(client, (await response.json())[0]["service_request_id"])
    assert report["media_url"] == urls[0]
    assert report["media_urls"] == urls


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"service_code": None}, ["service_code"]),
        ({"service_code": ""}, ["service_code"]),
        ({"service_code": "xyz"}, ["service_code"]),
        ({"lat": "abc", "long": "107.5"}, ["lat"]),
        ({"lat": "nan", "long": "107.5"}, ["lat"]),
        ({"lat": "16.4", "long": "inf"}, ["long"]),
        ({"lat": "91", "long": "107.5"}, ["lat"]),
        ({"lat": "16.4", "long": "-181"}, ["long"]),
        ({"lat": "16.4"}, ["together"]),
        ({}, ["location"]),
        ({"description": "x" * 4001, "address_string": "phường Phú Xuân"}, ["4000"]),
        ({"description": "<script>alert(1)</script>", "address_string": "phường Phú Xuân"}, ["HTML"]),
        ({"description": "<b>rác</b>", "address_string": "phường Phú Xuân"}, ["HTML"]),
        ({"address_string": "phường Phú Xuân", "phone": "call me"}, ["phone"]),
        ({"address_string": "phường Phú Xuân", "media_url": "javascript:alert(1)"}, ["media_url"]),
        ({"address_string": "phường Phú Xuân",
          "media_urls": ",".join(f"https://e.org/{i}.jpg" for i in range(6))}, ["media"]),
        ({"address_string": "số 1 đường Trần Phú, Đà Nẵng"}, ["ward"]),
        (at(DA_NANG), ["ngoài thành phố Huế", "outside Huế"]),
        (at(HANOI), ["outside Huế"]),
    ],
)
async def test_bad_creates_are_400_and_store_nothing(client, fields, words):
    await assert_error(await create(client, **fields), 400, *words)
    assert await (await client.get(f"{API}/requests.json")).json() == []


async def test_a_lone_less_than_sign_is_text_not_html(client):
    code = await create_at_phu_xuan(client, description="Nước ngập <3 ngày, mực nước < 30cm")
    assert (await show(client, code))["description"] == "Nước ngập <3 ngày, mực nước < 30cm"


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
async def test_create_needs_a_valid_api_key(client, key):
    form = {"service_code": "moi_truong", "description": "x", **at(PHU_XUAN)}
    if key is not None:
        form["api_key"] = key
    await assert_error(await client.post(f"{API}/requests.json", data=form), 403, "api_key")
    assert await (await client.get(f"{API}/requests.json")).json() == []


async def test_configured_keys_replace_the_development_key(aiohttp_client, settings):
    from dataclasses import replace

    from backend import create_app

    client = await aiohttp_client(create_app(replace(settings, backend_api_keys=("k1", "k2"))))
    form = {"service_code": "moi_truong", **at(PHU_XUAN)}
    await assert_error(
        await client.post(f"{API}/requests.json", data={**form, "api_key": DEV_API_KEY}), 403
    )
    response = await client.post(f"{API}/requests.json", data={**form, "api_key": "k2"})
    assert response.status == 201


async def test_unreadable_bodies_are_400(client):
    response = await client.post(
        f"{API}/requests.json",
        data=b"api_key=x&service_code=khac&address_string=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    await assert_error(response, 400)
    response = await client.post(
        f"{API}/requests.json", data=b"garbage",
        headers={"Content-Type": "multipart/form-data; boundary=abc"},
    )
    await assert_error(response, 400)
    response = await client.post(
        f"{API}/media.json", data=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=abc"}
    )
    await assert_error(response, 400)


async def test_too_large_form_is_413(client):
    response = await client.post(
        f"{API}/requests.json", data={"api_key": DEV_API_KEY, "description": "x" * (2 * 1024 * 1024)}
    )
    await assert_error(response, 413)


async def test_list_filters_and_order(client):
    first = await create_at_phu_xuan(client, account_id="telegram:1", service_code="giao_thong")
    second = await create_at_phu_xuan(client, account_id="telegram:2", device_id="zalo")
    third = await create_at_phu_xuan(client, account_id="telegram:1")
    await client.post(
        f"{API}/requests/{second}/state.json",
        data={"api_key": DEV_OPERATOR_KEY, "state": "resolved", "note": "Đã thu gom"},
    )

    async def codes(**params):
        response = await client.get(f"{API}/requests.json", params=params)
        assert response.status == 200, await response.text()
        return [r["service_request_id"] for r in await response.json()]

    assert await codes() == [third, second, first]  # newest first
    assert await codes(limit="2") == [third, second]
    assert await codes(service_request_id=f"{first},{third.lower()}") == [third, first]
    assert await codes(service_code="giao_thong") == [first]
    assert await codes(service_code="giao_thong,moi_truong") == [third, second, first]
    assert await codes(status="open") == [third, first]
    assert await codes(status="closed") == [second]
    assert await codes(status="open,closed") == [third, second, first]
    assert await codes(account_id="telegram:1", api_key=DEV_API_KEY) == [third, first]
    assert await codes(device_id="zalo", api_key=DEV_API_KEY) == [second]
    response = await client.get(
        f"{API}/requests.json", params={"account_id": "telegram:2"}, headers={"X-Api-Key": DEV_API_KEY}
    )
    assert [r["service_request_id"] for r in await response.json()] == [second]
    assert await codes(start_date="2000-01-01T00:00:00+07:00") == [third, second, first]
    assert await codes(start_date="2999-01-01T00:00:00Z") == []
    assert await codes(end_date="2000-01-01") == []
    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert await codes(end_date=tomorrow) == [third, second, first]


@pytest.mark.parametrize(
    "params, status",
    [
        ({"status": "pending"}, 400),
        ({"start_date": "yesterday"}, 400),
        ({"limit": "0"}, 400),
        ({"limit": "many"}, 400),
        ({"limit": "²"}, 400),
        ({"limit": "١٠"}, 400),
        ({"start_date": "0001-01-01"}, 400),
        ({"end_date": "9999-12-31T23:00:00-05:00"}, 400),
        ({"service_request_id": "hello"}, 400),
        ({"account_id": "telegram:1"}, 403),
        ({"device_id": "zalo", "api_key": "wrong"}, 403),
    ],
)
async def test_bad_list_filters(client, params, status):
    await assert_error(await client.get(f"{API}/requests.json", params=params), status)


async def test_operator_changes_state_and_status_follows(client):
    code = await create_at_phu_xuan(client)
    before = await show(client, code)
    await asyncio.sleep(1.1)  # updated_datetime has whole seconds

    response = await client.post(
        f"{API}/requests/{code.lower()}/state.json",
        data={"api_key": DEV_OPERATOR_KEY, "state": "in_progress", "note": "Đã cử xe thu gom"},
    )
    assert response.status == 200
    [report] = await response.json()
    assert (report["state"], report["status"], report["status_notes"]) == (
        "in_progress", "open", "Đã cử xe thu gom"
    )
    assert report["updated_datetime"] > before["updated_datetime"]
    assert report["requested_datetime"] == before["requested_datetime"]

    photo = await upload_photo(client, DEV_OPERATOR_KEY)
    response = await client.post(
        f"{API}/requests/{code}/state.json",
        data={"api_key": DEV_OPERATOR_KEY, "state": "resolved", "media_url": photo},
    )
    [report] = await response.json()
    assert (report["state"], report["status"]) == ("resolved", "closed")
    assert "UBND phường Phú Xuân" in report["status_notes"]  # default note names the agency
    assert [u["media_url"] for u in report["updates"]] == [None, photo]
    assert await show(client, code) == report


async def test_state_change_refusals(client):
    code = await create_at_phu_xuan(client)
    url = f"{API}/requests/{code}/state.json"
    await assert_error(await client.post(url, data={"api_key": "x", "state": "resolved"}), 403)
    await assert_error(await client.post(url, data={"api_key": DEV_OPERATOR_KEY, "state": "done"}), 400)
    for note in ("x" * 1001, "<a href='http://x'>bấm vào đây</a>"):
        await assert_error(
            await client.post(url, data={"api_key": DEV_OPERATOR_KEY, "state": "resolved", "note": note}), 400
        )
    await assert_error(
        await client.post(
            f"{API}/requests/PA999999/state.json", data={"api_key": DEV_OPERATOR_KEY, "state": "resolved"}
        ),
        404,
    )
    assert (await show(client, code))["state"] == "received"


async def test_wrong_method_is_an_open311_405(client):
    await assert_error(await client.delete(f"{API}/requests.json"), 405)


async def test_twenty_concurrent_creates_get_twenty_codes(client):
    codes = await asyncio.gather(*(create_at_phu_xuan(client) for _ in range(20)))
    assert len(set(codes)) == 20
    listed = await (await client.get(f"{API}/requests.json")).json()
    assert {r["service_request_id"] for r in listed} == set(codes)


async def test_codes_are_never_reused(client, settings):
    from sqlalchemy import delete

    from backend import db
    from backend.schema import Report

    first = await create_at_phu_xuan(client)
    engine = db.create_engine(settings.effective_database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(delete(Report))
    finally:
        await engine.dispose()
    assert await create_at_phu_xuan(client) > first


def test_access_log_leaves_out_the_query_string(caplog):
    import logging

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from backend.app import AccessLogger

    request = make_mocked_request("GET", f"{API}/requests.json?account_id=a&api_key=s3cret")
    with caplog.at_level(logging.INFO):
        AccessLogger(logging.getLogger("access-test"), "").log(request, web.Response(), 0.002)
    assert f"GET {API}/requests.json 200" in caplog.text
    assert "s3cret" not in caplog.text


async def test_a_newline_in_the_url_cannot_forge_a_log_line(client, caplog):
    import logging

    with caplog.at_level(logging.INFO):
        response = await client.get(f"{API}/requests/PA1%0a2026-12-03 INFO backend.api: created PA000999.json")
    assert response.status == 404
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert refused and all("\n" not in line for line in refused)
    assert "%0a" in refused[0].lower()
