"""The admins' inbox: what the assistant missed, or the citizen corrected, read from the tracker
store, grouped by wording with and without marks, counted; never who wrote it."""
from __future__ import annotations

import sqlite3

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet

from bot import report
from bot.admin import audit, inbox, labels
from bot.admin.errors import AdminError
from bot.settings import get_settings
from tests.support.conversation import Citizen
from tests.support.services import scratch_databases
from tests.support.stack import running_stack
from tests.support.tracker_store import bot_said, store_events, store_said, user_said

FALLBACK_RANKING = [{"name": "nlu_fallback", "confidence": 0.4}, {"name": "report_issue", "confidence": 0.28}]


def category(code: str, confidence=None) -> dict:
    entity = {"entity": "category", "value": code, "extractor": "CategoryClassifier"}
    return {**entity, "confidence": confidence} if confidence is not None else entity


def everything_stored(data_dir) -> str:
    with sqlite3.connect(data_dir / "admin.sqlite3") as db:
        return "\n".join(db.iterdump())


def by_key(result) -> dict:
    return {group["key"]: group for group in result["groups"]}


async def test_misses_are_grouped_with_and_without_marks_counted_and_sorted(data_dir):
    settings = get_settings()
    assert inbox.scan(settings) == 0  # no conversation yet: nothing to read, nothing created
    senders = [
        await store_said(data_dir, "Cột điện nghiêng sắp đổ!", "nlu_fallback", 0.4, previous="Bạn cần gì ạ?"),
        await store_said(data_dir, "cot dien nghieng sap do", "nlu_fallback", 0.3, channel="zalo"),
        await store_said(data_dir, "cột   điện nghiêng sắp đổ", "report_issue", 0.31, channel="web"),
        await store_said(data_dir, "cho hỏi giá vé tàu ra Hà Nội", "out_of_scope", 0.9),
        await store_said(data_dir, "rác đầy kiệt 12 Lê Lợi", "report_issue", 0.93, category="moi_truong",
                         category_confidence=0.35),
        # Understood, a button, a pin, the assistant's own trigger: none is the inbox's.
        await store_said(data_dir, "đèn đường hỏng", "report_issue", 0.97, category="chieu_sang"),
        await store_said(data_dir, "/affirm", "affirm", 0.2),
        await store_said(data_dir, "/share_location", "share_location", 0.2),
        await store_said(data_dir, "EXTERNAL: EXTERNAL_report_resolved", "EXTERNAL_report_resolved", 0.2),
    ]
    # Its phone number is not kept either.
    await store_events(data_dir, senders[0], [user_said("gọi em số 0905 123 456 nhé", "nlu_fallback", 0.2,
                                                        ranking=FALLBACK_RANKING)])

    assert inbox.scan(settings) == 6
    assert inbox.scan(settings) == 0  # read twice, kept once
    result = inbox.groups()
    groups = by_key(result)
    pole = groups["cot dien nghieng sap do"]
    assert pole["count"] == 3 and result["groups"][0] is not None and result["groups"][0]["key"] == pole["key"]
    assert pole["text"] in {"Cột điện nghiêng sắp đổ!", "cột điện nghiêng sắp đổ"}  # the marks kept
    assert sorted(pole["variants"]) == ["Cột điện nghiêng sắp đổ!", "cot dien nghieng sap do",
                                        "cột điện nghiêng sắp đổ"]
    assert pole["reasons"] == {"fallback": 2, "low_intent": 1}
    assert pole["channels"] == {"telegram": 1, "zalo": 1, "web": 1}
    assert groups["rac day kiet 12 le loi"]["reasons"] == {"low_category": 1}
    assert groups["rac day kiet 12 le loi"]["guess"] == {"intent": "report_issue", "intent_confidence": 0.93,
                                                          "category": "moi_truong", "category_confidence": 0.35,
                                                          "danger_asked": False}
    assert groups["cho hoi gia ve tau ra ha noi"]["reasons"] == {"out_of_scope": 1}
    phone = groups["goi em so sdt nhe"]
    assert phone["text"] == "gọi em số SĐT nhé" and phone["previous"] == "Bạn cần gì ạ?"
    assert phone["guess"]["intent"] == "report_issue"  # what the model would have said, not "fallback"
    assert result["total_groups"] == 4 and result["total_messages"] == 6
    assert "den duong hong" not in groups
    assert [g["key"] for g in inbox.groups(limit=1, offset=1)["groups"]] == [result["groups"][1]["key"]]

    # Incremental: only what came since.
    await store_said(data_dir, "cột điện nghiêng sắp đổ", "nlu_fallback", 0.2, sender=senders[3])
    assert inbox.scan(settings) == 1
    assert by_key(inbox.groups())["cot dien nghieng sap do"]["count"] == 4

    stored = everything_stored(data_dir)
    assert not [sender for sender in senders if sender.split(":")[1] in stored]
    assert "0905" not in stored
    with pytest.raises(AdminError):
        inbox.groups("everything")


