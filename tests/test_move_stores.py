"""`python -m tools.move_stores`: a host's SQLite stores moved into the shared PostgreSQL store when
one host becomes several; nothing waiting is lost, nothing is moved or told twice."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot import followed, notices, outbox
from tools import move_stores

ITEM = {"update_id": 7, "service_request_id": "PA000001", "updated_datetime": "2026-12-03T10:00:00+07:00"}
READ_UNTIL = datetime(2026, 12, 3, 3, tzinfo=timezone.utc)


@pytest.mark.postgres
@pytest.mark.parametrize("assistant_store", ["postgres"], indirect=True)
def test_a_host_s_files_move_to_the_shared_store_once(data_dir, assistant_store, capsys):
    files = {store.filename: data_dir / store.filename for store in move_stores.STORES}
    # What one host kept: two reports waiting, one held by its worker when it was stopped...
    first = outbox.save({"service_code": "khac", "account_id": "telegram:1"}, files["outbox.sqlite3"])
    outbox.save({"service_code": "khac", "account_id": "zalo:2"}, files["outbox.sqlite3"])
    assert outbox.claim(3600, files["outbox.sqlite3"]).id == first
    # ...a change still to tell and where the feed was read, whose report is whose.
    notices.add("server", [(ITEM, "telegram:1")], files["notices.sqlite3"])
    notices.advance("server", READ_UNTIL, files["notices.sqlite3"])
    followed.record("PA000001", "telegram:1", "telegram", files["followed.sqlite3"], now=1)
    followed.follow("PA000001", "web:3", "web", files["followed.sqlite3"], now=2)
    # Another host already has the same follow.
    followed.follow("PA000001", "web:3", "web", now=2)

    assert move_stores.main([]) == 0
    [waiting, other] = outbox.pending()
    assert (waiting["fields"]["account_id"], other["fields"]["account_id"]) == ("telegram:1", "zalo:2")
    assert waiting["claimed_by"] is None  # the stopped worker's claim is gone: due at once
    assert outbox.claim(60).fields["account_id"] == "telegram:1"
    [notice] = notices.rows()
    assert (notice["sender_id"], notice["state"], notice["item"]) == ("telegram:1", "pending", ITEM)
    assert notices.read_until("server") == READ_UNTIL
    assert [(f.sender_id, f.filer) for f in followed.everyone(["PA000001"])["PA000001"]] == [
        ("telegram:1", True), ("web:3", False)]
    assert not any(path.exists() for path in files.values())
    assert all(path.with_name(path.name + ".moved").exists() for path in files.values())

    # A second run finds nothing to move.
    capsys.readouterr()
    assert move_stores.main([]) == 0
    assert capsys.readouterr().out.count("nothing to move") == 3
    assert len(outbox.pending()) == 2 and len(notices.rows()) == 1


def test_without_a_shared_store_nothing_moves(data_dir, capsys):
    outbox.save({"service_code": "khac"})
    assert move_stores.main([]) == 2
    assert "ASSISTANT_STORE_URL is unset" in capsys.readouterr().err
    assert len(outbox.pending(data_dir / "outbox.sqlite3")) == 1  # still in the host's file
