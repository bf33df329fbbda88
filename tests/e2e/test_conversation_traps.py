"""Conversations never trap anyone, end to end through Rasa's REST channel (the whole stack, as
`make run` starts it): a button's word typed by hand means the button, with or without
diacritics; buttons left from a report that is over start nothing; an address typed in pieces
is read as one; and the same typed address never gets the same question a third time."""
from __future__ import annotations

import re

import pytest

from tests.support.conversation import COMPLAINT, REPORT_CODE, Citizen, Replies, payloads, text
from tests.support.places import THUAN_HOA

pytestmark = pytest.mark.slow

REPORT_OVER = "đã kết thúc"
PHOTOS_QUESTION = "ảnh hiện trường"
SUMMARY = "Bạn kiểm tra lại phản ánh"


def titles(replies: Replies) -> list:
    return [b["title"] for r in replies for b in r.get("buttons") or []]


def asks_for_a_pin(replies: Replies) -> bool:
    return any((r.get("custom") or {}).get("request_location") for r in replies)


@pytest.mark.parametrize("yes, skip, fix_photos, done, send", [
    ("Đúng", "bỏ qua", "Sửa ảnh", "xong", "gửi"),
    ("dung", "bo qua", "sua anh", "Xong roi", "gui di"),
])
def test_a_buttons_word_typed_by_hand_means_the_button(stack, yes, skip, fix_photos, done, send):
    citizen = Citizen(stack, "typist")
    assert "Chiếu sáng công cộng" in text(citizen.say(COMPLAINT))
    replies = citizen.say(yes)  # "✅ Đúng"
    assert "Phường Thuận Hóa" in titles(replies), replies
    assert PHOTOS_QUESTION in text(citizen.pin_anew(THUAN_HOA))

    replies = citizen.say(skip)  # "⏭️ Bỏ qua": the photos, not the whole report
    assert SUMMARY in text(replies) and "Đã hủy" not in text(replies), replies
    replies = citizen.say(fix_photos)  # "Sửa ảnh"
    assert PHOTOS_QUESTION in text(replies), replies
    replies = citizen.say(done)  # "✅ Xong": done with photos, not a status question
    assert SUMMARY in text(replies) and "Mình chưa thấy phản ánh" not in text(replies), replies

    code = REPORT_CODE.search(text(citizen.say(send)))  # "✅ Gửi"
    assert code, replies
    stored = stack.report(code.group(0))
    assert stored["service_code"] == "chieu_sang" and stored["ward"] == "Phường Thuận Hóa"


@pytest.mark.parametrize("retype", ["nhập lại", "nhap lai"])
def test_retype_at_the_place_question_asks_again_instead_of_cancelling(stack, retype):
    citizen = Citizen(stack, "retyper")
    citizen.say("cống nghẹt, nước tràn ra đường")
    citizen.say("/affirm")
    replies = citizen.say("chợ Đông Ba")
    assert "chợ Đông Ba, phường Phú Xuân" in text(replies) and "✏️ Nhập lại" in titles(replies), replies
    replies = citizen.say(retype)  # "✏️ Nhập lại"
    assert "Đã hủy" not in text(replies) and asks_for_a_pin(replies), replies
    citizen.say("hủy")


@pytest.mark.parametrize("typed", ["Gửi phản ánh", "gui phan anh"])
def test_the_menus_words_typed_start_a_report(stack, typed):
    citizen = Citizen(stack, "menu")
    assert "/report_issue" in payloads(citizen.say("xin chào"))
    replies = citizen.say(typed)  # "📝 Gửi phản ánh"
    assert "mô tả" in text(replies).lower(), replies
    citizen.say("hủy")


def test_buttons_left_from_a_cancelled_report_start_nothing(stack):
    citizen = Citizen(stack, "tapper")
    citizen.say("rác ở kiệt 5 Nguyễn Huệ bốc mùi")
    old_buttons = payloads(citizen.say("/affirm"))  # the ward buttons of that report
    assert "Đã hủy" in text(citizen.say("hủy"))

    for old in ['/inform{"category":"giao_thong"}', old_buttons[0], "/affirm"]:
        replies = citizen.say(old)
        assert REPORT_OVER in text(replies) and "/report_issue" in payloads(replies), (old, replies)
    # Nothing was started that would swallow the next message: it is a new complaint.
    replies = citizen.say("đèn đường hỏng cả tuần nay")
    assert "Chiếu sáng công cộng" in text(replies) and "mô tả" not in text(replies).lower(), replies
    citizen.say("hủy")