async def test_corrections_bring_back_the_message_that_was_corrected(data_dir):
    settings = get_settings()
    complaint = user_said("cây đổ chắn ngang kiệt 5 Lê Lợi", "report_issue", 0.9,
                          entities=[{"entity": "address", "value": "kiệt 5 Lê Lợi"}, category("giao_thong", 0.8)])
    guess_asked = [SlotSet("category_guess", "giao_thong"), ActionExecuted("report_form"),
                   bot_said("Mình hiểu đây là phản ánh về: Giao thông. Đúng không ạ?", "utter_ask_category_guess",
                            buttons=["/affirm", '/inform{"category":"cay_xanh"}'])]
    # One picks another category at once.
    await store_events(data_dir, "telegram:1", [complaint, *guess_asked,
                                                user_said('/inform{"category":"cay_xanh"}', "inform", 1.0,
                                                          entities=[category("cay_xanh")]),
                                                SlotSet("category", "cay_xanh")])
    # Another says "không phải" and picks the category only after the inbox was read.
    await store_events(data_dir, "telegram:2", [complaint, *guess_asked, user_said("không phải", "deny", 0.99)])
    assert inbox.scan(settings) == 2
    group = by_key(inbox.groups())["cay do chan ngang kiet 5 le loi"]
    assert group["count"] == 2 and group["reasons"] == {"corrected_category": 2}
    await store_events(data_dir, "telegram:2", [bot_said("Vấn đề này thuộc loại nào ạ?", "utter_ask_category_choice"),
                                                user_said('/inform{"category":"xay_dung"}', "inform", 1.0),
                                                SlotSet("category", "xay_dung")])
    assert inbox.scan(settings) == 0
    with sqlite3.connect(data_dir / "admin.sqlite3") as db:
        hints = sorted(hint for (hint,) in db.execute("SELECT hint FROM inbox"))
    assert hints == ['{"category": "cay_xanh"}', '{"category": "xay_dung"}']

    # The place understood was wrong: the message that gave it, with the address typed next.
    await store_events(data_dir, "zalo:3", [
        complaint, SlotSet("category", "cay_xanh"),
        bot_said("Vị trí mình hiểu là: kiệt 5 Lê Lợi, phường Thuận Hóa. Đúng không ạ?", "utter_ask_location_confirm",
                 buttons=["/affirm", "/deny"]),
        user_said("sai rồi", "deny", 0.98),
        bot_said("Vấn đề ở đâu ạ?", "utter_ask_location"),
        user_said("kiệt 5 Lê Lợi, phường Vỹ Dạ", "inform", 0.99,
                  entities=[{"entity": "address", "value": "kiệt 5 Lê Lợi, phường Vỹ Dạ"}]),
    ])
    # "không phải" to an answer that asked nothing: the message before was misunderstood.
    await store_events(data_dir, "zalo:4", [
        SessionStarted(), user_said("cho em hỏi vụ PA000123 răng rồi", "greet", 0.7),
        bot_said("Xin chào! Mình là trợ lý phản ánh hiện trường.", "utter_greet"),
        user_said("không phải", "deny", 0.99),
        # Saying no to a real question is only an answer.
        bot_said("Có ai đang gặp nguy hiểm ngay lúc này không?", "utter_ask_danger_now", buttons=["/affirm", "/deny"]),
        user_said("không", "deny", 0.99),
    ])
    assert inbox.scan(settings) == 2
    groups = by_key(inbox.groups())
    assert groups["cay do chan ngang kiet 5 le loi"]["reasons"] == {"corrected_category": 2, "corrected_place": 1}
    with sqlite3.connect(data_dir / "admin.sqlite3") as db:
        [(place_hint,)] = db.execute("SELECT hint FROM inbox WHERE reason = 'corrected_place'")
    assert place_hint == '{"address": "kiệt 5 Lê Lợi, phường Vỹ Dạ"}'
    denied = groups["cho em hoi vu pa000123 rang roi"]
    assert denied["reasons"] == {"denied": 1} and denied["previous"] is None
    assert set(groups) == {"cay do chan ngang kiet 5 le loi", "cho em hoi vu pa000123 rang roi"}


DESCRIBE = "Bạn mô tả ngắn gọn vấn đề giúp mình nhé (cái gì, ở đâu, từ bao giờ)."


