"""Fixtures of the channel tests: the project's real routing backend on a free port, and the
channels' state on each of its stores."""
from __future__ import annotations

import pytest

from bot.settings import Settings
from channels.state import FILENAME, ChannelState, RedisState, SqliteState
from tests.support.open311 import RoutingBackend
from tests.support.services import REDIS_URL


@pytest.fixture
async def backend(routing_backend: RoutingBackend) -> Settings:
    """The routing backend, started (tests/conftest.py); Settings that point the assistant at it."""
    return await routing_backend.start()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def state(request, data_dir):
    """The channels' state: the SQLite file under DATA_DIR (one Rasa server), then Redis
    (LOCK_STORE_URL, several replicas)."""
    store: ChannelState = SqliteState(data_dir / FILENAME) if request.param == "sqlite" else RedisState(REDIS_URL)
    yield store
    await store.close()
