"""The console as its users meet it: accounts made as the CLI makes them, and a signed-in person
who reads pages and posts their forms with the CSRF token the pages carry."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Optional

import aiohttp
from aiohttp import web

from backend.appkeys import SESSIONS
from backend.console.accounts import add_account

PASSWORD = "mật khẩu đủ dài 123"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def account(app: web.Application, login: str, role: str = "operator", agency_id: Optional[str] = None) -> None:
    """An account with PASSWORD in the running backend `app`."""
    async with app[SESSIONS]() as session, session.begin():
        await add_account(session, login, PASSWORD, role, agency_id, datetime(2026, 1, 1))


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class ConsoleUser:
    """One browser's cookie jar on the console (the aiohttp test client's)."""

    def __init__(self, client) -> None:
        self.client = client
        self.csrf = ""

    async def page(self, path: str, status: int = 200) -> str:
        response = await self.client.get(path)
        text = await response.text()
        assert response.status == status, (response.status, text[:500])
        if 'name="csrf_token"' in text:
            self.csrf = csrf_of(text)
        return text

    async def sign_in(self, login: str, password: str = PASSWORD, status: int = 302) -> aiohttp.ClientResponse:
        await self.page("/console/login")
        response = await self.post("/console/login", {"login": login, "password": password})
        assert response.status == status, (response.status, (await response.text())[:500])
        return response

    async def post(self, path: str, fields: dict, *, csrf: bool = True) -> aiohttp.ClientResponse:
        """POSTs `fields` as the page's form would (with the CSRF token unless `csrf` is false);
        redirects are not followed, so that tests see them."""
        form = aiohttp.FormData()
        if csrf:
            form.add_field("csrf_token", self.csrf)
        for name, value in fields.items():
            if isinstance(value, bytes):
                form.add_field(name, value, filename="after.jpg", content_type="image/jpeg")
            else:
                form.add_field(name, value)
        return await self.client.post(path, data=form, allow_redirects=False)
