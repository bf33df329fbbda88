"""What the channels keep between messages, the same on both stores: the SQLite file under
DATA_DIR (a single Rasa server) and Redis (LOCK_STORE_URL, several replicas)."""
from __future__ import annotations

import asyncio
import stat
import uuid
from typing import List

from bot.settings import Settings
from channels.state import FILENAME, ChannelState, RedisState, SqliteState, hold, open_state
from tests.support.services import REDIS_URL


def key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_add_sets_a_key_once_until_it_expires(state):
    name = key()
    assert await state.add(name, ttl_s=0.3)
    assert not await state.add(name, ttl_s=0.3)
    await asyncio.sleep(0.5)
    assert await state.add(name, ttl_s=60)


async def test_values_expire_or_stay_and_can_be_deleted(state):
    short, kept = key(), key()
    await state.set(short, "ngắn", ttl_s=0.3)
    await state.set(kept, "còn", ttl_s=None)
    assert await state.get(short) == "ngắn"
    await asyncio.sleep(0.5)
    assert await state.get(short) is None
    assert await state.get(kept) == "còn"
    await state.delete(kept)
    assert await state.get(kept) is None


async def test_a_list_keeps_its_newest_items_and_is_taken_once(state):
    inbox = key()
    for i in range(5):
        await state.push(inbox, f"tin {i}", ttl_s=60, limit=3)
    assert await state.take(inbox) == ["tin 2", "tin 3", "tin 4"]
    assert await state.take(inbox) == []


def other_replica(state: ChannelState) -> ChannelState:
    """Another Rasa server's connection to the same store."""
    return SqliteState(state.path) if isinstance(state, SqliteState) else RedisState(REDIS_URL)


async def test_a_lock_is_held_by_one_replica_at_a_time(state):
    name, other = key(), other_replica(state)
    inside: List[str] = []

    async def critical(store: ChannelState, who: str) -> None:
        async with hold(store, name, lease_s=10):
            inside.append(f"{who} in")
            await asyncio.sleep(0.2)
            inside.append(f"{who} out")

    await asyncio.gather(critical(state, "a"), critical(other, "b"), critical(state, "c"))
    await other.close()
    # Each one's way in is followed by its own way out: nobody else was inside meanwhile.
    assert sorted(zip(inside[::2], inside[1::2], strict=True)) == [("a in", "a out"), ("b in", "b out"),
                                                                   ("c in", "c out")]


async def test_a_lock_whose_holder_died_is_free_when_its_lease_runs_out_and_stays_with_the_next(state):
    name, other = key(), other_replica(state)
    assert await state.add(name, ttl_s=0.5, value="dead replica")  # it never releases
    async with hold(other, name, lease_s=10):
        # The dead replica's late release does not free the lock of the one holding it now.
        assert not await state.delete_if(name, "dead replica")
        assert not await state.add(name, ttl_s=10)
    assert await state.add(name, ttl_s=10)  # released on leaving
    await other.close()


async def test_the_sqlite_file_survives_a_restart_and_only_its_owner_reads_it(data_dir):
    first = SqliteState(data_dir / FILENAME)
    await first.add("zalo:msg:m1", ttl_s=60)
    await first.close()
    again = SqliteState(data_dir / FILENAME)
    assert not await again.add("zalo:msg:m1", ttl_s=60)
    await again.close()
    assert stat.S_IMODE((data_dir / FILENAME).stat().st_mode) == 0o600


def test_redis_is_used_when_the_production_lock_store_is_configured(tmp_path):
    assert isinstance(open_state(Settings(data_dir=tmp_path)), SqliteState)
    assert isinstance(open_state(Settings(data_dir=tmp_path, lock_store_url=REDIS_URL)), RedisState)
