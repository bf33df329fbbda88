"""What every test gets: its own DATA_DIR, the trained model and the routing backend on request,
and the rule that a test marked `postgres`, `redis` or `browser` skips locally without that server
but fails under CI=true. Shared helpers live in tests/support/; subfolders have their own fixtures."""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Dict, Iterator

import pytest

from bot.admin.models import live_model
from bot.settings import load_settings
from tests.support import services
from tests.support.open311 import RoutingBackend
from tests.support.platforms import Platforms
from tests.support.stack import run_module

SERVER_MARKERS = ("postgres", "redis", "browser")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture runs: the servers the test's markers name are there (services.py)."""
    for marker in SERVER_MARKERS:
        if item.get_closest_marker(marker):
            services.require(marker)


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The assistant's model; trained first when missing or older than the training data
    (`bot.cli train --if-missing` is a no-op on an up-to-date model)."""
    result = run_module("bot.cli", "train", "--if-missing", timeout_s=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    model = live_model(load_settings({}))  # the project's models/, whatever the test's environment
    assert model is not None, "training produced no model in models/"
    return model


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch) -> Path:
    """Every test keeps what it writes (outbox, the admins' inbox, photos) in its own folder,
    never in the project's data/."""
    from bot.settings import get_settings

    folder = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()


@pytest.fixture
async def routing_backend(data_dir) -> AsyncIterator[RoutingBackend]:
    """The project's routing backend (SQLite in the test's data folder) on a free port; it
    listens once the test awaits `routing_backend.start()`, and stops after the test."""
    backend = RoutingBackend(data_dir)
    yield backend
    await backend.stop()


@pytest.fixture
def assistant_env(monkeypatch, routing_backend):
    """Points the actions (settings read from the environment) at the routing backend's port,
    where nothing listens until a test starts it (the category questions then offer the shipped
    categories, the bundled backend's own)."""
    from actions.common import catalogue
    from bot.settings import get_settings

    catalogue.cache_clear()
    monkeypatch.setenv("BACKEND_URL", routing_backend.url)
    monkeypatch.delenv("BACKEND_API_KEY", raising=False)
    monkeypatch.delenv("BACKEND_API_KEYS", raising=False)
    monkeypatch.setenv("BACKEND_TIMEOUT_S", "3")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def assistant_store(request, monkeypatch, data_dir) -> Iterator[Dict[str, str]]:
    """The outbox, notices and followed reports (bot/local_store.py) in the test's DATA_DIR, then
    again in a PostgreSQL database of its own (ASSISTANT_STORE_URL, as several hosts share them);
    the environment that points the test's processes at the same store."""
    from bot import local_store
    from bot.settings import get_settings

    if request.param == "sqlite":
        yield {}
        return
    with services.scratch_databases("store") as urls:
        monkeypatch.setenv("ASSISTANT_STORE_URL", urls["store"])
        get_settings.cache_clear()
        yield {"ASSISTANT_STORE_URL": urls["store"]}
        local_store.dispose()  # before the database is dropped


@pytest.fixture(scope="module")
def platforms() -> Iterator[Platforms]:
    """Telegram's and Zalo's stand-ins, for a module's whole-stack tests (`platforms.env()`)."""
    running = Platforms()
    yield running
    running.close()


@pytest.fixture
def rasa_patches(monkeypatch) -> None:
    """tools/rasa_server.py's patches of Rasa for this test only: `install()` patches the process,
    and an app another test builds later must be Rasa's own."""
    from tools import rasa_server

    for owner, name in rasa_server.PATCHED:
        monkeypatch.setattr(owner, name, getattr(owner, name))
    rasa_server.install()