async def test_a_complaint_whose_category_was_not_found_is_in_the_inbox(data_dir):
    settings = get_settings()
    for text, confidence in (("o duoi chan cau Phu Xuan co may dua tam song nguy hiem lam", 0.575),
                             ("nhà văn hóa tổ 5 để đồ đạc lung tung", 0.70),
                             # Asking to report: asked what the problem is, rightly (in the training data).
                             ("tôi muốn phản ánh", 0.93), ("Gửi phản ánh!", 0.9)):
        await store_events(data_dir, f"zalo:{confidence}", [user_said(text, "report_issue", confidence),
                                                            bot_said(DESCRIBE, "utter_ask_description")])
    await store_said(data_dir, "rác đầy kiệt 12 Lê Lợi", "report_issue", 0.93, category="moi_truong")
    assert inbox.scan(settings) == 2
    groups = by_key(inbox.groups())
    assert set(groups) == {"o duoi chan cau phu xuan co may dua tam song nguy hiem lam",
                           "nha van hoa to 5 de do dac lung tung"}
    assert all(group["reasons"] == {"no_category": 1} for group in groups.values())
    assert groups["nha van hoa to 5 de do dac lung tung"]["guess"] == {
        "intent": "report_issue", "intent_confidence": 0.7, "category": None, "category_confidence": None,
        "danger_asked": False}


async def test_a_button_word_typed_at_its_question_is_understood(data_dir):
    settings = get_settings()
    summary = BotUttered("Bạn xem lại phản ánh rồi bấm Gửi nhé.", {"buttons": report.summary_buttons()},
                         {"utter_action": "utter_ask_confirmed"})
    await store_events(data_dir, "telegram:5", [summary, user_said("gửi", "affirm", 0.42)])
    assert inbox.scan(settings) == 0
    # The same word with no such button before it (the report sent, or no report at all) was a guess.
    await store_events(data_dir, "telegram:5", [bot_said("Đã gửi phản ánh PA000001.", "utter_report_sent"),
                                                user_said("gửi", "affirm", 0.42)])
    await store_events(data_dir, "web:6", [bot_said("Xin chào!", "utter_greet"), user_said("Gửi", "affirm", 0.42)])
    assert inbox.scan(settings) == 2
    [group] = inbox.groups()["groups"]
    assert group["key"] == "gui" and group["reasons"] == {"low_intent": 2}


async def test_a_labelled_wording_comes_back_only_while_it_is_answered_otherwise(admin_settings, data_dir):
    await store_said(data_dir, "bữa ni trời đẹp hỉ", "nlu_fallback", 0.3)
    await store_said(data_dir, "cây đổ ngang kiệt 14 Ngự Viên", "report_issue", 0.9, category="giao_thong",
                     category_confidence=0.4)
    inbox.scan(admin_settings)
    labels.label(admin_settings, ["bua ni troi dep hi"], "out_of_scope", None, None, "lan.nguyen")
    labels.label(admin_settings, ["cay do ngang kiet 14 ngu vien"], "report_issue", "cay_xanh", "kiệt 14 Ngự Viên",
                 "lan.nguyen")

    # Typed again after the retraining and answered as labelled (out of scope is still inbox
    # material, a category still unsure): dealt with, not waiting again.
    await store_said(data_dir, "bua ni troi dep hi", "out_of_scope", 0.865)
    await store_said(data_dir, "cay do ngang kiet 14 ngu vien", "report_issue", 0.9, category="cay_xanh",
                     category_confidence=0.45)
    assert inbox.scan(admin_settings) == 2
    assert inbox.groups()["groups"] == []
    labelled = by_key(inbox.groups("labelled"))
    weather, tree = labelled["bua ni troi dep hi"], labelled["cay do ngang kiet 14 ngu vien"]
    assert weather["count"] == 2 and tree["count"] == 2
    assert weather["decision"]["at"] and {k: v for k, v in weather["decision"].items() if k != "at"} == {
        "intent": "out_of_scope", "category": None, "address": None, "by": "lan.nguyen"}
    assert (tree["decision"]["intent"], tree["decision"]["category"], tree["decision"]["address"]) == (
        "report_issue", "cay_xanh", "kiệt 14 Ngự Viên")

    # Still answered otherwise than labelled: back in the open inbox, the labelled ones stay.
    await store_said(data_dir, "bữa ni trời đẹp hỉ!", "nlu_fallback", 0.3)
    await store_said(data_dir, "cây đổ ngang kiệt 14 Ngự Viên", "report_issue", 0.9, category="giao_thong",
                     category_confidence=0.4)
    assert inbox.scan(admin_settings) == 2
    reopened = by_key(inbox.groups())
    assert set(reopened) == {"bua ni troi dep hi", "cay do ngang kiet 14 ngu vien"}
    assert all(group["count"] == 1 and group["decision"] is None for group in reopened.values())
    assert inbox.groups("labelled")["total_messages"] == 4


