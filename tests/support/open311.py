"""Filing reports on the routing backend from a test (an aiohttp test client of the backend)."""
from __future__ import annotations

from bot.settings import DEV_API_KEY
from tests.support.places import PHU_XUAN

API = "/open311/v2"


async def create(client, **fields):
    """POST requests.json with the development key: a rubbish report unless `fields` say
    otherwise; a field given as None is left out. The response."""
    form = {"api_key": DEV_API_KEY, "service_code": "moi_truong", "description": "Rác ùn ứ", **fields}
    return await client.post(
        f"{API}/requests.json", data={k: v for k, v in form.items() if v is not None}
    )


async def create_at_phu_xuan(client, **fields) -> str:
    """A report pinned in Phường Phú Xuân; its code."""
    response = await create(client, lat=str(PHU_XUAN[0]), long=str(PHU_XUAN[1]), **fields)
    assert response.status == 201, await response.text()
    return (await response.json())[0]["service_request_id"]


async def show(client, code: str) -> dict:
    """The report `code` as requests/{code}.json gives it."""
    response = await client.get(f"{API}/requests/{code}.json")
    assert response.status == 200, await response.text()
    [report] = await response.json()
    return report
