"""The citizen's side of a report's life, end to end through Rasa's REST channel (the whole stack,
as `make run` starts it): an operator resolves the report, the assistant is told as the notifier
tells it (Rasa's trigger_intent `EXTERNAL_report_resolved`), asks whether it is really fixed, and
the answer reaches the backend: "chưa khắc phục" reopens the report, five stars and a comment are
stored. A citizen who starts a new report instead is not held by the question. "Phản ánh của tôi"
and a code typed show the citizen's reports and the history."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.support.conversation import COMPLAINT, Citizen, Replies, payloads, text
from tests.support.stack import Stack, running_stack

pytestmark = pytest.mark.slow

QUESTION = "Bạn thấy đã khắc phục thật chưa?"
RESOLVED = "EXTERNAL_report_resolved"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    # The stack's own notifier stays idle (its first pass finds nothing resolved yet): this test
    # plays its part, so that nothing else asks the question at a moment of its own.
    with running_stack(tmp_path_factory.mktemp("stack"), env={"NOTIFY_INTERVAL_S": "3600"}) as running:
        yield running


def titles(replies: Replies) -> list:
    return [b["title"] for r in replies for b in r.get("buttons") or []]


def resolved_and_asked(stack: Stack, citizen: Citizen, code: str) -> Replies:
    stack.set_state(code, "resolved", "Đã thay bóng đèn mới")
    asked = stack.trigger(citizen.sender, RESOLVED, report_id=code)
    assert f"Phản ánh {code} đã được xử lý. {QUESTION}" in text(asked), asked
    assert titles(asked) == ["✅ Đã khắc phục", "❌ Chưa khắc phục"]
    return asked


def test_not_fixed_reopens_the_report_and_the_citizen_is_told(stack):
    citizen = Citizen(stack, "unhappy")
    code = citizen.file_report()
    resolved_and_asked(stack, citizen, code)

    replies = citizen.say("chưa khắc phục")
    assert "vấn đề còn lại" in text(replies) and "/deny" in payloads(replies), replies  # "Bỏ qua"
    replies = citizen.say("Đèn vẫn tắt từ 7 giờ tối")
    assert f"mở lại phản ánh {code}" in text(replies), replies

    report = stack.report(code)
    assert report["state"] == "assigned" and report["reopened"] == 1 and report["status"] == "open"
    assert report["agency_responsible"] in text(replies)

    # The status now shows the whole story, reopening included.
    replies = citizen.say(code)
    story = text(replies)
    assert "Diễn biến:" in story and "Đã xử lý xong: “Đã thay bóng đèn mới”" in story, replies
    assert "Mở lại, chuyển lại đơn vị xử lý" in story and "Hạn xử lý:" in story


def test_five_stars_and_a_comment_are_stored(stack):
    citizen = Citizen(stack, "happy")
    code = citizen.file_report()
    resolved_and_asked(stack, citizen, code)

    replies = citizen.say("da khac phuc")
    assert "1 đến 5 sao" in text(replies) and len(titles(replies)) == 5, replies
    replies = citizen.say("5")
    assert "góp ý" in text(replies), replies
    replies = citizen.say("Cán bộ làm rất nhanh, cảm ơn")
    assert f"Cảm ơn bạn đã đánh giá phản ánh {code}" in text(replies), replies

    report = stack.report(code)
    assert (report["rating"], report["rating_comment"]) == (5, "Cán bộ làm rất nhanh, cảm ơn")
    assert report["state"] == "resolved" and report["reopened"] == 0


def test_a_new_complaint_instead_of_the_answer_starts_a_report_and_my_reports_lists_both(stack):
    citizen = Citizen(stack, "busy")
    code = citizen.file_report()
    resolved_and_asked(stack, citizen, code)

    replies = citizen.say(COMPLAINT)
    # The new report starts at its category; the question about the old one is not asked again.
    assert "Chiếu sáng công cộng" in text(replies) and QUESTION not in text(replies), replies
    assert citizen.say("hủy") and stack.report(code)["state"] == "resolved"

    replies = citizen.say("Phản ánh của tôi")
    assert code in text(replies) and "đã xử lý xong" in text(replies), replies
    assert QUESTION not in text(citizen.say("chào bạn"))
