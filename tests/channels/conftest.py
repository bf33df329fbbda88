"""Fixtures of the channel tests: the project's real routing backend on a free port."""
from __future__ import annotations

from typing import AsyncIterator

import pytest

from backend import create_app
from bot.settings import Settings
from tests.support.servers import free_port, serve


@pytest.fixture
async def backend(tmp_path) -> AsyncIterator[Settings]:
    """The project's routing backend on a free port; Settings that point the assistant at it."""
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", backend_port=port,
                        backend_public_url=f"http://127.0.0.1:{port}")
    runner, _ = await serve(create_app(settings), port)
    yield settings
    await runner.cleanup()
