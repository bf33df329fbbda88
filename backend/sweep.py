"""Uploaded photos that no report references are removed once they are a day old.

A channel stores a citizen's photo as soon as it arrives, before the report exists; a report the
citizen cancels, or never finishes, leaves its photos behind. The backend process sweeps them at
start and then every hour, one small batch of names per query.
"""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

from aiohttp import web

from .appkeys import MEDIA, SESSIONS
from .queries import referenced_media

log = logging.getLogger(__name__)

ORPHAN_AGE_S = 24 * 3600
SWEEP_EVERY_S = 3600
BATCH = 200


async def remove_orphans(app: web.Application, older_than_s: float = ORPHAN_AGE_S) -> int:
    """Removes the photos older than `older_than_s` that no report references; how many."""
    media = app[MEDIA]
    stale = media.older_than(older_than_s)
    removed = 0
    for start in range(0, len(stale), BATCH):
        names = stale[start:start + BATCH]
        async with app[SESSIONS]() as session:
            kept = await referenced_media(session, names)
        orphans = [name for name in names if name not in kept]
        media.remove(orphans)
        removed += len(orphans)
    return removed


async def orphan_sweeper(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the sweep as a background task of the backend process (after the database)."""

    async def sweep_forever() -> None:
        while True:
            try:
                removed = await remove_orphans(app)
            except Exception:  # noqa: BLE001 - logged; the next sweep tries again
                log.exception("sweeping unreferenced photos failed")
            else:
                if removed:
                    log.info("removed %d photos no report references", removed)
            await asyncio.sleep(SWEEP_EVERY_S)

    task = asyncio.create_task(sweep_forever())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
