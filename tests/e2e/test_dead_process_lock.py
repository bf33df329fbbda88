"""Rasa's Redis lock store, configured as `make run` configures it (LOCK_STORE_URL, LOCK_LIFETIME_S)
and with tools/rasa_server.py's fix: a conversation locked by a Rasa server that is then killed is
free again within LOCK_LIFETIME_S (not Rasa's default minute) for the message waiting behind it,
against the real Redis."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import pytest
from rasa.core.lock_store import LockStore
from rasa.utils.endpoints import EndpointConfig

from bot.settings import PROJECT_ROOT, load_settings
from tests.support import services
from tools.supervise import child_env, lock_store

pytestmark = pytest.mark.redis

# Holds a conversation's lock as Rasa does while it handles a message, until killed.
HOLDER = """
import asyncio, sys
from rasa.core.lock_store import LockStore
from rasa.utils.endpoints import EndpointConfig
from tools.supervise import lock_store

async def hold(url, conversation):
    store = LockStore.create(EndpointConfig.from_dict(lock_store(url)))
    async with store.lock(conversation):
        print("locked", flush=True)
        await asyncio.sleep(3600)

asyncio.run(hold(*sys.argv[1:]))
"""


async def test_a_killed_process_s_lock_is_free_again_within_the_lock_lifetime(rasa_patches):
    settings = load_settings({"LOCK_STORE_URL": services.REDIS_URL, "LOCK_LIFETIME_S": "3",
                              "BACKEND_TIMEOUT_S": "2"})
    conversation = f"rest:lock-{uuid.uuid4().hex[:8]}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, services.REDIS_URL, conversation],
                              cwd=PROJECT_ROOT, env=child_env(settings), stdout=subprocess.PIPE, text=True)
    store = LockStore.create(EndpointConfig.from_dict(lock_store(services.REDIS_URL)))
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        held = store.get_lock(conversation)
        assert held is not None and held.is_someone_waiting()  # the dead process never let go

        # The next message of that conversation, as the restarted Rasa server takes it: its own
        # ticket lasts as long, and it looks again every second.
        async def next_message() -> None:
            async with store.lock(conversation, lock_lifetime=settings.lock_lifetime_s):
                pass

        await asyncio.wait_for(next_message(), timeout=settings.lock_lifetime_s + 3)
    finally:
        if holder.poll() is None:
            holder.kill()
        store.delete_lock(conversation)
