"""Nearby reports and following one (the duplicate offer's extensions of the Open311 API):
`GET requests.json?lat=&long=&radius=&service_code=&status=open` and
`POST requests/{id}/follow.json`. On SQLite and on PostgreSQL (the `settings` fixture)."""
import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from backend.appkeys import SESSIONS
from backend.schema import Report
from bot.report_codes import report_number
from bot.settings import DEV_API_KEY, DEV_OPERATOR_KEY
from tests.support.open311 import API, create, post_state, show
from tests.support.places import PHU_XUAN

# About 111 m of latitude per 0.001 degree.
NORTH_100M = (PHU_XUAN[0] + 0.0009, PHU_XUAN[1])
NORTH_400M = (PHU_XUAN[0] + 0.0036, PHU_XUAN[1])


async def filed(client, where=PHU_XUAN, service_code="moi_truong", **fields) -> str:
    response = await create(client, lat=str(where[0]), long=str(where[1]), service_code=service_code, **fields)
    assert response.status == 201, await response.text()
    return (await response.json())[0]["service_request_id"]


async def nearby(client, where=PHU_XUAN, **params):
    query = {"lat": str(where[0]), "long": str(where[1]), "status": "open", **params}
    response = await client.get(f"{API}/requests.json", params=query)
    assert response.status == 200, await response.text()
    return [report["service_request_id"] for report in await response.json()]


async def test_nearby_open_reports_of_the_category_nearest_first(client):
    far = await filed(client, NORTH_400M)
    near = await filed(client, NORTH_100M)
    here = await filed(client, PHU_XUAN)
    other_category = await filed(client, PHU_XUAN, service_code="chieu_sang")
    closed = await filed(client, PHU_XUAN)
    response = await post_state(client, closed, "rejected", DEV_OPERATOR_KEY, note="Trùng lặp")
    assert response.status == 200

    # 250 m by default (FixMyStreet's distance), nearest first, closed and other categories left out.
    assert await nearby(client, service_code="moi_truong") == [here, near]
    assert await nearby(client, service_code="moi_truong", radius="500") == [here, near, far]
    assert await nearby(client, service_code="moi_truong", radius="50") == [here]
    assert await nearby(client, service_code="chieu_sang") == [other_category]
    assert await nearby(client, service_code="moi_truong", radius="500", limit="2") == [here, near]


async def test_a_category_may_look_further(client):
    # Flooding is seen from a block away: cap_thoat_nuoc's nearby_radius_m is 500 m.
    flooded = await filed(client, NORTH_400M, service_code="cap_thoat_nuoc")
    assert await nearby(client, service_code="cap_thoat_nuoc") == [flooded]


async def test_old_reports_are_not_offered(client, aiohttp_client):
    old = await filed(client)
    recent = await filed(client)
    async with client.app[SESSIONS]() as session, session.begin():
        stored = await session.get(Report, report_number(old))
        await session.execute(update(Report).where(Report.id == report_number(old))
                              .values(requested_at=stored.requested_at - timedelta(weeks=5)))
    assert await nearby(client, service_code="moi_truong") == [recent]
    # Unless the caller asks for an older window.
    since = (stored.requested_at - timedelta(weeks=6)).isoformat() + "Z"
    assert set(await nearby(client, service_code="moi_truong", start_date=since)) == {old, recent}


async def test_nearby_reports_carry_nothing_personal(client):
    await filed(client, phone="0905123456", account_id="telegram:1", device_id="device-1")
    response = await client.get(f"{API}/requests.json", params={"lat": str(PHU_XUAN[0]), "long": str(PHU_XUAN[1])})
    [report] = await response.json()
    text = str(report)
    assert "0905123456" not in text and "telegram:1" not in text and "device-1" not in text
    assert report["followers"] == 0


@pytest.mark.parametrize("params", [
    {"lat": "16.47"},  # no longitude
    {"long": "107.57"},
    {"radius": "100"},  # a radius around nothing
    {"lat": "abc", "long": "107.57"},
    {"lat": "91", "long": "107.57"},
    {"lat": "16.47", "long": "181"},
    {"lat": "16.47", "long": "107.57", "radius": "0"},
    {"lat": "16.47", "long": "107.57", "radius": "-5"},
    {"lat": "16.47", "long": "107.57", "radius": "nan"},
    {"lat": "16.47", "long": "107.57", "radius": "vài bước"},
])
async def test_bad_position_or_radius_is_a_400(client, params):
    response = await client.get(f"{API}/requests.json", params=params)
    assert response.status == 400
    [error] = await response.json()
    assert error["code"] == 400 and error["description"]


async def test_a_huge_radius_is_capped(client):
    # 3 km away: beyond the 2 km cap, whatever radius is asked for.
    distant = await filed(client, (PHU_XUAN[0] + 0.027, PHU_XUAN[1]))
    assert await nearby(client, service_code="moi_truong", radius="1000000") == []
    assert await nearby(client, (PHU_XUAN[0] + 0.027, PHU_XUAN[1]), service_code="moi_truong") == [distant]


async def follow(client, code, account_id="zalo:7", api_key=DEV_API_KEY):
    return await client.post(f"{API}/requests/{code}/follow.json", data={"api_key": api_key, "account_id": account_id})


async def test_following_is_counted_once_per_account(client):
    code = await filed(client, account_id="telegram:1")
    first = await follow(client, code)
    assert first.status == 200, await first.text()
    assert (await first.json())[0]["followers"] == 1
    again = await follow(client, code)
    assert (await again.json())[0]["followers"] == 1
    await follow(client, code, account_id="web:abc")
    shown = await show(client, code)
    assert shown["followers"] == 2
    assert "zalo:7" not in str(shown) and "web:abc" not in str(shown)
    [listed] = await nearby(client, service_code="moi_truong")
    assert listed == code


async def test_follow_needs_the_assistants_key_an_account_and_a_report(client):
    code = await filed(client)
    assert (await follow(client, code, api_key="wrong")).status == 403
    assert (await follow(client, code, account_id="")).status == 400
    assert (await follow(client, "PA999999")).status == 404
    assert (await show(client, code))["followers"] == 0


async def test_follows_sent_at_once_count_once(client):
    code = await filed(client)
    answers = await asyncio.gather(*(follow(client, code) for _ in range(5)))
    assert {answer.status for answer in answers} == {200}
    assert (await show(client, code))["followers"] == 1
