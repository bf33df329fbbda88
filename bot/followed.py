"""Which conversation filed which report (DATA_DIR/followed.sqlite3), so that the notifier
(`bot/notifier.py`) can tell each change of a report to the citizen who filed it, on the channel
they used. Written where a report is filed: the action that submits it, and the outbox worker once
a report that waited is delivered.
"""
from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Optional

from bot import local_store

SCHEMA = ("CREATE TABLE IF NOT EXISTS followed (code TEXT PRIMARY KEY, sender_id TEXT NOT NULL, "
          "channel TEXT, filed_at REAL NOT NULL)")


@dataclass(frozen=True)
class Follower:
    code: str
    sender_id: str
    channel: Optional[str]
    filed_at: float  # Unix time


def _connect(path: Optional[Path]):
    return local_store.connect("followed.sqlite3", SCHEMA, path)


def record(code: str, sender_id: str, channel: Optional[str], path: Optional[Path] = None,
           now: Optional[float] = None) -> None:
    """Remembers that `sender_id` filed `code`; a repeat (the same report confirmed twice) keeps
    the first record."""
    with closing(_connect(path)) as db, db:
        db.execute("INSERT OR IGNORE INTO followed (code, sender_id, channel, filed_at) VALUES (?, ?, ?, ?)",
                   (code, sender_id, channel, time.time() if now is None else now))


def followers(codes: Iterable[str], path: Optional[Path] = None) -> Dict[str, Follower]:
    """Who filed each of `codes` (codes filed elsewhere are left out)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    with closing(_connect(path)) as db:
        rows = db.execute(f"SELECT code, sender_id, channel, filed_at FROM followed "
                          f"WHERE code IN ({', '.join('?' * len(wanted))})", wanted).fetchall()
    return {row[0]: Follower(*row) for row in rows}
