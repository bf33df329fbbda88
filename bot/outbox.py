"""Reports the backend could not take yet, kept on disk (DATA_DIR/outbox.sqlite3) until it has
them and their citizen has been told the code.

A row goes through two steps, each done by whoever claims it (`python -m bot.outbox_worker`):
deliver (the Open311 create, with the report's idempotency key) then notify (the code to the
citizen); `code` is set between the two, and the row leaves the outbox once notified. As in
FixMyStreet's send-reports, rows are claimed one at a time and a failed step counts its failures
and waits before the next attempt: at once, then after `delays[0]`, then every `delays[-1]`.

Rows are claimed as `bot.local_store.claim` explains: two workers never hold the same row, and a
dead worker's claim runs out.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from bot import local_store

SCHEMA = ("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, fields TEXT NOT NULL, "
          "created_at TEXT DEFAULT CURRENT_TIMESTAMP)")
# Added to the first schema, so an outbox written by an older version keeps its rows.
COLUMNS = {
    "code": "TEXT",  # the report's code once the backend has it
    "agency": "TEXT",
    "failures": "INTEGER NOT NULL DEFAULT 0",  # of the current step
    "last_error": "TEXT",  # what failed, for operators: never the report's content
    **local_store.CLAIM_COLUMNS,
}


@dataclass(frozen=True)
class Entry:
    """A claimed row: `code` is None until the backend has the report."""

    id: int
    fields: Dict[str, Any]
    code: Optional[str]
    agency: Optional[str]
    failures: int
    claim: str

    @property
    def sender_id(self) -> Optional[str]:
        return self.fields.get("account_id")


def _connect(path: Optional[Path] = None) -> sqlite3.Connection:
    db = local_store.connect("outbox.sqlite3", SCHEMA, path)
    present = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
    for name, declaration in COLUMNS.items():
        if name not in present:
            try:
                db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {declaration}")
            except sqlite3.OperationalError as exc:  # another process added it meanwhile
                if "duplicate column" not in str(exc):
                    raise
    return db


def save(fields: Dict[str, Any], path: Optional[Path] = None) -> int:
    """Keeps a report to deliver at once; its row id."""
    with closing(_connect(path)) as db, db:
        cursor = db.execute("INSERT INTO outbox (fields, next_attempt) VALUES (?, ?)",
                            (json.dumps(fields), time.time()))
        return int(cursor.lastrowid or 0)


def pending(path: Optional[Path] = None) -> List[Dict[str, Any]]:
    """Every row, oldest first, as a dict of its columns (`fields` decoded)."""
    with closing(_connect(path)) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(row) for row in db.execute("SELECT * FROM outbox ORDER BY id")]
    return [{**row, "fields": json.loads(row["fields"])} for row in rows]


def claim(lease_s: float, path: Optional[Path] = None, now: Optional[float] = None) -> Optional[Entry]:
    """The next row whose attempt is due and that nobody holds, now held for `lease_s`; None if
    there is none."""
    now = time.time() if now is None else now
    with closing(_connect(path)) as db:
        claimed = local_store.claim(db, "outbox", "id, fields, code, agency, failures", lease_s, now)
    if claimed is None:
        return None
    token, row = claimed
    return Entry(id=row[0], fields=json.loads(row[1]), code=row[2], agency=row[3], failures=row[4], claim=token)


def _update(entry: Entry, path: Optional[Path], **columns: Any) -> bool:
    """Sets `columns` and ends the claim, if `entry`'s claim still holds the row; else False."""
    with closing(_connect(path)) as db:
        return local_store.end_claim(db, "outbox", entry.id, entry.claim, **columns)


def delivered(entry: Entry, code: str, agency: Optional[str], path: Optional[Path] = None,
              now: Optional[float] = None) -> bool:
    """The backend has the report: the next step, telling the citizen, is due at once."""
    now = time.time() if now is None else now
    return _update(entry, path, code=code, agency=agency, failures=0, last_error=None, next_attempt=now)


def retry_delay(failures: int, delays: Sequence[float]) -> float:
    """Seconds to wait after the `failures`-th failure in a row (1, 2, ...)."""
    return delays[min(failures, len(delays)) - 1]


def failed(entry: Entry, error: str, delays: Sequence[float], path: Optional[Path] = None,
           now: Optional[float] = None) -> float:
    """Counts a failure of the current step; the Unix time of its next attempt."""
    now = time.time() if now is None else now
    failures = entry.failures + 1
    next_attempt = now + retry_delay(failures, delays)
    _update(entry, path, failures=failures, last_error=error[:500], next_attempt=next_attempt)
    return next_attempt


def release(entry: Entry, path: Optional[Path] = None) -> bool:
    """Gives the row back untouched (a worker stopping mid-step): it is due again at once."""
    return _update(entry, path)


def done(entry: Entry, path: Optional[Path] = None) -> bool:
    """The row leaves the outbox: its citizen was told, or the backend refused the report."""
    with closing(_connect(path)) as db, db:
        cursor = db.execute("DELETE FROM outbox WHERE id = ? AND claimed_by = ?", (entry.id, entry.claim))
        return cursor.rowcount == 1
