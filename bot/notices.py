"""What the notifier (`bot/notifier.py`) has to tell, told, or gave up telling
(DATA_DIR/notices.sqlite3): one row per update of the Open311 server's feed that concerns a report
filed through the assistant, and, per server, how far the feed has been read.

A row is unique by (server, update_id), so an update read again (the feed is read with an overlap,
by several notifiers, after a restart) is never told twice. Rows are claimed as
`bot.local_store.claim` explains, and a report's updates are told in their order: a row waits
while an older one of the same report is still to tell. A failed attempt waits as the outbox's do
(`bot.outbox.retry_delay`, OUTBOX_RETRY_S); after GIVE_UP_S the row is `failed` for good.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from bot import local_store
from bot.outbox import retry_delay

FILENAME = "notices.sqlite3"
# An update is told once to each citizen of the report: its filer and those who follow it.
ONCE_PER_CITIZEN = "UNIQUE (server, update_id, sender_id)"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS notices (id INTEGER PRIMARY KEY, server TEXT NOT NULL, update_id TEXT NOT NULL, "
    "code TEXT NOT NULL, sender_id TEXT NOT NULL, item TEXT NOT NULL, "
    "state TEXT NOT NULL DEFAULT 'pending', "  # pending, sent, failed (given up)
    "said INTEGER NOT NULL DEFAULT 0, "  # the message went out; only the follow-up is left
    "failures INTEGER NOT NULL DEFAULT 0, last_error TEXT, seen_at REAL NOT NULL, "
    + ", ".join(f"{name} {declaration}" for name, declaration in local_store.CLAIM_COLUMNS.items())
    + f", {ONCE_PER_CITIZEN})"
)
CURSORS = "CREATE TABLE IF NOT EXISTS cursors (server TEXT PRIMARY KEY, read_until TEXT NOT NULL)"
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


def _connect(path: Optional[Path]) -> sqlite3.Connection:
    db = local_store.connect(FILENAME, SCHEMA, path)
    db.execute(CURSORS)
    _once_per_citizen(db)
    return db


def _once_per_citizen(db: sqlite3.Connection) -> None:
    """A file written before reports had followers is unique by update alone: rebuilt once,
    rows kept, so that an update can be told to each citizen of the report."""
    def table() -> str:
        return db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'notices'").fetchone()[0]

    if ONCE_PER_CITIZEN in table():
        return
    with db:
        db.execute("BEGIN IMMEDIATE")
        if ONCE_PER_CITIZEN in table():  # another process rebuilt it meanwhile
            return
        db.execute("ALTER TABLE notices RENAME TO notices_before_followers")
        db.execute(SCHEMA)
        db.execute("INSERT INTO notices SELECT * FROM notices_before_followers")
        db.execute("DROP TABLE notices_before_followers")


def add(server: str, updates: Iterable[Tuple[Dict[str, Any], str]], path: Optional[Path] = None,
        now: Optional[float] = None) -> int:
    """Keeps each (feed item, sender_id) not kept yet, due at once, in the order given; how many
    were new."""
    now = time.time() if now is None else now
    with closing(_connect(path)) as db, db:
        db.execute("DELETE FROM notices WHERE state != 'pending' AND seen_at < ?", (now - KEEP_S,))
        added = 0
        for item, sender_id in updates:
            cursor = db.execute(
                "INSERT OR IGNORE INTO notices (server, update_id, code, sender_id, item, seen_at, next_attempt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (server, str(item["update_id"]), str(item["service_request_id"]), sender_id,
                 json.dumps(item, ensure_ascii=False), now, now),
            )
            added += cursor.rowcount
        return added


def read_until(server: str, path: Optional[Path] = None) -> Optional[datetime]:
    """The time of the newest update read from `server`'s feed, if any was."""
    with closing(_connect(path)) as db:
        row = db.execute("SELECT read_until FROM cursors WHERE server = ?", (server,)).fetchone()
    return datetime.fromisoformat(row[0]) if row else None


def advance(server: str, moment: datetime, path: Optional[Path] = None) -> None:
    """Records that `server`'s feed was read up to `moment` (timezone-aware); never goes back."""
    with closing(_connect(path)) as db, db:
        db.execute("BEGIN IMMEDIATE")
        current = db.execute("SELECT read_until FROM cursors WHERE server = ?", (server,)).fetchone()
        if current is None or datetime.fromisoformat(current[0]) < moment:
            db.execute("INSERT OR REPLACE INTO cursors (server, read_until) VALUES (?, ?)",
                       (server, moment.isoformat()))


def claim(lease_s: float, path: Optional[Path] = None, now: Optional[float] = None) -> Optional[Notice]:
    """The next update due to tell that nobody holds, now held for `lease_s`; None if none."""
    now = time.time() if now is None else now
    with closing(_connect(path)) as db:
        claimed = local_store.claim(db, "notices", "id, update_id, sender_id, item, said, failures, seen_at",
                                    lease_s, now, IN_ORDER)
    if claimed is None:
        return None
    token, row = claimed
    return Notice(id=row[0], update_id=row[1], sender_id=row[2], item=json.loads(row[3]), said=bool(row[4]),
                  failures=row[5], seen_at=row[6], claim=token)


def said(notice: Notice, path: Optional[Path] = None) -> bool:
    """The message went out (the claim goes on): a retry only does what follows it."""
    with closing(_connect(path)) as db, db:
        return db.execute("UPDATE notices SET said = 1 WHERE id = ? AND claimed_by = ?",
                          (notice.id, notice.claim)).rowcount == 1


def sent(notice: Notice, path: Optional[Path] = None) -> bool:
    with closing(_connect(path)) as db:
        return local_store.end_claim(db, "notices", notice.id, notice.claim, state="sent", last_error=None)


def failed(notice: Notice, error: str, delays: Sequence[float], path: Optional[Path] = None,
           now: Optional[float] = None) -> Optional[float]:
    """Counts a failed attempt: the Unix time of the next one, or None when the row is given up."""
    now = time.time() if now is None else now
    failures = notice.failures + 1
    next_attempt = now + retry_delay(failures, delays)
    give_up = next_attempt - notice.seen_at > GIVE_UP_S
    with closing(_connect(path)) as db:
        local_store.end_claim(db, "notices", notice.id, notice.claim, failures=failures, last_error=error[:500],
                              next_attempt=next_attempt, state="failed" if give_up else "pending")
    return None if give_up else next_attempt


def release(notice: Notice, path: Optional[Path] = None) -> bool:
    """Gives the row back untouched (a notifier stopping mid-step): it is due again at once."""
    with closing(_connect(path)) as db:
        return local_store.end_claim(db, "notices", notice.id, notice.claim)


def rows(path: Optional[Path] = None) -> List[Dict[str, Any]]:
    """Every row, oldest first, as a dict of its columns (`item` decoded): the notifier's state."""
    with closing(_connect(path)) as db:
        db.row_factory = sqlite3.Row
        found = [dict(row) for row in db.execute("SELECT * FROM notices ORDER BY id")]
    return [{**row, "item": json.loads(row["item"])} for row in found]
