"""Every admin decision (label, discard, retrain, go live, roll back) with who took it and when,
newest first. Kept in `DATA_DIR/admin.sqlite3`; never edited, only added to."""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

from bot.admin import store
from bot.admin.errors import AdminError


def require_who(who: Optional[str]) -> str:
    if not who or not who.strip():
        raise AdminError("Thiếu tên người thực hiện (who) cho nhật ký.")
    return who.strip()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record(who: str, action: str, detail: Dict[str, Any], db: Optional[sqlite3.Connection] = None) -> None:
    """Adds the decision; inside `db`'s transaction when given, so that the decision and its
    record are kept together or not at all."""
    row = (now(), require_who(who), action,
           json.dumps(detail, ensure_ascii=False, sort_keys=True))
    if db is not None:
        db.execute("INSERT INTO audit (at, who, action, detail) VALUES (?, ?, ?, ?)", row)
        return
    with closing(store.connect()) as own, own:
        own.execute("INSERT INTO audit (at, who, action, detail) VALUES (?, ?, ?, ?)", row)


def entries(limit: int = 100) -> List[Dict[str, Any]]:
    with closing(store.connect()) as db:
        rows = db.execute("SELECT at, who, action, detail FROM audit ORDER BY id DESC LIMIT ?", (max(limit, 0),))
        return [{"at": at, "who": who, "action": action, "detail": json.loads(detail)}
                for at, who, action, detail in rows]