async def test_discarded_groups_leave_the_inbox_and_stay_away(data_dir):
    settings = get_settings()
    for text in ("hihi", "hi hi", "đường ngập"):
        await store_said(data_dir, text, "nlu_fallback", 0.2)
    inbox.scan(settings)
    assert inbox.discard(["hi hi"], "admin@ioc") == {"discarded": 1}
    assert inbox.discard(["hi hi"], "admin@ioc") == {"discarded": 0}  # sent twice: nothing more
    with pytest.raises(AdminError) as unknown:
        inbox.discard(["hi hi", "khong co"], "admin@ioc")
    assert unknown.value.status == 404
    with pytest.raises(AdminError):
        inbox.discard(["duong ngap"], "")  # nobody to put in the audit log: nothing done
    await store_said(data_dir, "hi  hi!", "nlu_fallback", 0.2)
    inbox.scan(settings)
    assert set(by_key(inbox.groups())) == {"hihi", "duong ngap"}
    assert by_key(inbox.groups("discarded"))["hi hi"]["count"] == 2
    assert [(e["who"], e["action"], e["detail"]) for e in audit.entries()] == [  # newest first
        ("admin@ioc", "discard", {"texts": ["hi hi"], "discarded": 0}),
        ("admin@ioc", "discard", {"texts": ["hi hi"], "discarded": 1})]
    [thrown] = inbox.groups("discarded")["groups"]
    assert thrown["decision"]["by"] == "admin@ioc" and thrown["decision"]["at"]
    assert (thrown["decision"]["intent"], thrown["decision"]["category"], thrown["decision"]["address"]) == (
        None, None, None)
    assert all(group["decision"] is None for group in inbox.groups()["groups"])


@pytest.mark.postgres
async def test_the_inbox_reads_a_tracker_store_in_postgresql(data_dir, monkeypatch):
    with scratch_databases("trackers") as urls:
        monkeypatch.setenv("TRACKER_STORE_URL", urls["trackers"])
        get_settings.cache_clear()
        assert inbox.scan(get_settings()) == 0  # Rasa has not created its table yet
        await store_events(data_dir, "telegram:7", [user_said("nuoc ngap qua dau goi", "nlu_fallback", 0.2)],
                           url=urls["trackers"])
        await store_events(data_dir, "zalo:8", [user_said("nước ngập quá đầu gối!", "nlu_fallback", 0.3,
                                                          channel="zalo")], url=urls["trackers"])
        assert inbox.scan(get_settings()) == 2 and inbox.scan(get_settings()) == 0
        [group] = inbox.groups()["groups"]
        assert group["count"] == 2 and group["text"] == "nước ngập quá đầu gối!"
        assert group["channels"] == {"telegram": 1, "zalo": 1}


@pytest.mark.slow
def test_messages_sent_through_a_channel_appear_in_the_inbox(tmp_path, trained_model, monkeypatch):
    with running_stack(tmp_path / "stack") as stack:
        first, second = Citizen(stack, "first"), Citizen(stack, "second")
        first.say("qzxw vbnm lkjh")
        # The category proposed is not the one the citizen means.
        assert "Chiếu sáng" in first.say("đèn đường kiệt 45 Nguyễn Huệ hỏng cả tuần nay")[0]["text"]
        first.say('/inform{"category":"cay_xanh"}')
        second.say("den duong kiet 45 nguyen hue hong ca tuan nay")
        second.say("/deny")
        second.say('/inform{"category":"cay_xanh"}')
        # A complaint whose category the assistant could not tell: asked to describe it again.
        third = Citizen(stack, "third")
        assert "mô tả" in third.say("nhà văn hóa tổ 5 để đồ đạc lung tung")[0]["text"]

        monkeypatch.setenv("DATA_DIR", str(stack.data_dir))
        get_settings.cache_clear()
        assert inbox.scan(get_settings()) >= 3
        groups = by_key(inbox.groups())
        light = groups["den duong kiet 45 nguyen hue hong ca tuan nay"]
        assert light["count"] == 2 and light["reasons"] == {"corrected_category": 2}
        assert light["text"] == "đèn đường kiệt 45 Nguyễn Huệ hỏng cả tuần nay"
        assert light["hint"] == {"category": "cay_xanh"} and light["channels"] == {"rest": 2}
        assert light["guess"]["category"] == "chieu_sang"
        assert set(groups["qzxw vbnm lkjh"]["reasons"]) <= {"fallback", "out_of_scope", "low_intent", "no_category"}
        assert groups["nha van hoa to 5 de do dac lung tung"]["reasons"] == {"no_category": 1}
        stored = everything_stored(stack.data_dir)
        assert not [c.name for c in (first, second, third) if c.name in stored] and "rest:" not in stored
