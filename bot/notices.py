"""What the notifier (`bot/notifier.py`) has to tell, told, or gave up telling
(DATA_DIR/notices.sqlite3, or the database of ASSISTANT_STORE_URL that every host's notifiers
share): one row per update of the Open311 server's feed that concerns a report filed through the
assistant and per citizen to tell, and, per server, how far the feed has been read.

A row is unique by (server, update_id, sender_id), so an update read again (the feed is read with an overlap,
by several notifiers, after a restart) is never told twice. Rows are claimed as
`bot.local_store.claim` explains, and a report's updates are told in their order: a row waits
while an older one of the same report is still to tell. A failed attempt waits as the outbox's do
(`bot.outbox.retry_delay`, OUTBOX_RETRY_S); after GIVE_UP_S the row is `failed` for good.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from sqlalchemy import Column, Float, Integer, MetaData, Table, Text, UniqueConstraint, inspect, text
from sqlalchemy.engine import Connection

from bot import local_store
from bot.outbox import retry_delay

FILENAME = "notices.sqlite3"
# An update is told once to each citizen of the report: its filer and those who follow it.
ONCE_PER_CITIZEN = ("server", "update_id", "sender_id")
metadata = MetaData()
NOTICES = Table(
    "notices", metadata,
    Column("id", Integer, primary_key=True),
    Column("server", Text, nullable=False),
    Column("update_id", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("sender_id", Text, nullable=False),
    Column("item", Text, nullable=False),
    Column("state", Text, nullable=False, server_default="pending"),  # pending, sent, failed (given up)
    Column("said", Integer, nullable=False, server_default="0"),  # the message went out; only the follow-up is left
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("seen_at", Float, nullable=False),
    *local_store.claim_columns(),
    UniqueConstraint(*ONCE_PER_CITIZEN),
)
Table("cursors", metadata, Column("server", Text, primary_key=True), Column("read_until", Text, nullable=False))
# A citizen out of reach (who blocked the bot, or silent on Zalo for 48 hours) is tried this long,
# in case they come back; then the update is given up.
GIVE_UP_S = 7 * 24 * 3600
# Rows told or given up are kept this long: longer than any overlap the feed is read with.
KEEP_S = 30 * 24 * 3600
# A report's older update still to tell a citizen holds its newer ones to that citizen back (and
# nobody else's: one who blocked the bot does not stop the report's other followers).
IN_ORDER = ("due.state = 'pending' AND NOT EXISTS (SELECT 1 FROM notices AS older WHERE older.state = 'pending' "
            "AND older.server = due.server AND older.code = due.code AND older.sender_id = due.sender_id "
            "AND older.id < due.id)")


def _once_per_citizen(db: Connection) -> None:
    """A SQLite file written before reports had followers is unique by update alone: rebuilt once,
    rows kept, so that an update can be told to each citizen of the report."""
    if any(set(unique["column_names"]) == set(ONCE_PER_CITIZEN)
           for unique in inspect(db).get_unique_constraints("notices")):
        return
    db.execute(text("ALTER TABLE notices RENAME TO notices_before_followers"))
    NOTICES.create(db)
    db.execute(text("INSERT INTO notices SELECT * FROM notices_before_followers"))
    db.execute(text("DROP TABLE notices_before_followers"))


STORE = local_store.Store(FILENAME, metadata, upgrade=_once_per_citizen)


@dataclass(frozen=True)
class Notice:
    """A claimed row: the feed's item, to tell `sender_id`."""

    id: int
    update_id: str
    sender_id: str
    item: Dict[str, Any]
    said: bool
    failures: int
    seen_at: float
    claim: str
    sending: bool  # an earlier attempt's message (or follow-up) may have gone out: see bot/proactive.py


def add(server: str, updates: Iterable[Tuple[Dict[str, Any], str]], path: Optional[Path] = None,
        now: Optional[float] = None) -> int:
    """Keeps each (feed item, sender_id) not kept yet, due at once, in the order given; how many
    were new."""
    now = time.time() if now is None else now
    with STORE.engine(path).begin() as db:
        db.execute(text("DELETE FROM notices WHERE state != 'pending' AND seen_at < :before"),
                   {"before": now - KEEP_S})
        added = 0
        for item, sender_id in updates:
            added += db.execute(text(
                "INSERT INTO notices (server, update_id, code, sender_id, item, seen_at, next_attempt) "
                "VALUES (:server, :update_id, :code, :sender_id, :item, :now, :now) ON CONFLICT DO NOTHING"
            ), {"server": server, "update_id": str(item["update_id"]), "code": str(item["service_request_id"]),
                "sender_id": sender_id, "item": json.dumps(item, ensure_ascii=False), "now": now}).rowcount
        return added


