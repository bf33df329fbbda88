"""Production settings against the real local servers: Rasa's tracker store, the backend's
report store and the assistant's own (who follows which report) on PostgreSQL, Rasa's lock store on
Redis. A citizen's half-told report survives a restart of the whole assistant, and every piece of
it lands where production keeps it."""
from __future__ import annotations

from typing import Dict, Iterator

import psycopg2
import pytest
import redis

from tests.support import services
from tests.support.conversation import COMPLAINT, REPORT_CODE, Citizen, text
from tests.support.places import THUAN_HOA
from tests.support.stack import running_stack

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def databases() -> Iterator[Dict[str, str]]:
    """Scratch databases (trackers, reports, the assistant's store), dropped afterwards."""
    with services.scratch_databases("trackers", "reports", "assistant") as urls:
        yield urls


@pytest.fixture
def redis_server() -> redis.Redis:
    return redis.Redis.from_url(services.REDIS_URL)


def lock_commands(client: redis.Redis) -> int:
    """How many writes Redis has served: the lock store sets and deletes a key per message."""
    stats = client.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("set", "del", "setex"))


def scalar(url: str, query: str, *params):
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


def test_a_report_survives_a_restart_and_lands_in_postgresql(tmp_path, databases, redis_server):
    env = {"TRACKER_STORE_URL": databases["trackers"], "LOCK_STORE_URL": services.REDIS_URL,
           "DATABASE_URL": databases["reports"], "ASSISTANT_STORE_URL": databases["assistant"]}
    writes_before = lock_commands(redis_server)

    with running_stack(tmp_path / "first", env=env) as stack:
        citizen = Citizen(stack, "prod")
        assert "Chiếu sáng công cộng" in text(citizen.say(COMPLAINT))
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
        code = REPORT_CODE.search(text(replies))
        assert code, replies

    # The citizen's report is in the PostgreSQL database the backend was given.
    assert scalar(databases["reports"], "SELECT count(*) FROM reports WHERE account_id = %s",
                  citizen.sender) == 1, code.group(0)
    # The notifier of any host will find whom to tell: the filing is in the shared store, not on disk.
    assert scalar(databases["assistant"], "SELECT sender_id FROM followed WHERE code = %s",
                  code.group(0)) == citizen.sender
    assert not (tmp_path / "second" / "followed.sqlite3").exists()
