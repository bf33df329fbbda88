"""The servers some tests need: PostgreSQL, Redis, headless Chromium.

A test marked `postgres`, `redis` or `browser` (markers in pyproject.toml) runs only where the
server is there: without it, it is skipped on a developer's machine and fails under CI=true, where
every test must run. tests/conftest.py applies this to every marked test; a fixture that needs a
server on its own calls `require`.
"""
from __future__ import annotations

import functools
import getpass
import os
from contextlib import contextmanager
from typing import Dict, Iterator, List, NoReturn, Optional

import psycopg2
import pytest
import redis

from tools import databases

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def unavailable(reason: str) -> NoReturn:
    """Skips the test on a developer's machine; fails it in CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require(marker: str) -> None:
    """Makes sure the server behind `marker` (postgres, redis, browser) is there."""
    reason = _missing(marker)
    if reason:
        unavailable(reason)


@functools.lru_cache(maxsize=None)
def _missing(marker: str) -> Optional[str]:
    if marker == "postgres":
        return None if postgres_admin_url() else f"PostgreSQL unreachable at {', '.join(_admin_urls())}"
    if marker == "redis":
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5).ping()
        except redis.RedisError as exc:
            return f"Redis unreachable at {REDIS_URL}: {exc}"
        return None
    if marker == "browser":
        absent = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
        if absent:
            return f"headless Chromium is not installed ({', '.join(absent)}): run `make browser-deps`"
        return None
    raise ValueError(f"no server behind the marker {marker!r}")


def _admin_urls() -> List[str]:
    if os.environ.get("TEST_POSTGRES_URL"):
        return [os.environ["TEST_POSTGRES_URL"]]
    return [f"postgresql://{user}@127.0.0.1:5432/postgres" for user in (getpass.getuser(), "postgres")]


@functools.lru_cache(maxsize=None)
def postgres_admin_url() -> Optional[str]:
    """The first of TEST_POSTGRES_URL, the current user or `postgres` on 127.0.0.1:5432 that
    connects; None when none does."""
    for url in _admin_urls():
        try:
            psycopg2.connect(url, connect_timeout=5).close()
        except psycopg2.OperationalError:
            continue
        return url
    return None


@contextmanager
def scratch_databases(*kinds: str) -> Iterator[Dict[str, str]]:
    """A new empty database per kind ({kind: URL}), dropped afterwards."""
    require("postgres")
    with databases.scratch_databases(postgres_admin_url(), kinds, "hue_test_") as urls:
        yield urls


def empty_database(url: str) -> None:
    """Drops every table of the database at `url` (the next test migrates from nothing)."""
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        connection.close()
