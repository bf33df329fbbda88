"""Labelling the inbox into the training data: the right file and block, one line appended per
group, every other byte of every file as it was; valid for Rasa; refused when it cannot be right."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from bot.admin import audit, inbox, labels
from bot.admin.errors import AdminError
from bot.admin.server import create_app
from bot.cli import main
from bot.settings import get_settings
from tests.admin.conftest import ADMIN_TOKEN
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


async def test_an_undo_removes_exactly_the_line_its_label_wrote(admin_settings, data_dir, training_dir):
    await missed(data_dir, "nước cống tràn lên kiệt 21 Phan Chu Trinh", "cống nghẹt trước chợ Tây Lộc",
                 "hihi", "cống trước trường Hai Bà Trưng bốc mùi")
    keys = {group["text"]: group["key"] for group in inbox.groups()["groups"]}
    first, second = keys["nước cống tràn lên kiệt 21 Phan Chu Trinh"], keys["cống nghẹt trước chợ Tây Lộc"]
    target = training_dir / "nlu/data/nlu_report_cap_thoat_nuoc.yml"
    before = training_files(training_dir)
    labels.label(admin_settings, [first], "report_issue", "cap_thoat_nuoc", "kiệt 21 Phan Chu Trinh", WHO)
    assert labels.undo(admin_settings, [first], "minh.tran") == {
        "reopened": 1, "removed": [{"file": "nlu/data/nlu_report_cap_thoat_nuoc.yml",
                                    "text": "nước cống tràn lên [kiệt 21 Phan Chu Trinh](address)"}], "missing": []}
    assert training_files(training_dir) == before  # byte for byte what it was before the label
    assert {group["key"] for group in inbox.groups()["groups"]} == set(keys.values())
    assert inbox.groups("labelled")["groups"] == []
    # Sent twice: nothing more to take back, nothing else touched.
    assert labels.undo(admin_settings, [first], "minh.tran") == {"reopened": 0, "removed": [], "missing": []}
    assert training_files(training_dir) == before

    # Two labels one after the other in one block: undoing the first leaves the second's line.
    labels.label(admin_settings, [first], "report_issue", "cap_thoat_nuoc", None, WHO)
    labels.label(admin_settings, [second], "report_issue", "cap_thoat_nuoc", None, WHO)
    with_both = target.read_bytes()
    labels.undo(admin_settings, [first], WHO)
    assert appended(before[Path("nlu/data/nlu_report_cap_thoat_nuoc.yml")], target.read_bytes()) == [
        "    - cống nghẹt trước chợ Tây Lộc\n"]
    assert appended(target.read_bytes(), with_both) == ["    - nước cống tràn lên kiệt 21 Phan Chu Trinh\n"]

    # A line someone removed by hand meanwhile: the group is open again all the same, and it says so.
    target.write_text(target.read_text(encoding="utf-8").replace("    - cống nghẹt trước chợ Tây Lộc\n", ""),
                      encoding="utf-8")
    edited = training_files(training_dir)
    assert labels.undo(admin_settings, [second], WHO) == {
        "reopened": 1, "removed": [],
        "missing": [{"file": "nlu/data/nlu_report_cap_thoat_nuoc.yml", "text": "cống nghẹt trước chợ Tây Lộc"}]}
    assert training_files(training_dir) == edited and training_files(training_dir) == before

    # A discard taken back: open again, no file touched. An unknown group: 404, nothing done.
    inbox.discard([keys["hihi"]], WHO)
    assert labels.undo(admin_settings, [keys["hihi"]], WHO) == {"reopened": 1, "removed": [], "missing": []}
    assert inbox.groups()["total_groups"] == 4 and training_files(training_dir) == before
    with pytest.raises(AdminError) as unknown:
        labels.undo(admin_settings, [keys["hihi"], "khong co nhom nay"], WHO)
    assert unknown.value.status == 404
    # The audit says what was taken back as citizens wrote it, not by its unaccented key.
    undone = [entry["detail"] for entry in audit.entries() if entry["action"] == "undo"]
    assert undone[0] == {"texts": ["hihi"], "reopened": 1, "removed": [], "missing": []}
    assert undone[-1]["texts"] == ["nước cống tràn lên kiệt 21 Phan Chu Trinh"]


async def test_labelled_again_with_another_address_the_decision_says_what_the_file_holds(
        admin_settings, data_dir, training_dir):
    await missed(data_dir, "nước cống tràn lên kiệt 21 Phan Chu Trinh")
    [key] = [group["key"] for group in inbox.groups()["groups"]]
    labels.label(admin_settings, [key], "report_issue", "cap_thoat_nuoc", "kiệt 21 Phan Chu Trinh", WHO)
    written = training_files(training_dir)
    again = labels.label(admin_settings, [key], "report_issue", "cap_thoat_nuoc", "Phan Chu Trinh", WHO)
    assert again["written"] == [] and training_files(training_dir) == written
    [group] = inbox.groups("labelled")["groups"]
    assert group["decision"]["address"] == "kiệt 21 Phan Chu Trinh"  # the line in the file
    [removed] = labels.undo(admin_settings, [key], WHO)["removed"]
    assert removed["text"] == "nước cống tràn lên [kiệt 21 Phan Chu Trinh](address)"


async def test_a_wording_taken_for_an_emergency_is_labelled_otherwise_only_when_confirmed(
        admin_settings, data_dir, training_dir):
    await store_said(data_dir, "khói bốc lên từ bãi rác kiệt 8 Trần Phú", "emergency", 0.41)
    inbox.scan(admin_settings)
    [group] = inbox.groups()["groups"]
    before = training_files(training_dir)
    with pytest.raises(AdminError) as refused:
        labels.label(admin_settings, [group["key"]], "report_issue", "moi_truong", None, WHO)
    assert refused.value.status == 409 and "khẩn cấp" in str(refused.value)
    assert training_files(training_dir) == before and audit.entries() == []
    assert inbox.groups()["total_groups"] == 1

    done = labels.label(admin_settings, [group["key"]], "report_issue", "moi_truong", None, WHO,
                        confirm_emergency=True)
    assert done["written"] == [{"file": "nlu/data/nlu_report_moi_truong.yml",
                                "text": "khói bốc lên từ bãi rác kiệt 8 Trần Phú"}]
    [entry] = audit.entries()
    assert entry["detail"]["texts"] == ["khói bốc lên từ bãi rác kiệt 8 Trần Phú"]


async def test_a_wording_the_assistant_asked_about_danger_is_labelled_otherwise_only_when_confirmed(
        admin_settings, data_dir, training_dir):
    # An unsure complaint, but enough like an emergency that the citizen was asked whether anyone is in danger.
    await store_said(data_dir, "thằng bé nhà bên té xuống mương nước sâu", "report_issue", 0.45,
                     category="cap_thoat_nuoc", emergency_signs=0.35)
    inbox.scan(admin_settings)
    [group] = inbox.groups()["groups"]
    assert group["guess"]["danger_asked"] is True
    before = training_files(training_dir)
    with pytest.raises(AdminError) as refused:
        labels.label(admin_settings, [group["key"]], "report_issue", "cap_thoat_nuoc", None, WHO)
    assert refused.value.status == 409 and "nguy hiểm" in str(refused.value)
    assert training_files(training_dir) == before
    labels.label(admin_settings, [group["key"]], "emergency", None, None, WHO)  # the emergency itself: no question


async def test_undo_and_the_emergency_confirmation_over_http_and_the_shell(admin_settings, data_dir, training_dir,
                                                                           aiohttp_client, capsys):
    await store_said(data_dir, "có người té xuống sông Hương ở bến Tòa Khâm", "emergency", 0.45)
    inbox.scan(admin_settings)
    [group] = inbox.groups()["groups"]
    before = training_files(training_dir)
    admin = await aiohttp_client(create_app(admin_settings))
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Admin-User": "lan.nguyen"}
    body = {"keys": [group["key"]], "intent": "out_of_scope"}
    refused = await admin.post("/inbox/label", json=body, headers=headers)
    assert refused.status == 409 and "khẩn cấp" in (await refused.json())["error"]
    assert (await admin.post("/inbox/label", json={**body, "confirm_emergency": "có"}, headers=headers)).status == 400
    done = await admin.post("/inbox/label", json={**body, "confirm_emergency": True}, headers=headers)
    assert done.status == 200 and (await done.json())["labelled"] == 1
    undone = await admin.post("/inbox/undo", json={"keys": [group["key"]]}, headers=headers)
    assert undone.status == 200 and (await undone.json())["reopened"] == 1
    assert training_files(training_dir) == before
    assert (await admin.post("/inbox/undo", json={"keys": []}, headers=headers)).status == 400

    assert main(["admin", "label", "--key", group["key"], "--intent", "out_of_scope"]) == 1
    assert "khẩn cấp" in json.loads(capsys.readouterr().out)["error"]
    assert main(["admin", "label", "--key", group["key"], "--intent", "out_of_scope", "--confirm-emergency",
                 "--by", "minh.tran"]) == 0
    capsys.readouterr()
    assert main(["admin", "undo", "--key", group["key"], "--by", "minh.tran"]) == 0
    assert json.loads(capsys.readouterr().out)["reopened"] == 1
    assert training_files(training_dir) == before
    assert [(entry["who"], entry["action"]) for entry in audit.entries()][:2] == [("minh.tran", "undo"),
                                                                                  ("minh.tran", "label")]
