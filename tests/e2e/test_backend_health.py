"""The routing backend's health URL, which `make run` waits on and a load balancer can watch: it
answers 200 only while the backend's database answers (here the real PostgreSQL, then gone)."""
from __future__ import annotations

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from backend import create_app
from bot.settings import Settings
from tests.support import services

pytestmark = pytest.mark.postgres


def drop(url: str) -> None:
    """Drops the database at `url`, closing the connections it has."""
    admin = psycopg2.connect(services.postgres_admin_url())
    admin.autocommit = True  # DROP DATABASE refuses to run in a transaction
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')
    finally:
        admin.close()


async def test_the_backend_is_healthy_only_while_its_database_answers(aiohttp_client, tmp_path):
    with services.scratch_databases("health") as urls:
        client = await aiohttp_client(create_app(Settings(data_dir=tmp_path, database_url=urls["health"])))
        healthy = await client.get("/health")
        assert healthy.status == 200, await healthy.text()

        drop(urls["health"])
        gone = await client.get("/health")
        assert gone.status == 503
        assert "database" in (await gone.json())["status"]
