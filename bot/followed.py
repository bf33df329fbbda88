"""Which conversation filed which report, and which conversations follow a report someone else
filed (the duplicate offer), so that the notifier (`bot/notifier.py`) can tell each change of a
report to each of them, on the channel they used (DATA_DIR/followed.sqlite3, or the database of
ASSISTANT_STORE_URL). Written where a report is filed: the action that submits it, and the outbox
worker once a report that waited is delivered; and where a citizen chooses to follow a nearby
report instead of filing it again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from sqlalchemy import Column, Float, MetaData, Table, Text, bindparam, text

from bot import local_store

metadata = MetaData()
Table("followed", metadata, Column("code", Text, primary_key=True), Column("sender_id", Text, nullable=False),
      Column("channel", Text), Column("filed_at", Float, nullable=False))
# Followers apart from filers: a report has one filer and any number of followers.
Table("follows", metadata, Column("code", Text, primary_key=True), Column("sender_id", Text, primary_key=True),
      Column("channel", Text), Column("followed_at", Float, nullable=False))
STORE = local_store.Store("followed.sqlite3", metadata)


@dataclass(frozen=True)
class Follower:
    code: str
    sender_id: str
    channel: Optional[str]
    filed_at: float  # Unix time (for a follower, when they chose to follow)
    filer: bool = True  # False: follows a report someone else filed


def record(code: str, sender_id: str, channel: Optional[str], path: Optional[Path] = None,
           now: Optional[float] = None) -> None:
    """Remembers that `sender_id` filed `code`; a repeat (the same report confirmed twice) keeps
    the first record."""
    _keep("followed", "filed_at", code, sender_id, channel, path, now)


def followers(codes: Iterable[str], path: Optional[Path] = None) -> Dict[str, Follower]:
    """Who filed each of `codes` (codes filed elsewhere are left out)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    query = text("SELECT code, sender_id, channel, filed_at FROM followed WHERE code IN :codes")
    with STORE.engine(path).connect() as db:
        rows = db.execute(query.bindparams(bindparam("codes", expanding=True)), {"codes": wanted}).all()
    return {row[0]: Follower(*row) for row in rows}


def follow(code: str, sender_id: str, channel: Optional[str], path: Optional[Path] = None,
           now: Optional[float] = None) -> None:
    """Remembers that `sender_id` follows `code`, filed by someone else; a repeat changes nothing."""
    _keep("follows", "followed_at", code, sender_id, channel, path, now)


def _keep(table: str, moment: str, code: str, sender_id: str, channel: Optional[str], path: Optional[Path],
          now: Optional[float]) -> None:
    """Inserts the row unless its key is there already."""
    values = {"code": code, "sender_id": sender_id, "channel": channel, "now": time.time() if now is None else now}
    with STORE.engine(path).begin() as db:
        db.execute(text(f"INSERT INTO {table} (code, sender_id, channel, {moment}) "
                        "VALUES (:code, :sender_id, :channel, :now) ON CONFLICT DO NOTHING"), values)


def everyone(codes: Iterable[str], path: Optional[Path] = None) -> Dict[str, List[Follower]]:
    """Whom to tell of each of `codes`: its filer first (if filed here), then its followers in the
    order they chose to follow (codes nobody here filed or follows are left out)."""
    wanted = sorted(set(codes))
    found: Dict[str, List[Follower]] = {code: [filer] for code, filer in followers(wanted, path).items()}
    if not wanted:
        return found
    # Followers who chose at the same moment (a clock's tick) in a fixed order.
    query = text("SELECT code, sender_id, channel, followed_at FROM follows WHERE code IN :codes "
                 "ORDER BY followed_at, sender_id")
    with STORE.engine(path).connect() as db:
        rows = db.execute(query.bindparams(bindparam("codes", expanding=True)), {"codes": wanted}).all()
    for code, sender_id, channel, followed_at in rows:
        filed = found.setdefault(code, [])
        if all(known.sender_id != sender_id for known in filed):
            filed.append(Follower(code, sender_id, channel, followed_at, filer=False))
    return found
