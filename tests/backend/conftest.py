"""Fixtures of the routing backend's tests: the app on SQLite and on the local PostgreSQL.

The PostgreSQL tests share one scratch database, emptied after each test and dropped at the end
(tests/support/services.py: skipped without a server on a developer's machine, failed in CI).
"""
from __future__ import annotations

from typing import Iterator

import pytest

from backend import create_app
from bot.settings import Settings
from tests.support import services


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One scratch database for the session; creating one per test costs a second each."""
    with services.scratch_databases("backend") as urls:
        yield urls["backend"]


@pytest.fixture
def postgres_url(postgres_database) -> Iterator[str]:
    """The scratch database, emptied after each test (so the next one migrates from nothing)."""
    yield postgres_database
    services.empty_database(postgres_database)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request, tmp_path) -> Settings:
    # SQLite: the default file under a data folder that does not exist yet.
    database_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))