def read_until(server: str, path: Optional[Path] = None) -> Optional[datetime]:
    """The time of the newest update read from `server`'s feed, if any was."""
    with STORE.engine(path).connect() as db:
        found = db.execute(text("SELECT read_until FROM cursors WHERE server = :server"), {"server": server}).scalar()
    return datetime.fromisoformat(found) if found else None


def advance(server: str, moment: datetime, path: Optional[Path] = None) -> None:
    """Records that `server`'s feed was read up to `moment` (timezone-aware); never goes back."""
    values = {"server": server, "moment": moment.isoformat()}
    with STORE.engine(path).begin() as db:
        if db.execute(text("INSERT INTO cursors (server, read_until) VALUES (:server, :moment) "
                           "ON CONFLICT DO NOTHING"), values).rowcount:
            return
        current = db.execute(text(f"SELECT read_until FROM cursors WHERE server = :server{local_store.for_update(db)}"),
                             values).scalar_one()
        if datetime.fromisoformat(current) < moment:
            db.execute(text("UPDATE cursors SET read_until = :moment WHERE server = :server"), values)


def claim(lease_s: float, path: Optional[Path] = None, now: Optional[float] = None) -> Optional[Notice]:
    """The next update due to tell that nobody holds, now held for `lease_s`; None if none."""
    now = time.time() if now is None else now
    claimed = local_store.claim(STORE.engine(path), "notices",
                                "id, update_id, sender_id, item, said, failures, seen_at, sending", lease_s, now,
                                IN_ORDER)
    if claimed is None:
        return None
    token, row = claimed
    return Notice(id=row[0], update_id=row[1], sender_id=row[2], item=json.loads(row[3]), said=bool(row[4]),
                  failures=row[5], seen_at=row[6], claim=token, sending=bool(row[7]))


def sending(notice: Notice, path: Optional[Path] = None) -> bool:
    """The message (or, once said, its follow-up) is on its way."""
    return local_store.sending(STORE.engine(path), "notices", notice.id, notice.claim)


def said(notice: Notice, path: Optional[Path] = None) -> bool:
    """The message went out (the claim goes on): a retry only does what follows it."""
    with STORE.engine(path).begin() as db:
        return db.execute(text("UPDATE notices SET said = 1, sending = 0 WHERE id = :id AND claimed_by = :claim"),
                          {"id": notice.id, "claim": notice.claim}).rowcount == 1


def sent(notice: Notice, path: Optional[Path] = None) -> bool:
    return local_store.end_claim(STORE.engine(path), "notices", notice.id, notice.claim, state="sent",
                                 sending=0, last_error=None)


def failed(notice: Notice, error: str, delays: Sequence[float], path: Optional[Path] = None,
           now: Optional[float] = None) -> Optional[float]:
    """Counts a failed attempt: the Unix time of the next one, or None when the row is given up."""
    now = time.time() if now is None else now
    failures = notice.failures + 1
    next_attempt = now + retry_delay(failures, delays)
    give_up = next_attempt - notice.seen_at > GIVE_UP_S
    local_store.end_claim(STORE.engine(path), "notices", notice.id, notice.claim, failures=failures,
                          last_error=error[:500], next_attempt=next_attempt, state="failed" if give_up else "pending")
    return None if give_up else next_attempt


def release(notice: Notice, path: Optional[Path] = None) -> bool:
    """Gives the row back untouched (a notifier stopping mid-step): it is due again at once."""
    return local_store.end_claim(STORE.engine(path), "notices", notice.id, notice.claim)


def rows(path: Optional[Path] = None) -> List[Dict[str, Any]]:
    """Every row, oldest first, as a dict of its columns (`item` decoded): the notifier's state."""
    with STORE.engine(path).connect() as db:
        found = [dict(row) for row in db.execute(text("SELECT * FROM notices ORDER BY id")).mappings()]
    return [{**row, "item": json.loads(row["item"])} for row in found]
