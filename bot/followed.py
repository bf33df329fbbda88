"""Which conversation filed which report (DATA_DIR/followed.sqlite3), and which conversations
follow a report someone else filed (the duplicate offer), so that the notifier (`bot/notifier.py`)
can tell each change of a report to each of them, on the channel they used. Written where a report
is filed: the action that submits it, and the outbox worker once a report that waited is
delivered; and where a citizen chooses to follow a nearby report instead of filing it again.
"""
from __future__ import annotations

import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from bot import local_store

SCHEMA = ("CREATE TABLE IF NOT EXISTS followed (code TEXT PRIMARY KEY, sender_id TEXT NOT NULL, "
          "channel TEXT, filed_at REAL NOT NULL)")
# Followers apart from filers: a report has one filer and any number of followers.
FOLLOWS = ("CREATE TABLE IF NOT EXISTS follows (code TEXT NOT NULL, sender_id TEXT NOT NULL, channel TEXT, "
           "followed_at REAL NOT NULL, PRIMARY KEY (code, sender_id))")


@dataclass(frozen=True)
class Follower:
    code: str
    sender_id: str
    channel: Optional[str]
    filed_at: float  # Unix time (for a follower, when they chose to follow)
    filer: bool = True  # False: follows a report someone else filed


def _connect(path: Optional[Path]):
    db = local_store.connect("followed.sqlite3", SCHEMA, path)
    db.execute(FOLLOWS)
    return db


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


def follow(code: str, sender_id: str, channel: Optional[str], path: Optional[Path] = None,
           now: Optional[float] = None) -> None:
    """Remembers that `sender_id` follows `code`, filed by someone else; a repeat changes nothing."""
    with closing(_connect(path)) as db, db:
        db.execute("INSERT OR IGNORE INTO follows (code, sender_id, channel, followed_at) VALUES (?, ?, ?, ?)",
                   (code, sender_id, channel, time.time() if now is None else now))


def everyone(codes: Iterable[str], path: Optional[Path] = None) -> Dict[str, List[Follower]]:
    """Whom to tell of each of `codes`: its filer first (if filed here), then its followers in the
    order they chose to follow (codes nobody here filed or follows are left out)."""
    wanted = sorted(set(codes))
    found: Dict[str, List[Follower]] = {code: [filer] for code, filer in followers(wanted, path).items()}
    if not wanted:
        return found
    with closing(_connect(path)) as db:
        rows = db.execute(f"SELECT code, sender_id, channel, followed_at FROM follows "
                          f"WHERE code IN ({', '.join('?' * len(wanted))}) ORDER BY followed_at, rowid",
                          wanted).fetchall()
    for code, sender_id, channel, followed_at in rows:
        filed = found.setdefault(code, [])
        if all(known.sender_id != sender_id for known in filed):
            filed.append(Follower(code, sender_id, channel, followed_at, filer=False))
    return found
