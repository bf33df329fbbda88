"""`python -m bot.outbox_worker`: delivers the outbox (bot/outbox.py) continuously.

Each due row is claimed, then either delivered to the Open311 server (with the report's
idempotency key, so a repeat after a timeout or a crash files nothing new) or, once the server
has it, its code is told to the citizen: the worker appends a bot message to the citizen's
conversation through Rasa's HTTP API with `output_channel=latest&execute_side_effects=true`, and
Rasa sends it on the channel the citizen last used. Each success and failure is logged with its
cause (never the report's content or the citizen's phone). SIGTERM stops it cleanly: a step in
flight is abandoned and its row given back, to be done again (harmlessly, thanks to the key).
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from typing import Optional
from urllib.parse import quote, urlencode

import aiohttp
import yaml

from bot import outbox
from bot.open311_client import BackendRejected, BackendUnavailable, Open311Client
from bot.settings import PROJECT_ROOT, Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)

IDLE_S = 1.0  # how often an idle worker looks for due rows
RASA_TIMEOUT_S = 10.0


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
        attempt_s = max(settings.backend_timeout_s * (backend.retries + 1), RASA_TIMEOUT_S)
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
        return True

    async def _deliver(self, entry: outbox.Entry) -> None:
        try:
            created = await self.backend.create_request(**entry.fields)
        except BackendUnavailable as exc:
            self._failed(entry, "delivery", exc.detail)
            return
        except BackendRejected as exc:
            # Retrying cannot help a request the server refuses; its citizen, told it was kept,
            # hears why (once: a refusal is not worth a retry schedule of its own).
            logger.error("outbox row %s (%s) refused by the Open311 server, dropped: HTTP %s %s",
                         entry.id, entry.fields.get("service_code"), exc.code, exc.description)
            if entry.sender_id:
                failure = await self._tell(entry.sender_id, _response("utter_report_rejected", reason=str(exc)))
                if failure:
                    logger.error("outbox row %s: the citizen could not be told of the refusal: %s", entry.id, failure)
            outbox.done(entry)
            return
        code = str(created["service_request_id"])
        try:
            agency = (await self.backend.get_request(code) or {}).get("agency_responsible")
        except (BackendUnavailable, BackendRejected) as exc:
            logger.warning("outbox row %s: %s stored, its agency unknown: %s", entry.id, code, exc)
            agency = None
        outbox.delivered(entry, code, agency)
        logger.info("outbox row %s delivered as %s (after %d failed attempts)", entry.id, code, entry.failures)

    async def _notify(self, entry: outbox.Entry) -> None:
        assert entry.code is not None
        if not entry.sender_id:
            outbox.done(entry)
            return
        failure = await self._tell(entry.sender_id, report_sent_text(entry.code, entry.agency))
        if failure:
            self._failed(entry, f"notification of {entry.code}", failure)
            return
        outbox.done(entry)
        logger.info("outbox row %s: the citizen was told %s", entry.id, entry.code)

    async def _tell(self, sender_id: str, text: str) -> Optional[str]:
        """Says `text` to the citizen on the channel they last used; why it failed, or None."""
        params = {"output_channel": "latest", "execute_side_effects": "true"}
        if self.settings.rasa_api_token:
            params["token"] = self.settings.rasa_api_token
        url = (f"http://127.0.0.1:{self.settings.rasa_port}/conversations/"
               f"{quote(sender_id, safe='')}/tracker/events?{urlencode(params)}")
        body = [{"event": "bot", "text": text}]
        try:
            async with self.http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=RASA_TIMEOUT_S)) as answer:
                status = answer.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return f"Rasa unreachable ({exc.__class__.__name__})"
        return None if status == 200 else f"Rasa answered HTTP {status}"

    def _failed(self, entry: outbox.Entry, step: str, cause: str) -> None:
        next_attempt = outbox.failed(entry, cause, self.settings.outbox_retry_s)
        logger.warning("outbox row %s: %s failed (%d in a row): %s; next attempt in %.0f s", entry.id, step,
                       entry.failures + 1, cause, next_attempt - time.time())


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Works until `stop` is set; a step in flight then is abandoned (its row given back)."""
    async with Open311Client.from_settings(settings) as backend, aiohttp.ClientSession() as http:
        worker = Worker(settings, backend, http)
        logger.info("outbox worker started (Open311 server %s)", backend.base_url)
        while not stop.is_set():
            work = asyncio.create_task(worker.step())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                break
            stopping.cancel()
            if not work.result():
                try:
                    await asyncio.wait_for(stop.wait(), IDLE_S)
                except asyncio.TimeoutError:
                    pass
    logger.info("outbox worker stopped")


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, stop)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_main(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
