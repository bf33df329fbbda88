"""The scale run: the production profile (`python -m tools.production`: Rasa servers and two action
servers behind nginx, trackers and reports on PostgreSQL, locks on Redis) with one and with two
Rasa servers, and with two of which one is killed (SIGKILL) half-way. Concurrent citizens each
file reports one after the other through nginx for the run's duration; the figures: messages
answered per second, their p50/p95 latency, errors, and the reports the backend's PostgreSQL holds
against the ones the citizens were told were sent (each stored once, none lost).

A message that nginx answers 502 (it was sent to the server that was killed, which may or may not
have handled it) is sent again once a second later, as Telegram and Zalo deliver a webhook again:
the run counts these as `resent`, and whatever still fails as an error.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import aiohttp
import numpy
import psycopg2

from bench.citizens import SEND_ANYWAY, Replies, offers_to_follow
from bench.fault import PIN, QUEUED, SENT
from bench.rest import our_stack
from tools.databases import scratch_databases, scratch_keys
from tools.processes import consecutive_free_ports

logger = logging.getLogger("bench")

RESEND_AFTER_S = 1.0
STEPS: List[Dict[str, Any]] = [
    {"message": "/affirm"}, {"message": "/share_location", "metadata": PIN}, {"message": "/deny"},
    {"message": "/affirm"},
]


@dataclass
class Tally:
    latencies_ms: List[float] = field(default_factory=list)
    confirmed: List[str] = field(default_factory=list)
    errors: int = 0
    resent: int = 0


async def post(session: aiohttp.ClientSession, url: str, body: Dict[str, Any], tally: Tally) -> Replies:
    for attempt in range(2):
        started = time.perf_counter()
        async with session.post(url, json=body) as response:
            if response.status == 502 and attempt == 0:
                tally.resent += 1
                await asyncio.sleep(RESEND_AFTER_S)
                continue
            response.raise_for_status()
            replies = await response.json()
        tally.latencies_ms.append(1000 * (time.perf_counter() - started))
        return replies
    raise AssertionError("unreachable")


async def file_report(session: aiohttp.ClientSession, url: str, sender: str, description: str,
                      tally: Tally) -> None:
    """Complaint, category confirmed, a pin, no photos, send (bench/fault.py's citizen)."""
    try:
        replies = await post(session, url, {"sender": sender, "message": description}, tally)
        for step in STEPS:
            replies = await post(session, url, {"sender": sender, **step}, tally)
            if offers_to_follow(replies):
                replies = await post(session, url, {"sender": sender, **SEND_ANYWAY}, tally)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        logger.warning("%s: %s", sender, exc)
        tally.errors += 1
        return
    said = "\n".join(reply.get("text") or "" for reply in replies)
    if SENT in said or QUEUED in said:
        tally.confirmed.append(description)
    else:
        logger.warning("%s: the report did not end as sent: %r", sender, said[:200])
        tally.errors += 1


async def load(url: str, token: str, citizens: int, duration_s: float, tally: Tally) -> float:
    """`citizens` filing reports one after the other until `duration_s` is over; the seconds it took."""
    webhook = f"{url}/webhooks/rest/webhook?token={token}"  # the REST channel's, as RASA_API_TOKEN is set
    numbers = iter(range(1, 1_000_000))
    until = time.monotonic() + duration_s
    run = uuid.uuid4().hex[:6]

    async def citizen(c: int) -> None:
        while time.monotonic() < until:
            number = next(numbers)
            # A house number of its own: the description tells each report apart.
            await file_report(session, webhook, f"bench-scale-{run}-{number}",
                              f"đèn đường kiệt {number} Nguyễn Huệ hỏng cả tuần nay", tally)

    timeout = aiohttp.ClientTimeout(total=120)
    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=citizens)) as session:
        await asyncio.gather(*(citizen(c) for c in range(citizens)))
    return time.perf_counter() - started


