"""The fault run: citizens complete reports while the routing backend is stopped for a while and
started again. Nothing confirmed may be lost or stored twice.

The backend runs as a process of its own (`python -m backend`), the assistant as `make run`
pointed at it with BACKEND_URL, so the bench can stop and start the backend without the
supervisor of `make run` bringing it back. Each report's description is unique, so the reports
stored can be matched to the ones confirmed: duplicates are descriptions stored more than once,
lost ones confirmed and never stored.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List

import aiohttp

from bench.citizens import follow_script
from bench.rest import CHILD_ENV, our_stack
from bot.settings import DEV_API_KEY, PROJECT_ROOT
from tools.processes import free_ports, start_group, stop_group, wait_until_up

logger = logging.getLogger("bench")

PIN = {"location": {"latitude": 16.4637, "longitude": 107.5909}}  # Phường Thuận Hóa
SENT = "Mã phản ánh của bạn"
QUEUED = "sẽ tự gửi"  # utter_report_queued


class Backend:
    """`python -m backend` on one port and one database, stopped and started again at will."""

    def __init__(self, data_dir: Path) -> None:
        (self.port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}/open311/v2"
        self.env = {**os.environ, **CHILD_ENV, "DATA_DIR": str(data_dir), "BACKEND_PORT": str(self.port),
                    "PYTHONPATH": str(PROJECT_ROOT)}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = start_group([sys.executable, "-m", "backend"], cwd=PROJECT_ROOT, env=self.env,
                                   stdout=sys.stderr, stderr=sys.stderr)
        if not wait_until_up(f"{self.url}/services.json", [self.process], 60):
            raise RuntimeError("the backend did not start; see the log above")

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)
            self.process = None

    @contextlib.contextmanager
    def running(self) -> Iterator["Backend"]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    async def descriptions(self, session: aiohttp.ClientSession) -> List[str]:
        async with session.get(f"{self.url}/requests.json", params={"limit": "1000"},
                               headers={"X-Api-Key": DEV_API_KEY}) as response:
            response.raise_for_status()
            return [report["description"] for report in await response.json()]


@dataclass
class Tally:
    confirmed: List[str] = field(default_factory=list)  # descriptions the citizen was told are in
    queued: List[str] = field(default_factory=list)  # of which: kept until the backend is back
    errors: int = 0


async def file_report(session: aiohttp.ClientSession, url: str, sender: str, description: str,
                      tally: Tally) -> None:
    """Complaint, category confirmed, a pin, no photos, send: as the REST end-to-end test does."""
    steps: List[Dict[str, Any]] = [
        {"message": description}, {"message": "/affirm"},
        {"message": "/share_location", "metadata": PIN}, {"message": "/deny"}, {"message": "/affirm"},
    ]
    try:
        replies = await follow_script(session, url, sender, steps)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        logger.warning("%s: %s", sender, exc)
        tally.errors += 1
        return
    said = "\n".join(reply.get("text") or "" for reply in replies)
    if SENT in said or QUEUED in said:
        tally.confirmed.append(description)
        if QUEUED in said:
            tally.queued.append(description)
    else:
        logger.warning("%s: the report did not end as sent or queued: %r", sender, said[:200])
        tally.errors += 1


async def citizens(url: str, count: int, until: float, tally: Tally) -> None:
    webhook = f"{url}/webhooks/rest/webhook"
    numbers = iter(range(1, 1_000_000))

    async def citizen(c: int) -> None:
        for r in range(1_000):
            if time.monotonic() > until:
                return
            # A house number of its own: the description tells each report apart.
            description = f"đèn đường kiệt {next(numbers)} Nguyễn Huệ hỏng cả tuần nay"
            await file_report(session, webhook, f"bench-fault-{c}-{r}", description, tally)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        await asyncio.gather(*(citizen(c) for c in range(count)))


async def fault_run(url: str, backend: Backend, *, count: int, duration_s: float, down_at_s: float,
                    down_for_s: float, settle_s: float) -> Dict[str, Any]:
    tally = Tally()
    started = time.monotonic()
    load = asyncio.create_task(citizens(url, count, started + duration_s, tally))
    await asyncio.sleep(down_at_s)
    logger.info("fault run: stopping the backend for %.0f s", down_for_s)
    await asyncio.to_thread(backend.stop)
    await asyncio.sleep(down_for_s)
    await asyncio.to_thread(backend.start)
    back_at = time.monotonic()
    logger.info("fault run: backend started again")
    await load
    arrived_s = None
    stored: List[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            stored = await backend.descriptions(session)
            if set(tally.confirmed) <= set(stored):
                arrived_s = time.monotonic() - back_at
                break
            await asyncio.sleep(0.5)
    counts = Counter(stored)
    return {
        "confirmed": len(tally.confirmed), "queued": len(tally.queued), "errors": tally.errors,
        "stored": len(stored), "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "lost": len(set(tally.confirmed) - set(stored)),
        "last_queued_arrival_s": arrived_s,
    }


def bench_fault(emit, model: Path, *, citizens_count: int = 8, duration_s: float = 40, down_at_s: float = 8,
                down_for_s: float = 15, retry_s: float = 5, settle_s: float = 120) -> None:
    context = {"model": model.name, "citizens": citizens_count, "duration_s": duration_s,
               "backend_down_s": down_for_s, "outbox_retry_s": retry_s,
               "dataset": "report: complaint, affirm category, pin, no photos, send"}
    with tempfile.TemporaryDirectory(prefix="bench-backend-") as backend_dir:
        backend = Backend(Path(backend_dir))
        # The outbox retries after `retry_s` instead of the production 5 minutes, so that the run
        # measures recovery rather than the schedule.
        env = {"BACKEND_URL": backend.url, "OUTBOX_RETRY_S": str(retry_s)}
        with backend.running(), our_stack(env=env) as url:
            figures = asyncio.run(fault_run(url, backend, count=citizens_count, duration_s=duration_s,
                                            down_at_s=down_at_s, down_for_s=down_for_s, settle_s=settle_s))
    logger.info("fault run: %s", figures)
    arrived = figures.pop("last_queued_arrival_s")
    for name in ("confirmed", "queued", "stored", "duplicates", "lost", "errors"):
        emit(f"fault.reports.{name}", figures[name], "reports", **context)
    if arrived is None:
        raise RuntimeError(f"confirmed reports still missing {settle_s:.0f} s after the backend came back")
    emit("fault.last_queued_arrival", arrived, "s", after="backend started again", **context)
