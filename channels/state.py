"""What the channels keep between messages: ids already handled, the buttons last shown to each
citizen, Zalo's refreshed tokens, web chat messages waiting for their page, how much each sender
sent lately (`spend`: the channels' limits); and locks that hold across replicas (`hold`: one Zalo
token refresh at a time).

Everything expires (or, for tokens, is replaced), so nothing grows without end. By default it is a
SQLite file under DATA_DIR (`channels.sqlite3`, readable by the service only), which survives a
restart of the one Rasa server; with LOCK_STORE_URL set, the production setup where several Rasa
servers share Redis, it lives in that Redis, so that a button shown by one replica is understood
by another and an event redelivered to another replica is still handled once.

    state = open_state(settings)
    if await state.add("zalo:app:msg:m1", ttl_s=3600):   # False: someone had it already
        ...
    async with hold(state, "zalo:app:refreshing", lease_s=30):   # one replica at a time
        ...
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from abc import ABC, abstractmethod
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, List, Optional

import redis.asyncio as aioredis

from bot.local_store import connect
from bot.settings import Settings

FILENAME = "channels.sqlite3"
REDIS_PREFIX = "hue:channels:"
_SCHEMA = "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL)"
# Expired rows are skipped when read and deleted every this many writes.
_PURGE_EVERY = 500
# How often a replica waiting for a lock held elsewhere looks again.
_LOCK_POLL_S = 0.05
# A full bucket is `capacity` shares of `period_s / capacity`, whose sum may round past `period_s`.
_ROUNDING_S = 1e-6


class ChannelState(ABC):
    """Keys with an expiry (None: kept until replaced), and short lists of waiting messages."""

    @abstractmethod
    async def add(self, key: str, ttl_s: float, value: str = "1") -> bool:
        """Sets `key` unless it is there already; True when this call set it (dedup)."""

    @abstractmethod
    async def get(self, key: str) -> Optional[str]:
        ...

    @abstractmethod
    async def set(self, key: str, value: str, ttl_s: Optional[float]) -> None:
        ...

    @abstractmethod
    async def delete(self, key: str) -> None:
        ...

    @abstractmethod
    async def delete_if(self, key: str, value: str) -> bool:
        """Deletes `key` if it holds `value` (in one step: nobody's write comes between)."""

    @abstractmethod
    async def spend(self, key: str, amount: int, capacity: int, period_s: float) -> bool:
        """The leaky bucket at `key`, of `capacity` that drains in `period_s`: True and `amount`
        added if it fits, else False and nothing added. Kept as the moment the bucket is empty
        again (a bucket left alone that long is forgotten)."""

    @abstractmethod
    async def push(self, key: str, value: str, ttl_s: float, limit: int) -> None:
        """Appends to the list at `key`, keeping its newest `limit` items; the list expires
        `ttl_s` after its last push."""

    @abstractmethod
    async def take(self, key: str) -> List[str]:
        """The list at `key`, oldest first, removed: each item is taken once."""

    @abstractmethod
    async def close(self) -> None:
        """Releases connections (server stop, tests)."""


@asynccontextmanager
async def hold(state: ChannelState, key: str, lease_s: float) -> AsyncIterator[None]:
    """Holds the lock `key` for every replica sharing `state`, waiting while another holds it. A
    holder that died gives it up when `lease_s` runs out, so the wait ends by then; a holder that
    outlived its lease does not release the next one's hold."""
    token = uuid.uuid4().hex
    while not await state.add(key, lease_s, token):
        await asyncio.sleep(_LOCK_POLL_S)
    try:
        yield
    finally:
        await state.delete_if(key, token)


def open_state(settings: Settings) -> ChannelState:
    if settings.lock_store_url:
        return RedisState(settings.lock_store_url)
    return SqliteState(settings.data_dir / FILENAME)


class SqliteState(ChannelState):
    """One Rasa server's state in a local file. Calls run in the event loop: each is a lookup or
    write of one small row in WAL mode without fsync, well under a millisecond."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection: Optional[sqlite3.Connection] = None
        self._writes = 0

    @property
    def _db(self) -> sqlite3.Connection:
        # Opened on first use, in the thread of the server's event loop (sqlite3 connections
        # belong to the thread that opened them).
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch(mode=0o600)  # Zalo's tokens; SQLite gives its -wal/-shm files the same mode
            db = connect(FILENAME, _SCHEMA, self.path)
            db.isolation_level = None  # autocommit; multi-statement changes use BEGIN IMMEDIATE
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._connection = db
        return self._connection

    async def add(self, key: str, ttl_s: float, value: str = "1") -> bool:
        now = time.time()
        cursor = self._write(
            "INSERT INTO state VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
            " expires = excluded.expires WHERE state.expires IS NOT NULL AND state.expires <= ?",
            (key, value, now + ttl_s, now),
        )
        return cursor.rowcount == 1

    async def get(self, key: str) -> Optional[str]:
        return self._get(key)

    async def set(self, key: str, value: str, ttl_s: Optional[float]) -> None:
        expires = None if ttl_s is None else time.time() + ttl_s
        self._write("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", (key, value, expires))

    async def delete(self, key: str) -> None:
        self._write("DELETE FROM state WHERE key = ?", (key,))

    async def delete_if(self, key: str, value: str) -> bool:
        return self._write("DELETE FROM state WHERE key = ? AND value = ?", (key, value)).rowcount == 1

    async def spend(self, key: str, amount: int, capacity: int, period_s: float) -> bool:
        now = time.time()
        with self._transaction():
            empty_at = max(float(self._get(key) or 0), now) + amount * period_s / capacity
            if empty_at - now > period_s + _ROUNDING_S:
                return False
            self._write("INSERT OR REPLACE INTO state VALUES (?, ?, ?)", (key, repr(empty_at), empty_at))
        return True

    async def push(self, key: str, value: str, ttl_s: float, limit: int) -> None:
        with self._transaction():
            items = json.loads(self._get(key) or "[]")
            items = (items + [value])[-limit:]
            self._write("INSERT OR REPLACE INTO state VALUES (?, ?, ?)",
                        (key, json.dumps(items), time.time() + ttl_s))

    async def take(self, key: str) -> List[str]:
        with self._transaction():
            raw = self._get(key)
            if raw is not None:
                self._write("DELETE FROM state WHERE key = ?", (key,))
        return json.loads(raw) if raw else []

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _get(self, key: str) -> Optional[str]:
        row = self._db.execute(
            "SELECT value FROM state WHERE key = ? AND (expires IS NULL OR expires > ?)", (key, time.time())
        ).fetchone()
        return row[0] if row else None

    def _write(self, sql: str, params: tuple) -> sqlite3.Cursor:
        cursor = self._db.execute(sql, params)
        self._writes += 1
        if self._writes % _PURGE_EVERY == 0:
            self._db.execute("DELETE FROM state WHERE expires <= ?", (time.time(),))
        return cursor

    def _transaction(self) -> "_Immediate":
        return _Immediate(self._db)


class _Immediate:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error): a read and its write with no other
    process's write between them."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind else "COMMIT")


class RedisState(ChannelState):
    """State shared by every Rasa server on the same Redis (LOCK_STORE_URL), its keys prefixed
    so that they never meet Rasa's lock keys."""

    def __init__(self, url: str) -> None:
        # The client connects on first use, inside the server's event loop.
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        self._delete_if = self._redis.register_script(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
        )
        self._spend = self._redis.register_script(_SPEND)

    async def add(self, key: str, ttl_s: float, value: str = "1") -> bool:
        return bool(await self._redis.set(REDIS_PREFIX + key, value, nx=True, px=_ms(ttl_s)))

    async def get(self, key: str) -> Optional[str]:
        return await self._redis.get(REDIS_PREFIX + key)

    async def set(self, key: str, value: str, ttl_s: Optional[float]) -> None:
        await self._redis.set(REDIS_PREFIX + key, value, px=None if ttl_s is None else _ms(ttl_s))

    async def delete(self, key: str) -> None:
        await self._redis.delete(REDIS_PREFIX + key)

    async def delete_if(self, key: str, value: str) -> bool:
        return bool(await self._delete_if(keys=[REDIS_PREFIX + key], args=[value]))

    async def spend(self, key: str, amount: int, capacity: int, period_s: float) -> bool:
        share = amount * period_s / capacity
        return bool(await self._spend(keys=[REDIS_PREFIX + key], args=[share, period_s + _ROUNDING_S]))

    async def push(self, key: str, value: str, ttl_s: float, limit: int) -> None:
        key = REDIS_PREFIX + key
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.rpush(key, value).ltrim(key, -limit, -1).pexpire(key, _ms(ttl_s)).execute()

    async def take(self, key: str) -> List[str]:
        key = REDIS_PREFIX + key
        async with self._redis.pipeline(transaction=True) as pipe:
            items, _ = await pipe.lrange(key, 0, -1).delete(key).execute()
        return list(items)

    async def close(self) -> None:
        await self._redis.close()


# `spend` in one step on the server, timed by Redis's clock: the replicas' clocks may differ.
_SPEND = """
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local empty_at = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now) + tonumber(ARGV[1])
if empty_at - now > tonumber(ARGV[2]) then
    return 0
end
redis.call('SET', KEYS[1], string.format('%.6f', empty_at), 'PX', math.ceil((empty_at - now) * 1000))
return 1
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
