"""Fixtures of the channel tests: the project's real routing backend on a free port."""
from __future__ import annotations

from typing import AsyncIterator

import aiohttp.web
import pytest
from channel_helpers import free_port

from backend import create_app
from bot.settings import Settings


@pytest.fixture
async def backend(tmp_path) -> AsyncIterator[Settings]:
    """The project's routing backend on a free port; Settings that point the assistant at it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=tmp_path / "data", backend_port=port, backend_public_url=base)
    app = create_app(settings)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    yield settings
    await runner.cleanup()
