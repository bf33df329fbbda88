"""Fixtures of the channel tests: the project's real routing backend on a free port."""
from __future__ import annotations

import pytest

from bot.settings import Settings
from tests.support.open311 import RoutingBackend


@pytest.fixture
async def backend(routing_backend: RoutingBackend) -> Settings:
    """The routing backend, started (tests/conftest.py); Settings that point the assistant at it."""
    return await routing_backend.start()
