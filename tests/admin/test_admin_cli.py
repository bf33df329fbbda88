"""`python -m bot.cli admin ...` as an admin at a shell meets it: JSON on stdout, exit 0, or the
reason on stdout as `{"error"}` and exit 1."""
from __future__ import annotations

import asyncio
import json

from bot.cli import main
from tests.support.stack import run_module
from tests.support.tracker_store import store_said


def admin(capsys, *args):
    try:
        code = main(["admin", *args])
    except SystemExit as exit:  # wrong arguments, refused by the parser
        code = exit.code
    return code, json.loads(capsys.readouterr().out)


def test_an_admin_labels_from_the_shell_and_the_audit_says_who(admin_settings, data_dir, training_dir, capsys):
    for text in ("rác thải đổ bừa ở kiệt 5", "rac thai do bua o kiet 5", "có ai ở đó không"):
        asyncio.run(store_said(data_dir, text, "nlu_fallback", 0.2))
    code, page = admin(capsys, "inbox")
    assert code == 0
    assert [group["count"] for group in page["groups"]] == [2, 1]
    code, options = admin(capsys, "options")  # what a script may name
    assert code == 0 and "report_issue" in options["intents"]
    assert "moi_truong" in [category["code"] for category in options["categories"]]
    rubbish, other = page["groups"]

    code, result = admin(capsys, "label", "--key", rubbish["key"], "--intent", "report_issue",
                         "--category", "moi_truong", "--by", "lan.nguyen")
    assert code == 0
    assert result["labelled"] == 1
    [written] = result["written"]
    assert written["text"] in (training_dir / written["file"]).read_text(encoding="utf-8")
    code, result = admin(capsys, "discard", "--key", other["key"])
    assert (code, result) == (0, {"discarded": 1})

    code, page = admin(capsys, "inbox")
    assert (code, page["groups"]) == (0, [])
    code, page = admin(capsys, "inbox", "--status", "labelled")
    assert [group["key"] for group in page["groups"]] == [rubbish["key"]]
    code, entries = admin(capsys, "audit", "--limit", "5")
    assert code == 0
    discarded_by, labelled_by = (entry["who"] for entry in entries)
    assert labelled_by == "lan.nguyen"
    assert discarded_by.startswith("cli")  # nobody named: the shell's user


def test_what_cannot_be_done_exits_1_with_the_reason(admin_settings, data_dir, training_dir, capsys):
    asyncio.run(store_said(data_dir, "cây đổ chắn đường", "nlu_fallback", 0.2))
    code, page = admin(capsys, "inbox")
    [group] = page["groups"]
    before = {path: path.read_bytes() for path in training_dir.rglob("*.yml")}
    refused = [
        admin(capsys, "label", "--key", "khong co nhom nay", "--intent", "greet"),
        admin(capsys, "label", "--key", group["key"], "--intent", "report_issue"),  # no category
        admin(capsys, "job"),
        admin(capsys, "job", "--id", "7"),
        admin(capsys, "report", "khong-co.tar.gz"),
        admin(capsys, "rollback", "--by", "lan.nguyen"),
        # Wrong arguments, as a script may send them: the same shape, not argparse's usage.
        admin(capsys, "label", "--intent", "greet"),  # no --key
        admin(capsys, "inbox", "--status", "bogus"),
        admin(capsys, "inbox", "--limit", "-1"),
        admin(capsys, "dashboard", "--days", "0"),
        admin(capsys, "labels"),  # no such command
    ]
    for code, answer in refused:
        assert code == 1
        assert list(answer) == ["error"] and answer["error"]
    assert {path: path.read_bytes() for path in training_dir.rglob("*.yml")} == before
    code, page = admin(capsys, "inbox")
    assert page["groups"] == [group]


def test_the_command_prints_json_a_script_can_read(admin_settings, data_dir):
    env = {"DATA_DIR": str(data_dir), "TRAINING_DIR": str(admin_settings.training_dir),
           "MODELS_DIR": str(admin_settings.models_dir)}
    board = run_module("bot.cli", "admin", "dashboard", "--days", "7", env=env, timeout_s=120)
    assert board.returncode == 0, board.stderr[-2000:]
    assert set(json.loads(board.stdout)) >= {"days", "top_missed", "totals"}
    models = run_module("bot.cli", "admin", "models", env=env, timeout_s=120)
    assert models.returncode == 0, models.stderr[-2000:]
    assert json.loads(models.stdout) == {"live": None, "models": []}
    wrong = run_module("bot.cli", "admin", "audit", "--limit", "abc", env=env, timeout_s=120)
    assert wrong.returncode == 1 and "limit" in json.loads(wrong.stdout)["error"], wrong.stderr[-2000:]
    assert "usage:" not in wrong.stderr
