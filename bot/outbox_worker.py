"""`python -m bot.outbox_worker`: delivers the outbox (bot/outbox.py) continuously.

Each due row is claimed, then either delivered to the Open311 server (with the report's
idempotency key, so a repeat after a timeout or a crash files nothing new) or, once the server
has it, its code is told to the citizen (`bot/proactive.py`: Rasa sends it on the channel the
citizen last used; a repeat after a timeout or a crash first looks for it in the conversation),
and the report is recorded as theirs (`bot/followed.py`) for the notifier.
Each success and failure is logged with its cause (never the report's content or the citizen's
phone). SIGTERM stops it cleanly: a step in flight is abandoned and its row given back, to be done
again (harmlessly, thanks to the key).
"""
from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Coroutine, Dict, Optional, Tuple

import aiohttp
import yaml

from bot import followed, metrics, outbox, proactive
from bot.open311_client import BackendRejected, BackendUnavailable, Open311Client
from bot.settings import PROJECT_ROOT, Settings, start_process

logger = logging.getLogger(__name__)

IDLE_S = 1.0  # how often an idle worker looks for due rows
# A row's steps and their outcomes, as the metrics name them
DELIVERY, NOTIFICATION = "delivery", "notification"
SENT, FAILED, REJECTED = "sent", "failed", "rejected"


def _response(name: str, **values: str) -> str:
    """One of the assistant's texts (domain.yml `responses`), filled in."""
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return domain["responses"][name][0]["text"].format(**values)


def report_sent_text(code: str, agency: Optional[str]) -> str:
    """What the assistant says when a report is sent (`utter_report_sent`)."""
    return _response("utter_report_sent", report_id=code, agency=agency or "đang phân công")


