"""What a citizen hears, end to end through Rasa's REST channel, for the kinds of message issue 10
found wrong: danger signs beside a lasting problem get one question first, a bare unknown code
gets "not found", a private matter gets an explanation, a status told as a story gets the
citizen's reports."""
from __future__ import annotations

import pytest

from tests.support.conversation import Citizen, payloads, text

pytestmark = pytest.mark.slow

DANGER_QUESTION = "Có ai đang gặp nguy hiểm ngay lúc này không?"
EMERGENCY_NUMBERS = ("113", "114", "115")
CATEGORY_QUESTION = "Mình hiểu đây là phản ánh về"
# A wire down for a week (a lasting problem), knocked to the ground this afternoon (danger).
MIXED = "dây điện võng thấp cả tuần nay, chiều nay có xe tải móc đứt, dây nằm dưới đường"


def test_danger_beside_a_lasting_problem_asks_first_and_yes_gives_the_numbers(stack):
    citizen = Citizen(stack, "danger-yes")
    replies = citizen.say(MIXED)
    assert DANGER_QUESTION in text(replies), replies
    assert CATEGORY_QUESTION not in text(replies)  # one question at a time
    assert payloads(replies) == ["/affirm", "/deny"]

    replies = citizen.say("có")
    assert all(number in text(replies) for number in EMERGENCY_NUMBERS), replies
    # The lasting problem is still reported: the report goes on with its next question.
    assert CATEGORY_QUESTION in text(replies), replies


@pytest.mark.parametrize("answer", ["/deny", "không"])
def test_no_one_in_danger_goes_on_with_the_report_without_the_numbers(stack, answer):
    citizen = Citizen(stack, "danger-no")
    assert DANGER_QUESTION in text(citizen.say(MIXED))
    replies = citizen.say(answer)
    assert CATEGORY_QUESTION in text(replies), replies
    assert "113" not in text(replies) and DANGER_QUESTION not in text(replies)


def test_an_ordinary_complaint_is_not_asked_about_danger(stack):
    replies = Citizen(stack, "ordinary").say("rác đổ đầy đầu kiệt 5 Ngô Đức Kế mấy ngày rồi")
    assert DANGER_QUESTION not in text(replies) and CATEGORY_QUESTION in text(replies), replies


@pytest.mark.parametrize("code", ["PA999999", "pa999999"])
def test_a_bare_unknown_code_is_not_found_rather_than_not_understood(stack, code):
    replies = Citizen(stack, "unknown-code").say(code)
    assert "không tìm thấy phản ánh mã PA999999" in text(replies), replies
    assert "chưa hiểu" not in text(replies)


def test_a_private_matter_gets_a_polite_explanation(stack):
    replies = Citizen(stack, "private").say("nhà bên vay tiền tôi mấy tháng rồi không chịu trả")
    assert "ngoài phạm vi" in text(replies) and "UBND phường" in text(replies), replies


def test_a_status_question_told_as_a_story_looks_up_the_citizens_reports(stack):
    replies = Citizen(stack, "story").say("hôm kia tui có báo vụ ổ gà, chừ có ai xuống làm chưa")
    # No report from this conversation yet: the status path says so (and asks for a code).
    assert "Mình chưa thấy phản ánh nào bạn gửi" in text(replies), replies
