"""`python -m tools.move_stores`: moves what this host kept in SQLite files under DATA_DIR (the
outbox, the notifier's notices and where it stopped reading, who follows which report) into the
database of ASSISTANT_STORE_URL, when one host becomes several.

Stop this host's action server, outbox worker and notifier first, then run it with the settings
they will have (DATA_DIR, ASSISTANT_STORE_URL). Rows keep their order; a row the database has
already (a follow or a notice another host recorded) is kept once; claims are dropped, as no
worker holds them any more. Each file is then renamed `<name>.moved` (a backup), so a second run
moves nothing twice.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from bot import followed, notices, outbox
from bot.local_store import Store
from bot.settings import get_settings

STORES = (outbox.STORE, notices.STORE, followed.STORE)


def move(store: Store, data_dir: Path) -> Optional[int]:
    """Moves `store`'s file under `data_dir` into the shared database: how many rows were new
    there; None when there is no file."""
    path = data_dir / store.filename
    if not path.exists():
        return None
    moved = 0
    # The file is brought up to date first (an older version's columns) by opening it as a store.
    with store.engine(path).connect() as source, store.engine().begin() as target:
        for table in store.metadata.sorted_tables:
            # A row id is the file's own: the database numbers the rows it receives, in this order.
            columns = [column for column in table.columns if column.name != "id"]
            for row in source.execute(select(table).order_by(*table.primary_key.columns)).mappings():
                values = {column.name: row[column.name] for column in columns}
                if "claimed_by" in values:
                    values.update(claimed_by=None, claimed_until=0)
                moved += target.execute(postgresql.insert(table).values(values).on_conflict_do_nothing()).rowcount
    path.rename(path.with_name(path.name + ".moved"))
    return moved


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.move_stores", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    settings = get_settings()
    if not settings.assistant_store_url:
        print("ASSISTANT_STORE_URL is unset: there is no shared database to move the files into", file=sys.stderr)
        return 2
    for store in STORES:
        moved = move(store, settings.data_dir)
        where = settings.data_dir / store.filename
        print(f"{where}: nothing to move" if moved is None else f"{where}: {moved} rows moved, file renamed .moved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
