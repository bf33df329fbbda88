"""The conversation lock that several Rasa servers share in Redis (LOCK_STORE_URL), with
tools/rasa_server.py's `shared_lock`: messages of one conversation that reach two servers at the
same moment are handled one at a time, each once, none failing. Rasa 3.6's own lock store, in the
same run, let two of them in together and failed others with `LockError` (or, before
`is_locked`'s fix, left them waiting forever)."""
from __future__ import annotations

import asyncio
import threading
import uuid
from typing import List

import pytest
from rasa.core.lock_store import LockStore
from rasa.utils.endpoints import EndpointConfig

from tests.support import services
from tools.supervise import lock_store

pytestmark = pytest.mark.redis


@pytest.fixture
def installed(rasa_patches):
    """The patches, restored after each test (tests/conftest.py)."""


def redis_store() -> LockStore:
    return LockStore.create(EndpointConfig.from_dict(lock_store(services.REDIS_URL)))


def test_messages_of_one_conversation_on_two_servers_are_handled_one_at_a_time(installed):
    conversation = f"rest:parallel-{uuid.uuid4().hex[:8]}"
    inside: List[str] = []
    handled: List[str] = []
    failures: List[BaseException] = []
    together: List[List[str]] = []

    def server(name: str) -> None:
        store = redis_store()  # a connection of its own, as each Rasa server has

        async def message(number: int) -> None:
            try:
                async with store.lock(conversation, lock_lifetime=10):
                    inside.append(f"{name}-{number}")
                    if len(inside) > 1:
                        together.append(list(inside))
                    await asyncio.sleep(0.01)  # the message's work
                    inside.remove(f"{name}-{number}")
                    handled.append(f"{name}-{number}")
            except Exception as error:  # noqa: BLE001 - what the servers' callers would get
                failures.append(error)

        async def burst() -> None:
            await asyncio.gather(*(message(n) for n in range(10)))

        asyncio.run(burst())

    servers = [threading.Thread(target=server, args=(name,)) for name in ("a", "b")]
    for thread in servers:
        thread.start()
    for thread in servers:
        thread.join(timeout=30)

    assert not any(thread.is_alive() for thread in servers), "a message still waits for the lock"
    assert failures == [] and together == []
    assert sorted(handled) == sorted(f"{s}-{n}" for s in "ab" for n in range(10))
    assert redis_store().get_lock(conversation) is None  # nothing left behind


async def test_a_message_longer_than_the_lock_lifetime_keeps_the_conversation(installed):
    # Rasa's ticket expired after its lifetime even while its message still waited for the backend,
    # letting the next message of the conversation run at the same time.
    conversation = f"rest:slow-{uuid.uuid4().hex[:8]}"
    first, second = redis_store(), redis_store()
    order: List[str] = []

    async def slow() -> None:
        async with first.lock(conversation, lock_lifetime=1):
            order.append("slow starts")
            await asyncio.sleep(2.5)
            order.append("slow ends")

    async def next_one() -> None:
        await asyncio.sleep(0.2)
        async with second.lock(conversation, lock_lifetime=1):
            order.append("next")

    await asyncio.wait_for(asyncio.gather(slow(), next_one()), timeout=10)
    assert order == ["slow starts", "slow ends", "next"]
