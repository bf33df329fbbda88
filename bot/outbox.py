"""Reports the backend could not take yet, kept on disk until it can.

A citizen who confirmed a report must never lose it because the routing backend was down: the
action saves the request here and every later action that reaches the backend sends what waits.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from bot import local_store
from bot.open311_client import BackendRejected, BackendUnavailable, Open311Client

logger = logging.getLogger(__name__)


SCHEMA = ("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, fields TEXT NOT NULL, "
          "created_at TEXT DEFAULT CURRENT_TIMESTAMP)")


def _connect(path: Optional[Path] = None) -> sqlite3.Connection:
    return local_store.connect("outbox.sqlite3", SCHEMA, path)


def save(fields: Dict[str, Any], path: Optional[Path] = None) -> None:
    with closing(_connect(path)) as db, db:
        db.execute("INSERT INTO outbox (fields) VALUES (?)", (json.dumps(fields),))


def pending(path: Optional[Path] = None) -> List[Tuple[int, Dict[str, Any]]]:
    with closing(_connect(path)) as db:
        return [(row[0], json.loads(row[1])) for row in db.execute("SELECT id, fields FROM outbox ORDER BY id")]


def _remove(entry_id: int, path: Optional[Path]) -> None:
    with closing(_connect(path)) as db, db:
        db.execute("DELETE FROM outbox WHERE id = ?", (entry_id,))


async def flush(client: Open311Client, path: Optional[Path] = None) -> List[str]:
    """Sends what waits, oldest first; returns the report codes the backend gave."""
    codes = []
    for entry_id, fields in pending(path):
        try:
            created = await client.create_request(**fields)
        except BackendUnavailable:
            break  # still down: keep everything for the next try
        except BackendRejected as exc:
            # Retrying cannot help a request the backend refuses; keep it visible in the log.
            logger.error("outbox entry %s rejected by the backend, dropped: %s; fields=%s",
                         entry_id, exc, {k: v for k, v in fields.items() if k != "phone"})
            _remove(entry_id, path)
            continue
        _remove(entry_id, path)
        codes.append(created["service_request_id"])
        logger.info("outbox entry %s sent as %s", entry_id, created["service_request_id"])
    return codes
