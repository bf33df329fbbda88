"""`idempotency_key` on POST requests.json (extension): a repeat answers the stored report and
stores nothing new, also when the repeats race; on SQLite and on PostgreSQL."""
import asyncio

from tests.support.open311 import API, at, create
from tests.support.places import PHU_XUAN

KEY = "telegram:42|1764748800.123456"


async def listed(client) -> list:
    return await (await client.get(f"{API}/requests.json")).json()


async def test_a_repeat_with_the_same_key_answers_the_stored_report(client):
    first = await create(client, **at(PHU_XUAN), idempotency_key=KEY)
    assert first.status == 201
    [created] = await first.json()

    again = await create(client, **at(PHU_XUAN), idempotency_key=KEY)
    assert again.status == 200  # nothing new was created
    assert await again.json() == [created]
    assert [r["service_request_id"] for r in await listed(client)] == [created["service_request_id"]]


async def test_another_key_or_no_key_files_another_report(client):
    codes = set()
    for key in (KEY, KEY + "-2", None, None):
        response = await create(client, **at(PHU_XUAN), idempotency_key=key)
        assert response.status == 201
        codes.add((await response.json())[0]["service_request_id"])
    assert len(codes) == 4 and len(await listed(client)) == 4


async def test_identical_requests_racing_store_one_report(client):
    responses = await asyncio.gather(*(create(client, **at(PHU_XUAN), idempotency_key=KEY) for _ in range(10)))
    assert sorted(r.status for r in responses) == [200] * 9 + [201]
    codes = {(await r.json())[0]["service_request_id"] for r in responses}
    assert len(codes) == 1
    assert [r["service_request_id"] for r in await listed(client)] == list(codes)


async def test_a_key_longer_than_64_characters_is_a_400_and_stores_nothing(client):
    response = await create(client, **at(PHU_XUAN), idempotency_key="k" * 65)
    assert response.status == 400
    [error] = await response.json()
    assert error["code"] == 400 and "idempotency_key" in error["description"] and "64" in error["description"]
    assert await listed(client) == []
    assert (await create(client, **at(PHU_XUAN), idempotency_key="k" * 64)).status == 201
