"""Fixtures of the routing backend's tests: the app on SQLite and on the local PostgreSQL.

Every PostgreSQL test gets a database of its own, dropped afterwards. Without a reachable server
those tests are skipped on a developer's machine but fail in CI (CI=true), where it must be there.
"""
from __future__ import annotations

import getpass
import os
import uuid
from typing import AsyncIterator, Optional, Tuple

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.backend import create_app
from bot.settings import Settings


def _admin_urls():
    if os.environ.get("TEST_POSTGRES_URL"):
        return [os.environ["TEST_POSTGRES_URL"]]
    return [f"postgresql://{user}@127.0.0.1:5432/postgres" for user in (getpass.getuser(), "postgres")]


async def _admin_connection() -> Tuple[Optional[asyncpg.Connection], str]:
    for url in _admin_urls():
        try:
            return await asyncpg.connect(url, timeout=5), url
        except (OSError, asyncpg.PostgresError):
            continue
    return None, ""


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    admin, admin_url = await _admin_connection()
    if admin is None:
        message = f"PostgreSQL unreachable at {', '.join(_admin_urls())}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"hue_backend_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(make_url(admin_url).set(database=name))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request, tmp_path) -> Settings:
    # SQLite: the default file under a data folder that does not exist yet.
    database_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))
