"""Messages the assistant did not understand, kept for the admins who label them and retrain.

The fallback action records each miss (text, the NLU's best guesses, the channel, the time; never
who sent it). `python -m bot.cli misses` turns them into Rasa training-data YAML, grouped by the
best guess, for an admin to correct and move into `nlu/data/` before `make train`.
"""
from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Any, Dict, List, Optional

from bot import local_store

SCHEMA = ("CREATE TABLE IF NOT EXISTS misses (id INTEGER PRIMARY KEY, text TEXT NOT NULL, "
          "guesses TEXT NOT NULL, channel TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP)")


def _connect(path: Optional[Path] = None) -> sqlite3.Connection:
    return local_store.connect("misses.sqlite3", SCHEMA, path)


def record(text: str, ranking: List[Dict[str, Any]], channel: Optional[str],
           path: Optional[Path] = None) -> None:
    if not text or text.startswith("/"):
        return  # a button payload is not something a citizen typed
    guesses = [{"intent": r.get("name"), "confidence": round(float(r.get("confidence") or 0), 3)}
               for r in ranking[:3] if r.get("name") != "nlu_fallback"]
    with closing(_connect(path)) as db, db:
        db.execute("INSERT INTO misses (text, guesses, channel) VALUES (?, ?, ?)",
                   (text, json.dumps(guesses), channel))


def pending(path: Optional[Path] = None) -> List[Dict[str, Any]]:
    with closing(_connect(path)) as db:
        rows = db.execute("SELECT id, text, guesses, channel, created_at FROM misses ORDER BY id")
        return [{"id": r[0], "text": r[1], "guesses": json.loads(r[2]), "channel": r[3],
                 "created_at": r[4]} for r in rows]


def clear(up_to_id: int, path: Optional[Path] = None) -> None:
    with closing(_connect(path)) as db, db:
        db.execute("DELETE FROM misses WHERE id <= ?", (up_to_id,))


def to_training_yaml(entries: List[Dict[str, Any]]) -> str:
    """Rasa NLU YAML, one block per best-guess intent, each message once."""
    by_guess: Dict[str, List[str]] = defaultdict(list)
    for entry in entries:
        guess = entry["guesses"][0]["intent"] if entry["guesses"] else "out_of_scope"
        text = " ".join(entry["text"].split())
        if text not in by_guess[guess]:
            by_guess[guess].append(text)
    lines = [
        'version: "3.1"',
        "# Messages the assistant did not understand, grouped by its best guess of the intent.",
        "# Correct each intent (complaints: move them to nlu/data/nlu_report_<category>.yml),",
        "# mark addresses as [span](address), put them in nlu/data/, then `make train` and",
        "# `python -m bot.cli reload`. See nlu/README.md.",
        "nlu:",
    ]
    for guess in sorted(by_guess):
        lines += [f"- intent: {guess}", "  examples: |"]
        lines += [f"    - {text}" for text in by_guess[guess]]
    return "\n".join(lines) + "\n"
