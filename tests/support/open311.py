"""The routing backend in a test: served on a port of its own (`RoutingBackend`, the
`routing_backend` fixture of tests/conftest.py), or reports filed on it through an aiohttp test
client (`create`, `create_at_phu_xuan`, `show`), with photos (`upload_photo`) and moved through
their states (`post_state`)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import aiohttp
from aiohttp import web

from backend import create_app
from bot.settings import DEV_API_KEY, DEV_OPERATOR_KEY, Settings
from tests.support.images import jpeg
from tests.support.places import PHU_XUAN
from tests.support.servers import free_port, serve

API = "/open311/v2"


class RoutingBackend:
    """The project's routing backend on SQLite under `data_dir`, on a port chosen now and served
    from `start()` on: the assistant can be pointed at it while nothing listens yet."""

    def __init__(self, data_dir: Path) -> None:
        port = free_port()
        self.settings = Settings(data_dir=data_dir, backend_port=port)
        self.url = self.settings.effective_backend_url  # the Open311 base the assistant uses
        self._runner: Optional[web.AppRunner] = None

    async def start(self) -> Settings:
        """Serves the backend; Settings that point the assistant at it."""
        self._runner, _ = await serve(create_app(self.settings), self.settings.backend_port)
        return self.settings

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


def at(lat_lon: Tuple[float, float]) -> Dict[str, str]:
    """The form fields of a position (tests.support.places)."""
    return {"lat": str(lat_lon[0]), "long": str(lat_lon[1])}


async def create(client, **fields):
    """POST requests.json with the development key: a rubbish report unless `fields` say
    otherwise; a field given as None is left out. The response."""
    form = {"api_key": DEV_API_KEY, "service_code": "moi_truong", "description": "Rác ùn ứ", **fields}
    return await client.post(
        f"{API}/requests.json", data={k: v for k, v in form.items() if v is not None}
    )


async def create_at_phu_xuan(client, **fields) -> str:
    """A report pinned in Phường Phú Xuân; its code."""
    response = await create(client, **at(PHU_XUAN), **fields)
    assert response.status == 201, await response.text()
    return (await response.json())[0]["service_request_id"]


async def show(client, code: str) -> dict:
    """The report `code` as requests/{code}.json gives it."""
    response = await client.get(f"{API}/requests/{code}.json")
    assert response.status == 200, await response.text()
    [report] = await response.json()
    return report


async def upload_photo(client, api_key: str = DEV_API_KEY) -> str:
    """A small JPEG stored with media.json; its URL."""
    form = aiohttp.FormData()
    form.add_field("api_key", api_key)
    form.add_field("file", jpeg(), filename="photo.jpg", content_type="image/jpeg")
    response = await client.post(f"{API}/media.json", data=form)
    assert response.status == 201, await response.text()
    return (await response.json())["media_url"]


async def post_state(client, code: str, state: str, api_key: str = DEV_OPERATOR_KEY, **fields):
    """POST requests/{code}/state.json (`note`, `media_url`, `agency` as `fields`); the response."""
    form = {"api_key": api_key, "state": state, **fields}
    return await client.post(f"{API}/requests/{code}/state.json", data=form)
