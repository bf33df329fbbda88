"""Scratch PostgreSQL databases and keys, for the tests and the benchmarks that need servers of
their own."""
from __future__ import annotations

import secrets
import uuid
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, List

import psycopg2
from sqlalchemy.engine import make_url


def _run(admin_url: str, sql: str) -> None:
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True  # CREATE/DROP DATABASE refuse to run in a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@contextmanager
def scratch_databases(admin_url: str, kinds: Iterable[str], prefix: str) -> Iterator[Dict[str, str]]:
    """A new empty database per kind ({kind: URL}, named `prefix` + kind + a random part) on the
    server of `admin_url`, dropped afterwards."""
    names = {kind: f"{prefix}{kind}_{uuid.uuid4().hex[:12]}" for kind in kinds}
    created: List[str] = []
    try:
        for name in names.values():
            _run(admin_url, f'CREATE DATABASE "{name}"')
            created.append(name)
        yield {kind: make_url(admin_url).set(database=name).render_as_string(hide_password=False)
               for kind, name in names.items()}
    finally:
        for name in created:
            _run(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scratch_keys() -> Dict[str, str]:
    """Fresh keys of the production profile (which refuses the development ones), for one run."""
    return {name: secrets.token_urlsafe(24) for name in ("BACKEND_API_KEYS", "BACKEND_OPERATOR_KEYS", "RASA_API_TOKEN")}
