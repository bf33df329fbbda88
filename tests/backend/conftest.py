"""Fixtures of the routing backend's tests: the app on SQLite and on the local PostgreSQL.

The PostgreSQL tests share one scratch database, emptied after each test and dropped at the end.
Without a reachable server (TEST_POSTGRES_URL, else the current user or `postgres` on
127.0.0.1:5432) they are skipped on a developer's machine but fail in CI (CI=true).
"""
from __future__ import annotations

import getpass
import os
import uuid
from typing import Iterator, List

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from backend import create_app
from bot.settings import Settings


def _admin_urls() -> List[str]:
    if os.environ.get("TEST_POSTGRES_URL"):
        return [os.environ["TEST_POSTGRES_URL"]]
    return [f"postgresql://{user}@127.0.0.1:5432/postgres" for user in (getpass.getuser(), "postgres")]


def _admin_connection():
    for url in _admin_urls():
        try:
            connection = psycopg2.connect(url, connect_timeout=5)
        except psycopg2.OperationalError:
            continue
        connection.autocommit = True  # CREATE/DROP DATABASE refuse to run in a transaction
        return connection, url
    return None, ""


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One scratch database for the session; creating one per test costs a second each."""
    admin, admin_url = _admin_connection()
    if admin is None:
        message = f"PostgreSQL unreachable at {', '.join(_admin_urls())}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"hue_backend_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(make_url(admin_url).set(database=name))
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_url(postgres_database) -> Iterator[str]:
    """The scratch database, emptied after each test (so the next one migrates from nothing)."""
    yield postgres_database
    connection = psycopg2.connect(postgres_database)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request, tmp_path) -> Settings:
    # SQLite: the default file under a data folder that does not exist yet.
    database_url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
async def client(aiohttp_client, settings):
    return await aiohttp_client(create_app(settings))
