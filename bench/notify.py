"""How long a state change takes to reach the citizen: web chat citizens file reports, an operator
changes each one's state, and the time from the operator's answered `state.json` to the notifier's
message waiting in the citizen's web chat inbox is measured.

The stack is `make run` with the notifier reading the feed every `interval_s` (the production
default unless told otherwise), pointed with BACKEND_URL at a backend process of its own (as the
fault run does) so that the bench knows where to post the operator's changes. The changes are
spread evenly over two intervals, so that they fall at every point of the notifier's cycle
rather than all just before or after one read of the feed. Inboxes are read twice a second (the
page reads every 5 s), so each figure is within half a second of the message's arrival.
"""
from __future__ import annotations

import asyncio
import logging
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, List

import aiohttp
import numpy

from bench.citizens import follow_script
from bench.fault import PIN, Backend
from bench.rest import our_stack
from bot.settings import DEV_OPERATOR_KEY

logger = logging.getLogger("bench")

CODE = re.compile(r"PA\d{6}")
NOTE = "Đội công trình đang sửa"
INBOX_EVERY_S = 0.5


async def file_report(session: aiohttp.ClientSession, webchat: str, sender: str) -> str:
    """Complaint, category confirmed, a pin, no photos, send, through the page's routes; the code."""
    steps: List[Dict] = [
        {"message": "đèn đường kiệt 45 Nguyễn Huệ hỏng cả tuần nay"}, {"message": "/affirm"},
        PIN, {"message": "/deny"}, {"message": "/affirm"},
    ]
    replies = await follow_script(session, f"{webchat}webhook", sender, steps)
    said = "\n".join(reply.get("text") or "" for reply in replies)
    code = CODE.search(said)
    if code is None:
        raise RuntimeError(f"the report of {sender} got no code: {said[:300]!r}")
    return code.group(0)


async def change_state(session: aiohttp.ClientSession, backend_url: str, code: str) -> None:
    """What an IOC operator's system does: `state.json` with an operator key."""
    form = {"api_key": DEV_OPERATOR_KEY, "state": "in_progress", "note": NOTE}
    async with session.post(f"{backend_url}/requests/{code}/state.json", data=form) as response:
        response.raise_for_status()


async def arrival(session: aiohttp.ClientSession, webchat: str, sender: str, code: str, deadline: float) -> float:
    """When the change of `code` is in `sender`'s inbox (monotonic time), as the page would fetch it."""
    while time.monotonic() < deadline:
        async with session.get(f"{webchat}inbox", params={"sender": sender}) as response:
            response.raise_for_status()
            waiting = await response.json()
        if any(code in (message.get("text") or "") and NOTE in message["text"] for message in waiting):
            return time.monotonic()
        await asyncio.sleep(INBOX_EVERY_S)
    raise RuntimeError(f"the change of {code} did not reach its citizen; see the log above")


async def notify_run(rasa_url: str, backend_url: str, *, citizens: int, interval_s: float) -> List[float]:
    """Seconds from each state change to its message in the citizen's inbox."""
    webchat = f"{rasa_url}/webhooks/web/"
    senders = [uuid.uuid4().hex for _ in range(citizens)]  # the page's own ids
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        codes = await asyncio.gather(*(file_report(session, webchat, sender) for sender in senders))
        logger.info("notify run: %d reports filed; changing their states over %.0f s", citizens, 2 * interval_s)
        spacing = 2 * interval_s / citizens

        async def one(i: int, sender: str, code: str) -> float:
            await asyncio.sleep(i * spacing)
            await change_state(session, backend_url, code)
            changed = time.monotonic()
            return await arrival(session, webchat, sender, code, changed + 3 * interval_s + 60) - changed

        return list(await asyncio.gather(*(one(i, s, c) for i, (s, c) in enumerate(zip(senders, codes, strict=True)))))


def bench_notify(emit, model: Path, *, citizens: int, interval_s: float) -> None:
    context = {"model": model.name, "n": citizens, "notify_interval_s": interval_s,
               "dataset": "web chat report, then state.json in_progress with a note; until in the inbox"}
    with tempfile.TemporaryDirectory(prefix="bench-backend-") as backend_dir:
        backend = Backend(Path(backend_dir))
        env = {"BACKEND_URL": backend.url, "NOTIFY_INTERVAL_S": str(interval_s)}
        with backend.running(), our_stack(env=env) as url:
            delays = asyncio.run(notify_run(url, backend.url, citizens=citizens, interval_s=interval_s))
    logger.info("notify run: %s", [round(d, 2) for d in delays])
    p50, p95 = numpy.percentile(delays, [50, 95])
    emit("notify.delivery.p50", p50, "s", **context)
    emit("notify.delivery.p95", p95, "s", **context)
    emit("notify.delivery.max", max(delays), "s", **context)
