"""Labelling the inbox into the training data: the right file and block, one line appended per
group, every other byte of every file as it was; valid for Rasa; refused when it cannot be right."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from bot.admin import audit, inbox, labels
from bot.admin.errors import AdminError
from bot.settings import get_settings
from tests.support.stack import run_module
from tests.support.tracker_store import store_said

WHO = "admin@ioc"


def training_files(folder: Path) -> dict:
    return {path.relative_to(folder): path.read_bytes() for path in sorted((folder / "nlu").rglob("*.yml"))}


def appended(before: bytes, after: bytes) -> list:
    """The lines `after` has that `before` had not, checking that nothing else moved."""
    old, new = before.decode().splitlines(keepends=True), after.decode().splitlines(keepends=True)
    added = [line for line in new if line not in old]
    remaining = list(new)
    for line in added:
        remaining.remove(line)
    assert remaining == old, "a line that was there changed or moved"
    return added


async def missed(data_dir, *texts: str) -> None:
    for text in texts:
        await store_said(data_dir, text, "nlu_fallback", 0.2)
    inbox.scan(get_settings())


async def test_a_labelled_complaint_lands_at_the_end_of_its_category_block(admin_settings, data_dir, training_dir):
    await missed(data_dir, "cây dầu gãy nhánh đè lên mái tôn ở kiệt 7 Đặng Huy Trứ",
                 "cay dau gay nhanh de len mai ton o kiet 7 dang huy tru")
    before = training_files(training_dir)
    [group] = inbox.groups()["groups"]
    result = labels.label(admin_settings, [group["key"]], "report_issue", "cay_xanh", "kiệt 7 Đặng Huy Trứ", WHO)
    line = "cây dầu gãy nhánh đè lên mái tôn ở [kiệt 7 Đặng Huy Trứ](address)"
    assert result == {"labelled": 1, "written": [{"file": "nlu/data/nlu_report_cay_xanh.yml", "text": line}]}

    after = training_files(training_dir)
    target = Path("nlu/data/nlu_report_cay_xanh.yml")
    assert [name for name in after if after[name] != before[name]] == [target]
    assert appended(before[target], after[target]) == [f"    - {line}\n"]
    # At the end of the last cay_xanh block, which is the file's end here.
    assert after[target].decode().endswith(f"    - {line}\n")

    [example] = [m for m in load_data(str(training_dir / target)).intent_examples
                 if m.get("text") == "cây dầu gãy nhánh đè lên mái tôn ở kiệt 7 Đặng Huy Trứ"]
    assert example.get("intent") == "report_issue"
    assert example.get("metadata")["intent"] == {"category": "cay_xanh"}
    assert [(e["entity"], e["value"]) for e in example.get("entities")] == [("address", "kiệt 7 Đặng Huy Trứ")]

    assert inbox.groups()["groups"] == []
    assert inbox.groups("labelled")["groups"][0]["count"] == 2
    [entry] = audit.entries()
    assert (entry["who"], entry["action"], entry["detail"]["intent"], entry["detail"]["category"]) == (
        WHO, "label", "report_issue", "cay_xanh")


async def test_twenty_groups_are_labelled_in_one_call_and_once_only(admin_settings, data_dir, training_dir):
    texts = [f"bãi rác tự phát số {n} bốc mùi cả xóm" for n in range(20)]
    await missed(data_dir, *texts)
    keys = [group["key"] for group in inbox.groups()["groups"]]
    assert len(keys) == 20
    inbox.discard(keys[:1], WHO)  # thrown away, then labelled after all
    before = training_files(training_dir)
    result = labels.label(admin_settings, keys, "report_issue", "moi_truong", None, WHO)
    assert result["labelled"] == 20 and {w["text"] for w in result["written"]} == set(texts)
    assert inbox.groups("labelled")["total_groups"] == 20 and inbox.groups("discarded")["groups"] == []
    target = Path("nlu/data/nlu_report_moi_truong.yml")
    after = training_files(training_dir)
    assert sorted(appended(before[target], after[target])) == sorted(f"    - {text}\n" for text in texts)
    assert [name for name in after if after[name] != before[name]] == [target]

    # Sent again (a double click): the examples are there already, nothing is written twice.
    again = labels.label(admin_settings, keys, "report_issue", "moi_truong", None, WHO)
    assert again == {"labelled": 20, "written": []}
    assert training_files(training_dir) == after


async def test_what_cannot_be_labelled_is_refused_and_changes_no_file(admin_settings, data_dir, training_dir):
    heldout = (training_dir / "nlu/heldout/heldout.yml").read_text(encoding="utf-8")
    await missed(data_dir, "ổ gà giữa đường Hùng Vương", "xe rác đổ nước bẩn ra đường", "xin chào",
                 "cho chet noi tren ho, ai vot gium")
    keys = {group["text"]: group["key"] for group in inbox.groups()["groups"]}
    before = training_files(training_dir)
    pothole, truck = keys["ổ gà giữa đường Hùng Vương"], keys["xe rác đổ nước bẩn ra đường"]
    refused = [
        ([pothole], "report_issue", None, None, WHO),  # a complaint needs its category
        ([pothole], "greet", "giao_thong", None, WHO),  # a category only on a complaint
        ([pothole], "report_issue", "khong_co", None, WHO),
        ([pothole], "share_location", None, None, WHO),  # what channels send, never typed
        ([pothole], "", None, None, WHO),
        ([pothole, truck], "report_issue", "giao_thong", "đường Hùng Vương", WHO),  # an address for one only
        ([pothole], "report_issue", "giao_thong", "đường Lê Lợi", WHO),  # not in the text
        ([pothole, "khong co nhom nay"], "report_issue", "giao_thong", None, WHO),
        ([], "report_issue", "giao_thong", None, WHO),
        ([pothole], "report_issue", "giao_thong", None, " "),  # no one to audit
        ([keys["xin chào"]], "report_issue", "khac", None, WHO),  # a greeting in the data already
        ([keys["cho chet noi tren ho, ai vot gium"]], "report_issue", "khac", None, WHO),  # held-out sentence
        ([pothole, truck, keys["xin chào"]], "report_issue", "giao_thong", None, WHO),  # one bad: none written
    ]
    assert "    - cho chet noi tren ho, ai vot gium\n" in heldout
    statuses = []
    for keys_, intent, category, address, who in refused:
        with pytest.raises(AdminError) as error:
            labels.label(admin_settings, keys_, intent, category, address, who)
        statuses.append(error.value.status)
    assert statuses == [400] * 7 + [404, 400, 400, 409, 409, 409]
    assert training_files(training_dir) == before
    assert inbox.groups()["total_groups"] == 4 and audit.entries() == []


async def test_a_labelling_that_fails_while_writing_leaves_everything_as_it_was(admin_settings, data_dir,
                                                                              training_dir, monkeypatch):
    await missed(data_dir, "cống nghẹt bốc mùi ở kiệt 9", "nước cống tràn ra đường Phan Bội Châu")
    keys = [group["key"] for group in inbox.groups()["groups"]]
    before = training_files(training_dir)

    def disk_full(*_):
        raise OSError(28, "No space left on device")

    replace = os.replace
    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError):
        labels.label(admin_settings, keys, "report_issue", "cap_thoat_nuoc", None, WHO)
    assert training_files(training_dir) == before
    assert [p.name for p in (training_dir / "nlu/data").iterdir() if p.name.startswith(".")] == []
    assert inbox.groups()["total_groups"] == 2 and audit.entries() == []
    monkeypatch.setattr(os, "replace", replace)  # the disk has room again: sent again, it is written
    assert len(labels.label(admin_settings, keys, "report_issue", "cap_thoat_nuoc", None, WHO)["written"]) == 2


async def test_labelled_training_data_passes_rasa_data_validate(admin_settings, data_dir, training_dir):
    await missed(data_dir, "nắp cống trước chợ An Cựu mất từ hôm qua", "hôm nay trời đẹp ghê",
                 "cho mình hỏi phản ánh hôm trước tới đâu rồi", "ok bot")
    keys = {group["text"]: group["key"] for group in inbox.groups()["groups"]}
    labels.label(admin_settings, [keys["nắp cống trước chợ An Cựu mất từ hôm qua"]], "report_issue", "giao_thong",
                 "chợ An Cựu", WHO)
    labels.label(admin_settings, [keys["hôm nay trời đẹp ghê"]], "out_of_scope", None, None, WHO)
    labels.label(admin_settings, [keys["cho mình hỏi phản ánh hôm trước tới đâu rồi"]], "check_status", None, None,
                 WHO)
    labels.label(admin_settings, [keys["ok bot"]], "affirm", None, None, WHO)
    result = run_module("rasa", "data", "validate", "--config", str(training_dir / "config.yml"),
                        "--domain", str(training_dir / "domain.yml"), "--data", str(training_dir / "nlu/data"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def test_the_options_are_what_citizens_type_and_the_categories(admin_settings):
    offered = labels.options(admin_settings)
    assert {"report_issue", "check_status", "emergency", "inform", "out_of_scope", "deny"} <= set(offered["intents"])
    assert not {"share_location", "send_photo", "share_contact", "EXTERNAL_report_resolved"} & set(offered["intents"])
    assert {"code": "cay_xanh", "name": "Cây xanh"} in offered["categories"] and len(offered["categories"]) == 10
