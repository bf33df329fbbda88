"""Production settings against the real local servers: Rasa's tracker store and the backend's
report store on PostgreSQL, Rasa's lock store on Redis. A citizen's half-told report survives a
restart of the whole assistant, and every piece of it lands where production keeps it."""
from __future__ import annotations

import getpass
import os
import uuid
from typing import Iterator

import psycopg2
import pytest
import redis
from citizen import Citizen, text
from stack import running_stack

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = "redis://127.0.0.1:6379/0"
THUAN_HOA = (16.4637, 107.5909)


def _admin_connection():
    errors = []
    for user in (getpass.getuser(), "postgres"):
        try:
            connection = psycopg2.connect(host="127.0.0.1", port=5432, user=user, dbname="postgres")
            connection.autocommit = True
            return connection, user
        except psycopg2.OperationalError as exc:
            errors.append(str(exc))
    unreachable = f"PostgreSQL at 127.0.0.1:5432 is unreachable: {errors}"
    if os.environ.get("CI") == "true":
        pytest.fail(unreachable)
    pytest.skip(unreachable)


@pytest.fixture
def databases() -> Iterator[dict]:
    """Two scratch databases (trackers, reports), dropped afterwards."""
    admin, user = _admin_connection()
    names = {kind: f"hue_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("trackers", "reports")}
    with admin.cursor() as cursor:
        for name in names.values():
            cursor.execute(f'CREATE DATABASE "{name}"')
    yield {kind: f"postgresql://{user}@127.0.0.1:5432/{name}" for kind, name in names.items()}
    with admin.cursor() as cursor:
        for name in names.values():
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def redis_server() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    return client


def lock_commands(client: redis.Redis) -> int:
    """How many writes Redis has served: the lock store sets and deletes a key per message."""
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("set", "del", "setex"))


def scalar(url: str, query: str, *params):
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


def test_a_report_survives_a_restart_and_lands_in_postgresql(tmp_path, databases, redis_server):
    env = {"TRACKER_STORE_URL": databases["trackers"], "LOCK_STORE_URL": REDIS_URL,
           "DATABASE_URL": databases["reports"]}
    writes_before = lock_commands(redis_server)

    with running_stack(tmp_path / "first", env=env) as stack:
        citizen = Citizen(stack, "prod")
        assert "Chiếu sáng công cộng" in text(citizen.say("đèn đường kiệt 45 Nguyễn Huệ hỏng cả tuần nay"))
        citizen.say("/affirm")

    # The conversation is in PostgreSQL, not in the stopped process's memory.
    assert scalar(databases["trackers"], "SELECT count(*) FROM events WHERE sender_id = %s",
                  citizen.sender) > 0
    assert lock_commands(redis_server) > writes_before

    with running_stack(tmp_path / "second", env=env) as stack:
        citizen.stack = stack
        # The restarted assistant remembers the report in progress: the pin answers its question.
        replies = citizen.pin(THUAN_HOA)
        assert "ảnh" in text(replies).lower(), replies
        citizen.say("/deny")
        replies = citizen.say("/affirm")
        reply = text(replies)
        assert "PA" in reply, replies
        code = reply.split("Mã phản ánh của bạn: ")[1][:8]

    assert scalar(databases["reports"], "SELECT count(*) FROM reports") == 1, code