class Worker:
    """One pass over due rows at a time (`step`), against an Open311 client and Rasa's HTTP API."""

    def __init__(self, settings: Settings, backend: Open311Client, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.backend = backend
        self.http = http
        # Long enough for one step with all its retries, twice over; a crashed worker's row
        # waits that long before another worker takes it.
        attempt_s = max(settings.backend_timeout_s * (backend.retries + 1), 2 * settings.rasa_timeout_s)
        self.lease_s = 2 * attempt_s

    async def step(self) -> bool:
        """Does the next due step; False when nothing is due."""
        entry = outbox.claim(self.lease_s)
        if entry is None:
            return False
        try:
            if entry.code is None:
                await self._deliver(entry)
            else:
                await self._notify(entry)
        except asyncio.CancelledError:
            outbox.release(entry)
            raise
        except Exception as exc:  # a bug must not stop the deliveries of every other report
            logger.exception("outbox row %s: unexpected failure", entry.id)
            outbox.failed(entry, f"{exc.__class__.__name__}", self.settings.outbox_retry_s)
            metrics.OUTBOX_STEPS.labels(DELIVERY if entry.code is None else NOTIFICATION, FAILED).inc()
        return True

    async def _deliver(self, entry: outbox.Entry) -> None:
        try:
            created = await self.backend.create_request(**entry.fields)
        except BackendUnavailable as exc:
            self._failed(entry, DELIVERY, exc.detail)
            return
        except BackendRejected as exc:
            # Retrying cannot help a request the server refuses; its citizen, told it was kept,
            # hears why (once: a refusal is not worth a retry schedule of its own).
            logger.error("outbox row %s (%s) refused by the Open311 server, dropped: HTTP %s %s",
                         entry.id, entry.fields.get("service_code"), exc.code, exc.description)
            if entry.sender_id:
                failure = await proactive.say(self.http, self.settings, entry.sender_id,
                                              _response("utter_report_rejected", reason=str(exc)))
                if failure:
                    logger.error("outbox row %s: the citizen could not be told of the refusal: %s", entry.id, failure)
            outbox.done(entry)
            metrics.OUTBOX_STEPS.labels(DELIVERY, REJECTED).inc()
            return
        code = str(created["service_request_id"])
        try:
            agency = (await self.backend.get_request(code) or {}).get("agency_responsible")
        except (BackendUnavailable, BackendRejected) as exc:
            logger.warning("outbox row %s: %s stored, its agency unknown: %s", entry.id, code, exc)
            agency = None
        if entry.sender_id:
            followed.record(code, entry.sender_id, entry.fields.get("channel"))
        outbox.delivered(entry, code, agency)
        metrics.OUTBOX_STEPS.labels(DELIVERY, SENT).inc()
        logger.info("outbox row %s delivered as %s (after %d failed attempts)", entry.id, code, entry.failures)

    async def _notify(self, entry: outbox.Entry) -> None:
        assert entry.code is not None
        if not entry.sender_id:
            outbox.done(entry)
            return
        outbox.sending(entry)
        failure = await proactive.say_once(self.http, self.settings, entry.sender_id, f"report:{entry.code}",
                                           report_sent_text(entry.code, entry.agency), maybe_said=entry.sending)
        if failure:
            self._failed(entry, NOTIFICATION, failure)
            return
        outbox.done(entry)
        metrics.OUTBOX_STEPS.labels(NOTIFICATION, SENT).inc()
        logger.info("outbox row %s: the citizen was told %s", entry.id, entry.code)

    def _failed(self, entry: outbox.Entry, step: str, cause: str) -> None:
        next_attempt = outbox.failed(entry, cause, self.settings.outbox_retry_s)
        metrics.OUTBOX_STEPS.labels(step, FAILED).inc()
        logger.warning("outbox row %s: %s of %s failed (%d in a row): %s; next attempt in %.0f s", entry.id, step,
                       entry.code or "a report", entry.failures + 1, cause, next_attempt - time.time())


def _unix(moment: Any) -> float:
    """A row's `created_at` as Unix time: CURRENT_TIMESTAMP as text, SQLite's in UTC without a zone,
    PostgreSQL's with a zone of hours alone (`+00`, which Python 3.10 does not read), or a datetime."""
    if not isinstance(moment, datetime):
        written = str(moment).strip()
        moment = datetime.fromisoformat(written + ":00" if re.search(r"[+-]\d\d$", written) else written)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def waiting() -> Dict[str, Tuple[int, float]]:
    """For each step, the rows waiting for it and the age in seconds of the oldest (0: none), as
    the metrics show them."""
    now = time.time()
    ages: Dict[str, list] = {DELIVERY: [], NOTIFICATION: []}
    for row in outbox.pending():
        ages[DELIVERY if row["code"] is None else NOTIFICATION].append(now - _unix(row["created_at"]))
    return {step: (len(rows), max(rows, default=0.0)) for step, rows in ages.items()}


async def work(step: Callable[[], Coroutine[Any, Any, bool]], stop: asyncio.Event, idle_s: float = IDLE_S,
               *, finish: bool = False) -> None:
    """Runs `step` again and again until `stop` is set, waiting `idle_s` after a step that found
    nothing to do. A step in flight when `stop` is set is cancelled (it gives its row back), or
    with `finish` awaited: a message already on its way cannot be taken back, and cancelled after
    it was sent it would be sent again by whoever takes the row next."""
    while not stop.is_set():
        working = asyncio.create_task(step())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not working.done():
            if not finish:
                working.cancel()
            await asyncio.gather(working, return_exceptions=True)
            break
        stopping.cancel()
        if not working.result():
            try:
                await asyncio.wait_for(stop.wait(), idle_s)
            except asyncio.TimeoutError:
                pass


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Works until `stop` is set; a step in flight then is abandoned (its row given back)."""
    metrics.watch_outbox(waiting)
    serve_metrics(settings.outbox_metrics_port, settings.host)
    async with Open311Client.from_settings(settings) as backend, aiohttp.ClientSession() as http:
        worker = Worker(settings, backend, http)
        logger.info("outbox worker started (Open311 server %s)", backend.base_url)
        await work(worker.step, stop)
    logger.info("outbox worker stopped")


def serve_metrics(port: int, host: str) -> None:
    """Serves this worker's /metrics (port 0: not at all). A port taken (a second worker on the
    same host) costs the metrics, never the deliveries."""
    try:
        metrics.serve(port, host)
    except OSError as exc:
        logger.error("metrics not served on %s:%d: %s (give each worker on this host its own "
                     "OUTBOX_METRICS_PORT / NOTIFIER_METRICS_PORT, or 0)", host, port, exc)


Runner = Callable[[Settings, asyncio.Event], Awaitable[None]]


async def _main(runner: Runner, settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runner(settings, stop)


def main(runner: Runner = run) -> int:
    """A worker process: `runner` until SIGTERM or SIGINT (also `python -m bot.notifier`'s)."""
    asyncio.run(_main(runner, start_process()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