def test_buttons_left_from_a_sent_report_start_nothing(stack):
    citizen = Citizen(stack, "sender")
    citizen.say(COMPLAINT)
    citizen.say("/affirm")
    citizen.pin_anew(THUAN_HOA)
    summary = citizen.say("/deny")  # no photos
    assert SUMMARY in text(summary), summary
    assert REPORT_CODE.search(text(citizen.say("/affirm")))
    before = stack.reports(account_id=citizen.sender)

    for old in payloads(summary):  # "✅ Gửi", the "Sửa ..." buttons, "❌ Hủy"
        replies = citizen.say(old)
        assert REPORT_OVER in text(replies) or "không có phản ánh nào đang soạn" in text(replies), (old, replies)
    assert stack.reports(account_id=citizen.sender) == before


@pytest.mark.parametrize("street, ward", [("45 Nguyễn Huệ", "phường Thuận Hóa"), ("45 nguyen hue", "p thuan hoa")])
def test_an_address_typed_in_two_messages_is_one(stack, street, ward):
    citizen = Citizen(stack, "pieces")
    citizen.say("đèn đường hỏng cả tuần nay")
    citizen.say("/affirm")
    replies = citizen.say(street)
    assert "Phường Thuận Hóa" in titles(replies), replies  # which ward?
    replies = citizen.say(ward)  # the ward, typed: as if its button was pressed
    assert PHOTOS_QUESTION in text(replies), replies
    summary = text(citizen.say("/deny"))
    assert re.search(r"Vị trí: 45 Nguy[eễ]n Hu[eệ], phường Thuận Hóa", summary), summary
    citizen.say("hủy")


@pytest.mark.parametrize("typed", ["kiệt 45 Nguyễn Huệ ở phường Thuận Hóa", "kiet 45 nguyen hue o phuong thuan hoa"])
def test_an_address_in_two_spans_of_one_message_is_one(stack, typed):
    citizen = Citizen(stack, "spans")
    citizen.say("đèn đường hỏng cả tuần nay")
    citizen.say("/affirm")
    replies = citizen.say(typed)
    assert "phường Thuận Hóa. Đúng không" in text(replies), replies
    assert PHOTOS_QUESTION in text(citizen.say("đúng"))
    citizen.say("hủy")


@pytest.mark.parametrize("typed", ["kiệt 45 Nguyễn Huệ", "kiet 45 nguyen hue"])
def test_the_same_address_never_gets_the_same_question_a_third_time(stack, typed):
    citizen = Citizen(stack, "stubborn")
    citizen.say("đèn đường hỏng cả tuần nay")
    citizen.say("/affirm")
    first = text(citizen.say(typed))
    assert "có ở nhiều phường" in first
    for _ in range(3):
        replies = citizen.say(typed)
        # Another way instead of the same question: a pin, or the ward from the list.
        assert "có ở nhiều phường" not in text(replies) and "chọn phường, xã" in text(replies), replies
        assert asks_for_a_pin(replies) and "Phường Thuận Hóa" in titles(replies), replies
    ward = next(b["payload"] for r in replies for b in r.get("buttons") or [] if b["title"] == "Phường Thuận Hóa")
    assert PHOTOS_QUESTION in text(citizen.say(ward))
    citizen.say("hủy")


@pytest.mark.parametrize("typed", ["sdt của tôi 0905123456, đường bể hết rồi", "so dt cua em 0905 123 456"])
def test_a_phone_number_typed_is_kept_and_never_met_with_silence(stack, typed):
    citizen = Citizen(stack, "phone")
    said = text(citizen.say(typed))
    assert said, typed
    # Kept for the citizen's reports; a complaint beside it is asked for again, not lost.
    assert "0905123456" in said or "phản ánh" in said.lower(), said
    if "0905123456" in said and "bể" in typed:
        assert "gửi riêng phần mô tả" in said, said
