"""Reports the backend could not take yet, kept (DATA_DIR/outbox.sqlite3, or the database of
ASSISTANT_STORE_URL) until it has them and their citizen has been told the code.

A row goes through two steps, each done by whoever claims it (`python -m bot.outbox_worker`):
deliver (the Open311 create, with the report's idempotency key) then notify (the code to the
citizen); `code` is set between the two, and the row leaves the outbox once notified. As in
FixMyStreet's send-reports, rows are claimed one at a time and a failed step counts its failures
and waits before the next attempt: at once, then after `delays[0]`, then every `delays[-1]`.

Rows are claimed as `bot.local_store.claim` explains: two workers never hold the same row, and a
dead worker's claim runs out, on one host (SQLite) or on several sharing the database.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from sqlalchemy import Column, Integer, MetaData, Table, Text, text

from bot import local_store

metadata = MetaData()
# Columns after `created_at` came later: an outbox file written by an older version gets them and
# keeps its rows (bot/local_store.py).
Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("fields", Text, nullable=False),
    Column("created_at", Text, server_default=text("CURRENT_TIMESTAMP")),
    Column("code", Text),  # the report's code once the backend has it
    Column("agency", Text),
    Column("failures", Integer, nullable=False, server_default="0"),  # of the current step
    Column("last_error", Text),  # what failed, for operators: never the report's content
    *local_store.claim_columns(),
)
STORE = local_store.Store("outbox.sqlite3", metadata)


@dataclass(frozen=True)
class Entry:
    """A claimed row: `code` is None until the backend has the report."""

    id: int
    fields: Dict[str, Any]
    code: Optional[str]
    agency: Optional[str]
    failures: int
    claim: str
    sending: bool  # an earlier attempt's message may have gone out: see bot/proactive.py

    @property
    def sender_id(self) -> Optional[str]:
        return self.fields.get("account_id")


def save(fields: Dict[str, Any], path: Optional[Path] = None) -> int:
    """Keeps a report to deliver at once; its row id."""
    with STORE.engine(path).begin() as db:
        return int(db.execute(text("INSERT INTO outbox (fields, next_attempt) VALUES (:fields, :now) RETURNING id"),
                              {"fields": json.dumps(fields), "now": time.time()}).scalar_one())


def pending(path: Optional[Path] = None) -> List[Dict[str, Any]]:
    """Every row, oldest first, as a dict of its columns (`fields` decoded)."""
    with STORE.engine(path).connect() as db:
        rows = [dict(row) for row in db.execute(text("SELECT * FROM outbox ORDER BY id")).mappings()]
    return [{**row, "fields": json.loads(row["fields"])} for row in rows]


def claim(lease_s: float, path: Optional[Path] = None, now: Optional[float] = None) -> Optional[Entry]:
    """The next row whose attempt is due and that nobody holds, now held for `lease_s`; None if
    there is none."""
    now = time.time() if now is None else now
    claimed = local_store.claim(STORE.engine(path), "outbox", "id, fields, code, agency, failures, sending",
                                lease_s, now)
    if claimed is None:
        return None
    token, row = claimed
    return Entry(id=row[0], fields=json.loads(row[1]), code=row[2], agency=row[3], failures=row[4], claim=token,
                 sending=bool(row[5]))


def _update(entry: Entry, path: Optional[Path], **columns: Any) -> bool:
    """Sets `columns` and ends the claim, if `entry`'s claim still holds the row; else False."""
    return local_store.end_claim(STORE.engine(path), "outbox", entry.id, entry.claim, **columns)


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


def sending(entry: Entry, path: Optional[Path] = None) -> bool:
    """The citizen's message is on its way."""
    return local_store.sending(STORE.engine(path), "outbox", entry.id, entry.claim)


def release(entry: Entry, path: Optional[Path] = None) -> bool:
    """Gives the row back untouched (a worker stopping mid-step): it is due again at once."""
    return _update(entry, path)


def done(entry: Entry, path: Optional[Path] = None) -> bool:
    """The row leaves the outbox: its citizen was told, or the backend refused the report."""
    with STORE.engine(path).begin() as db:
        return db.execute(text("DELETE FROM outbox WHERE id = :id AND claimed_by = :claim"),
                          {"id": entry.id, "claim": entry.claim}).rowcount == 1
