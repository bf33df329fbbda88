"""Small SQLite files under DATA_DIR for what the action server must keep across restarts
(the outbox of unsent reports, the messages it did not understand)."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Optional

from bot.settings import get_settings


def connect(filename: str, schema: str, path: Optional[Path] = None) -> sqlite3.Connection:
    """A connection to `path` (default DATA_DIR/filename), its table created if missing."""
    path = path or get_settings().data_dir / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=10)
    connection.execute(schema)
    return connection