def rasa_pid(port: int) -> int:
    """The Rasa server listening on `port` (its command line says so)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if "tools.rasa_server" in argv and "--port" in argv and argv[argv.index("--port") + 1] == str(port):
                return int(entry.name)
    raise RuntimeError(f"no Rasa server on port {port}")


def stored_descriptions(reports_url: str) -> List[str]:
    with contextlib.closing(psycopg2.connect(reports_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT description FROM reports")
        return [row[0] for row in cursor.fetchall()]


def scale_run(*, replicas: int, kill: bool, citizens: int, duration_s: float, postgres_url: str,
              redis_url: str) -> Dict[str, Any]:
    with scratch_databases(postgres_url, ("trackers", "reports", "assistant"), "hue_bench_") as databases:
        rasa, actions, port = consecutive_free_ports(replicas), consecutive_free_ports(2), consecutive_free_ports(3)
        keys = scratch_keys()
        env = {"TRACKER_STORE_URL": databases["trackers"], "DATABASE_URL": databases["reports"],
               "ASSISTANT_STORE_URL": databases["assistant"], "LOCK_STORE_URL": redis_url,
               "RASA_PORT": str(rasa), "ACTIONS_PORT": str(actions), **keys}
        command = ("tools.production", "--rasa", str(replicas), "--actions", "2", "--port", str(port))
        with our_stack(env=env, command=command):
            tally = Tally()

            async def run() -> float:
                running = asyncio.ensure_future(load(f"http://127.0.0.1:{port}", keys["RASA_API_TOKEN"], citizens,
                                                     duration_s, tally))
                if kill:
                    await asyncio.sleep(duration_s / 2)
                    logger.info("scale run: killing the Rasa server on port %d", rasa)
                    os.kill(rasa_pid(rasa), signal.SIGKILL)
                return await running

            elapsed = asyncio.run(run())
            counts = Counter(stored_descriptions(databases["reports"]))
    latencies = tally.latencies_ms or [0.0]
    p50, p95 = numpy.percentile(latencies, [50, 95])
    return {
        "messages": len(tally.latencies_ms), "throughput": len(tally.latencies_ms) / elapsed,
        "p50": float(p50), "p95": float(p95), "errors": tally.errors, "resent": tally.resent,
        "confirmed": len(tally.confirmed), "stored": sum(counts.values()),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "lost": len(set(tally.confirmed) - set(counts)), "duration_s": round(elapsed, 2),
    }


def bench_scale(emit, model: Path, *, citizens: int = 50, duration_s: float = 60.0,
                postgres_url: str, redis_url: str, runs: Optional[List[str]] = None) -> None:
    """Emits, for each run (`rasa1`, `rasa2`, `rasa2_killed`), scale.<run>.throughput, latency.p50,
    latency.p95, errors and reports.{confirmed,stored,duplicates,lost}."""
    plans = {"rasa1": SimpleNamespace(replicas=1, kill=False), "rasa2": SimpleNamespace(replicas=2, kill=False),
             "rasa2_killed": SimpleNamespace(replicas=2, kill=True)}
    for name in runs or list(plans):
        plan = plans[name]
        logger.info("scale run %s: %d citizens for %.0f s", name, citizens, duration_s)
        figures = scale_run(replicas=plan.replicas, kill=plan.kill, citizens=citizens, duration_s=duration_s,
                            postgres_url=postgres_url, redis_url=redis_url)
        logger.info("scale run %s: %s", name, figures)
        context = {"model": model.name, "rasa_servers": plan.replicas, "action_servers": 2,
                   **({"killed": "one Rasa server, SIGKILL at half time"} if plan.kill else {}),
                   "citizens": citizens, "n": figures["messages"], "duration_s": figures["duration_s"],
                   "resent": figures["resent"], "errors": figures["errors"],
                   "dataset": "report: complaint, affirm category, pin, no photos, send"}
        emit(f"scale.{name}.throughput", figures["throughput"], "msg/s", **context)
        emit(f"scale.{name}.latency.p50", figures["p50"], "ms", **context)
        emit(f"scale.{name}.latency.p95", figures["p95"], "ms", **context)
        emit(f"scale.{name}.errors", figures["errors"], "messages", **context)
        for count in ("confirmed", "stored", "duplicates", "lost"):
            emit(f"scale.{name}.reports.{count}", figures[count], "reports", **context)
