"""What the assistant's processes must keep across restarts (the outbox of unsent reports, the
notifier's deliveries, who follows which report, the admins' inbox), and the one
way their workers share rows: a claim.

A store shared by workers (`Store`) lives in the PostgreSQL database of ASSISTANT_STORE_URL, where
every host's workers meet, or, without it, in a SQLite file under DATA_DIR (one host). The same
SQL serves both: its tables are SQLAlchemy `Table`s, created on first use, and a SQLite file
written by an older version gets the columns added since. Single-host files that no worker claims
from use `connect` (plain sqlite3).

A claim is a conditional UPDATE of the next due row, so two workers never hold the same row: on
PostgreSQL the row is picked `FOR UPDATE SKIP LOCKED` (workers never wait for each other), on
SQLite inside an IMMEDIATE transaction (its single writer). It is a lease, so a worker that died
holding a row gives it up when the lease runs out. Every later write names the claim
(`end_claim`), so a worker whose lease ran out cannot overwrite what the next one did. A claimable
table has the columns `id`, `next_attempt` (Unix time it is due), `claimed_by`, `claimed_until`
and `sending` (`claim_columns`).

    OUTBOX = Store("outbox.sqlite3", metadata)
    with OUTBOX.engine().begin() as db:
        db.execute(text("INSERT INTO outbox ..."), {...})
"""
from __future__ import annotations

import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from sqlalchemy import Column, Float, Integer, MetaData, Text, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateColumn

from bot.settings import get_settings

# Serialises the first use of a store by a process's threads; other processes' first uses are
# serialised by the database (an IMMEDIATE transaction, an advisory lock).
_lock = threading.Lock()
_engines: Dict[str, Engine] = {}
_ready: Set[Tuple[str, str]] = set()  # (database URL, store's file name) whose tables exist
# Any constant: the key of PostgreSQL's advisory lock held while a store's tables are created.
_SCHEMA_LOCK = 4_312_012


def claim_columns() -> List[Column]:
    """The columns a claimable table adds to its own (new objects: a Column has one table)."""
    return [
        Column("next_attempt", Float, nullable=False, server_default="0"),  # Unix time
        Column("claimed_by", Text),
        Column("claimed_until", Float, nullable=False, server_default="0"),  # Unix time the lease runs out
        # A message of the row's current step may have reached the Rasa server without its answer
        # reaching the worker (a timeout, a worker killed): the next attempt looks for it first.
        Column("sending", Integer, nullable=False, server_default="0"),
    ]


@dataclass(frozen=True)
class Store:
    """Tables that the assistant's processes share. `filename`: their SQLite file under DATA_DIR
    when ASSISTANT_STORE_URL is unset; `upgrade`, if any, brings a SQLite file of an older
    version up to date beyond the missing columns (run once per process, in the creating
    transaction)."""

    filename: str
    metadata: MetaData
    upgrade: Optional[Callable[[Connection], None]] = None

    def engine(self, path: Optional[Path] = None) -> Engine:
        """The engine of the store's database, its tables created if missing: the SQLite file
        `path` if given (tests, tools), else ASSISTANT_STORE_URL, else DATA_DIR/filename."""
        settings = get_settings()
        shared = settings.assistant_store_url if path is None else None
        if shared:
            key = make_url(shared).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
        else:
            path = (path or settings.data_dir / self.filename).resolve()
            key = f"sqlite:///{path}"
        with _lock:
            engine = _engines.get(key)
            if engine is None:
                engine = _engines[key] = _postgres(key) if path is None else _sqlite(path)
            if (key, self.filename) not in _ready:
                self._create(engine)
                _ready.add((key, self.filename))
        return engine

    def _create(self, engine: Engine) -> None:
        with engine.begin() as db:
            if db.dialect.name == "postgresql":
                # Two workers starting at once would both see a table missing and both create it.
                db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            self.metadata.create_all(db)
            for table in self.metadata.sorted_tables:
                present = {column["name"] for column in inspect(db).get_columns(table.name)}
                for column in table.columns:
                    if column.name not in present:
                        db.execute(text(f"ALTER TABLE {table.name} ADD COLUMN "
                                        f"{CreateColumn(column).compile(dialect=db.dialect)}"))
            if self.upgrade:
                self.upgrade(db)


def _sqlite(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A connection per use (NullPool), as sqlite3 connections belong to the thread that opened them.
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool, connect_args={"timeout": 10})

    # pysqlite begins transactions late, and deferred: every transaction here starts IMMEDIATE
    # instead, so a read and its write see no other process's write between them (SQLAlchemy's
    # documented recipe).
    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _postgres(url: str) -> Engine:
    # pre_ping: a database restarted meanwhile costs a reconnection, not a failed claim.
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)


def dispose() -> None:
    """Closes every engine's connections and forgets them (a test's database about to go)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _ready.clear()


def for_update(db: Connection) -> str:
    """The clause that locks the rows a SELECT reads until the transaction ends (SQLite's
    IMMEDIATE transaction already excludes every other writer)."""
    return " FOR UPDATE" if db.dialect.name == "postgresql" else ""


def claim(engine: Engine, table: str, returning: str, lease_s: float, now: float,
          condition: str = "TRUE") -> Optional[Tuple[str, Tuple[Any, ...]]]:
    """Holds for `lease_s` the next row of `table` that is due, that nobody holds and that meets
    `condition` (SQL on the row, named `due`): the claim's token and the `returning` columns;
    None if there is none. Rows are taken by `next_attempt`, then `id`."""
    token = uuid.uuid4().hex
    skip = " FOR UPDATE SKIP LOCKED" if engine.dialect.name == "postgresql" else ""
    with engine.begin() as db:
        row = db.execute(text(
            f"UPDATE {table} SET claimed_by = :token, claimed_until = :until "
            f"WHERE id = (SELECT id FROM {table} AS due WHERE due.next_attempt <= :now AND due.claimed_until <= :now "
            f"            AND ({condition}) ORDER BY due.next_attempt, due.id LIMIT 1{skip}) "
            f"AND claimed_until <= :now RETURNING {returning}"
        ), {"token": token, "until": now + lease_s, "now": now}).first()
    return (token, tuple(row)) if row else None


def sending(engine: Engine, table: str, row_id: int, token: str) -> bool:
    """Marks the row's message as on its way (see `claim_columns`), if the claim `token` still holds it."""
    with engine.begin() as db:
        return db.execute(text(f"UPDATE {table} SET sending = 1 WHERE id = :row_id AND claimed_by = :token"),
                          {"row_id": row_id, "token": token}).rowcount == 1


def end_claim(engine: Engine, table: str, row_id: int, token: str, **columns: Any) -> bool:
    """Sets `columns` and ends the claim `token`, if it still holds the row; else False."""
    assignments = "".join(f"{name} = :{name}, " for name in columns)
    with engine.begin() as db:
        result = db.execute(text(f"UPDATE {table} SET {assignments}claimed_by = NULL, claimed_until = 0 "
                                 "WHERE id = :row_id AND claimed_by = :token"),
                            {**columns, "row_id": row_id, "token": token})
        return result.rowcount == 1


def connect(filename: str, schema: str, path: Optional[Path] = None) -> sqlite3.Connection:
    """A connection to `path` (default DATA_DIR/filename), its table created if missing: a file
    of one host that no worker claims from."""
    path = path or get_settings().data_dir / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=10)
    connection.execute(schema)
    return connection
