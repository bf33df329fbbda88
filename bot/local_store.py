"""Small SQLite files under DATA_DIR for what the assistant's processes must keep across restarts
(the outbox of unsent reports, the notifier's deliveries, the messages it did not understand), and
the one way their workers share rows: a claim.

A claim is a conditional UPDATE inside an IMMEDIATE transaction (SQLite's single writer), so two
workers never hold the same row; it is a lease, so a worker that died holding a row gives it up
when the lease runs out. Every later write names the claim (`end_claim`), so a worker whose lease
ran out cannot overwrite what the next one did. A claimable table has the columns `id`,
`next_attempt` (Unix time it is due) and `claimed_by`, `claimed_until` (see CLAIM_COLUMNS).
"""
from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any, Optional, Tuple

from bot.settings import get_settings

CLAIM_COLUMNS = {
    "next_attempt": "REAL NOT NULL DEFAULT 0",  # Unix time
    "claimed_by": "TEXT",
    "claimed_until": "REAL NOT NULL DEFAULT 0",  # Unix time the claim's lease runs out
}


def connect(filename: str, schema: str, path: Optional[Path] = None) -> sqlite3.Connection:
    """A connection to `path` (default DATA_DIR/filename), its table created if missing."""
    path = path or get_settings().data_dir / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=10)
    connection.execute(schema)
    return connection


def claim(db: sqlite3.Connection, table: str, returning: str, lease_s: float, now: float,
          condition: str = "1") -> Optional[Tuple[str, Tuple[Any, ...]]]:
    """Holds for `lease_s` the next row of `table` that is due, that nobody holds and that meets
    `condition` (SQL on the row, named `due`): the claim's token and the `returning` columns;
    None if there is none. Rows are taken by `next_attempt`, then `id`."""
    token = uuid.uuid4().hex
    with db:
        db.execute("BEGIN IMMEDIATE")
        rows = db.execute(
            f"UPDATE {table} SET claimed_by = ?, claimed_until = ? "
            f"WHERE id = (SELECT id FROM {table} AS due WHERE due.next_attempt <= ? AND due.claimed_until <= ? "
            f"            AND ({condition}) ORDER BY due.next_attempt, due.id LIMIT 1) "
            f"AND claimed_until <= ? RETURNING {returning}",
            (token, now + lease_s, now, now, now),
        ).fetchall()
    return (token, tuple(rows[0])) if rows else None


def end_claim(db: sqlite3.Connection, table: str, row_id: int, token: str, **columns: Any) -> bool:
    """Sets `columns` and ends the claim `token`, if it still holds the row; else False."""
    assignments = "".join(f"{name} = ?, " for name in columns)
    with db:
        cursor = db.execute(f"UPDATE {table} SET {assignments}claimed_by = NULL, claimed_until = 0 "
                            "WHERE id = ? AND claimed_by = ?", (*columns.values(), row_id, token))
        return cursor.rowcount == 1
