"""`DATA_DIR/admin.sqlite3`: the admins' inbox, how far it has read the tracker store, and the
audit log of their decisions. Never a sender id: a message is kept by where it sits in the
tracker store (`source`, the event's row id and time), which names no one.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Optional

from bot import local_store

FILENAME = "admin.sqlite3"
STATUSES = ("open", "labelled", "discarded")

# One row per message and reason it is in the inbox: a message both unsure and corrected is
# there twice, counted once (`source`).
INBOX = (
    "CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, source TEXT NOT NULL, reason TEXT NOT NULL, "
    "key TEXT NOT NULL, text TEXT NOT NULL, guess TEXT NOT NULL, hint TEXT, previous TEXT, channel TEXT, "
    "seen_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open', UNIQUE (source, reason))"
)
OTHERS = (
    "CREATE INDEX IF NOT EXISTS inbox_key ON inbox (key, status)",
    "CREATE TABLE IF NOT EXISTS scan_cursor (store TEXT PRIMARY KEY, last_event_id INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, at TEXT NOT NULL, who TEXT NOT NULL, "
    "action TEXT NOT NULL, detail TEXT NOT NULL)",
    # A group's last label and last discard (a labelled wording that came back may be thrown
    # away), shown with its messages of that status; the line a label appended (`file`, `line`,
    # exactly as written) so that an undo removes that line and nothing else.
    "CREATE TABLE IF NOT EXISTS decisions (key TEXT NOT NULL, status TEXT NOT NULL, intent TEXT, "
    "category TEXT, address TEXT, by TEXT NOT NULL, at TEXT NOT NULL, file TEXT, line TEXT, "
    "PRIMARY KEY (key, status))",
)


def connect(path: Optional[Path] = None) -> sqlite3.Connection:
    db = local_store.connect(FILENAME, INBOX, path)
    for statement in OTHERS:
        db.execute(statement)
    return db
