"""Background work of the channels: references kept, failures logged, order kept per user.

Zalo retries a webhook that does not answer within two seconds and a Telegram album has to wait
for its last photo, so some work runs after the HTTP answer. asyncio keeps only weak references to
tasks, hence the set; an exception nobody awaits would vanish, hence the log.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Awaitable, Hashable, Set

logger = logging.getLogger(__name__)


class Background:
    def __init__(self) -> None:
        self._tasks: Set[asyncio.Task] = set()

    def spawn(self, work: Awaitable[None], what: str) -> asyncio.Task:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, what))
        return task

    def _done(self, task: asyncio.Task, what: str) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s failed", what, exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the work in flight (server stop, tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class KeyedLocks:
    """One lock per user, so that one person's messages reach the assistant in the order sent.

    asyncio.Lock wakes its waiters first come, first served; a lock nobody holds or waits for
    is dropped with its last reference.
    """

    def __init__(self) -> None:
        self._locks: "weakref.WeakValueDictionary[Hashable, asyncio.Lock]" = (
            weakref.WeakValueDictionary()
        )

    def __call__(self, key: Hashable) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock
