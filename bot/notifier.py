"""`python -m bot.notifier`, started by `make run`: tells citizens of every change to their reports.

Every NOTIFY_INTERVAL_S it reads the updates feed of the Open311 server the assistant reports to
(`servicerequestupdates.json`, FixMyStreet's extension, so any server offering it will do) from
where it stopped (`bot/notices.py` keeps the cursor, read again with an overlap of OVERLAP so that
a change stored late is not missed), keeps each update of a report filed or followed through the
assistant (`bot/followed.py`), and tells it to the conversation that filed the report and to those
that follow it, each on the channel it came from (`bot/proactive.py`): the code, the new state in
plain words, the agency's note and the after-photo. A resolved report then runs its filer's
conversation on with the intent `EXTERNAL_report_resolved` (asked whether it is really fixed).

Each update is told once to each citizen: rows are unique by update id and citizen, and claimed
with a lease, so a restart or a second notifier sends nothing twice; a message (or the question
after it) that Rasa may have taken without its answer reaching the notifier (a timeout, a notifier
killed) is looked for in the conversation before it is sent again. A failed attempt (Rasa
down, or the channel could not send: a citizen who blocked the bot, Zalo outside its 48 hours) is
counted, logged with its cause and tried again on the outbox's schedule (OUTBOX_RETRY_S), without
holding back the other citizens. Logs name updates and codes, never who filed or follows them.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

import aiohttp

from bot import followed, metrics, notices, proactive, report
from bot.open311_client import BackendRejected, BackendUnavailable, Open311Client
from bot.outbox_worker import main, serve_metrics, work
from bot.settings import Settings

logger = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=10)
RESOLVED_INTENT = "EXTERNAL_report_resolved"
# Marks a kept feed item told to a citizen who follows the report without having filed it.
FOLLOWER = "told_to_follower"
# The feed's `kind` (an extension of the bundled backend) of a report its filer said is not fixed:
# they heard so in their conversation; those who follow it hear of it here.
REOPEN = "reopen"
REASSIGN = "reassign"


def notice_message(item: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
    """What the citizen is told of a feed item: the text and the bot event's `data` (the photo)."""
    code = item["service_request_id"]
    note = str(item.get("description") or "").strip()
    if item.get("kind") == REOPEN:
        lines = [f"Phản ánh {code} được mở lại và chuyển lại cho đơn vị xử lý."] + ([note] if note else [])
    elif item.get("kind") == REASSIGN and item.get("agency_responsible"):
        lines = [f"Phản ánh {code} của bạn đã được chuyển cho {item['agency_responsible']} xử lý."]
        if note:
            lines.append(f"Lý do: {note}")
    else:
        words = report.status_text({"state": item.get("state"), "status": item.get("status")})
        lines = [f"Phản ánh {code} của bạn có cập nhật mới: {words}."]
        if note:
            lines.append(f"Ghi chú của đơn vị xử lý: {note}")
    media_url = item.get("media_url")
    if media_url:
        lines.append("Ảnh kết quả xử lý ở dưới.")
    return "\n".join(lines), ({"image": media_url} if media_url else {})


def _moment(item: Dict[str, Any]) -> Optional[datetime]:
    return report.parse_time(str(item.get("updated_datetime") or ""))


class Notifier:
    """Reads the feed (`poll`) and tells one update at a time (`step`)."""

    def __init__(self, settings: Settings, backend: Open311Client, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.backend = backend
        self.server = backend.base_url
        self.http = http
        # A message and its follow-up, each looked for first, over again: a dead notifier's row waits that long.
        self.lease_s = 6 * settings.rasa_timeout_s

    async def poll(self, now: Optional[datetime] = None) -> bool:
        """Keeps the feed's new updates of followed reports; always False (nothing else to do until
        the next interval)."""
        now = now or datetime.now(timezone.utc)
        start = (notices.read_until(self.server) or now) - OVERLAP
        try:
            items = await self.backend.updates(start)
        except (BackendUnavailable, BackendRejected) as exc:
            logger.warning("updates feed of %s not read: %s", self.server,
                           exc.detail if isinstance(exc, BackendUnavailable) else f"HTTP {exc.code} {exc.description}")
            return False
        usable = [item for item in items if item.get("update_id") is not None and item.get("service_request_id")
                  and _moment(item) is not None]
        who = followed.everyone(str(item["service_request_id"]) for item in usable)
        # Those who follow a report they did not file hear of it too, but are not asked to rate it.
        mine: List[Tuple[Dict[str, Any], str]] = [
            (item if citizen.filer else {**item, FOLLOWER: True}, citizen.sender_id)
            for item in usable for citizen in who.get(str(item["service_request_id"]), [])
            if not (citizen.filer and item.get("kind") == REOPEN)
        ]
        added = notices.add(self.server, mine)
        if usable:
            notices.advance(self.server, max(moment for item in usable if (moment := _moment(item))))
        if added:
            logger.info("updates feed: %d new updates to tell (%d read)", added, len(items))
        return False

    async def step(self) -> bool:
        """Tells the next due update; False when none is due."""
        notice = notices.claim(self.lease_s)
        if notice is None:
            return False
        try:
            failure = await self._tell(notice)
        except asyncio.CancelledError:
            notices.release(notice)  # stopping: told by whoever claims it next
            raise
        except Exception as exc:  # a bug must not stop the updates of every other report
            logger.exception("update %s: unexpected failure", notice.update_id)
            failure = exc.__class__.__name__
        code = notice.item["service_request_id"]
        channel = metrics.channel_of(notice.sender_id)
        if failure is None:
            notices.sent(notice)
            metrics.NOTIFICATIONS.labels(channel, "sent").inc()
            logger.info("update %s of %s told to its citizen", notice.update_id, code)
            return True
        next_attempt = notices.failed(notice, failure, self.settings.outbox_retry_s)
        metrics.NOTIFICATIONS.labels(channel, "given_up" if next_attempt is None else "failed").inc()
        if next_attempt is None:
            logger.error("update %s of %s given up after %d failed attempts: %s", notice.update_id, code,
                         notice.failures + 1, failure)
        else:
            logger.warning("update %s of %s not told (%d failed attempts): %s; next attempt in %.0f s",
                           notice.update_id, code, notice.failures + 1, failure, next_attempt - time.time())
        return True

    async def _tell(self, notice: notices.Notice) -> Optional[str]:
        """Why telling failed, or None."""
        key = f"notice:{notice.update_id}"
        if not notice.said:
            text, data = notice_message(notice.item)
            notices.sending(notice)
            failure = await proactive.say_once(self.http, self.settings, notice.sender_id, key, text, data,
                                               maybe_said=notice.sending)
            if failure:
                return failure
            notices.said(notice)
        if notice.item.get("state") == "resolved" and not notice.item.get(FOLLOWER):
            notices.sending(notice)
            # Said at an earlier attempt that was sending: that attempt's question may have run.
            return await proactive.trigger_once(self.http, self.settings, notice.sender_id, key, RESOLVED_INTENT,
                                                {"report_id": notice.item["service_request_id"]},
                                                maybe_triggered=notice.said and notice.sending)
        return None


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Reads the feed and tells its updates until `stop` is set."""
    serve_metrics(settings.notifier_metrics_port, settings.host)
    async with Open311Client.from_settings(settings) as backend, aiohttp.ClientSession() as http:
        notifier = Notifier(settings, backend, http)
        logger.info("notifier started (Open311 server %s, every %g s)", backend.base_url, settings.notify_interval_s)
        # A notice half told when asked to stop is finished (it is bounded by Rasa's timeouts).
        await asyncio.gather(work(notifier.poll, stop, settings.notify_interval_s),
                             work(notifier.step, stop, finish=True))
    logger.info("notifier stopped")


if __name__ == "__main__":
    sys.exit(main(run))
