"""What a citizen reads about their reports: the history in short form against the deadline
(bot/history.py), "Phản ánh của tôi", and both answered by the actions from the REAL routing
backend (`assistant_env`, tests/conftest.py) after an operator worked the report."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

import actions
from bot import history
from bot.categories import category_names
from tests.support.lifecycle import backend_client, change_state, file_report, filed_and_resolved
from tests.support.trackers import SENDER, make_tracker, responses, run_action

pytestmark = pytest.mark.usefixtures("assistant_env")

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)  # 10:00 in Huế


def update(when: str, state: str, note: str = "") -> dict:
    return {"update_id": 1, "service_request_id": "PA000012", "updated_datetime": when, "status": "open",
            "state": state, "description": note, "media_url": None}


REPORT = {
    "service_request_id": "PA000012", "service_code": "chieu_sang", "state": "resolved", "status": "closed",
    "requested_datetime": "2026-12-01T01:00:00+00:00", "expected_datetime": "2026-12-04T01:00:00+00:00",
    "updates": [
        update("2026-12-01T03:00:00+00:00", "assigned", "Chuyển Công ty Chiếu sáng"),
        update("2026-12-02T01:00:00+00:00", "in_progress"),
        update("2026-12-03T07:30:00+00:00", "resolved", "Đã thay bóng đèn mới"),
    ],
}


def test_history_in_short_form_with_how_long_each_step_took():
    assert history.history_lines(REPORT) == [
        "• 08:00 01/12 Tiếp nhận",
        "• 10:00 01/12 Chuyển đơn vị xử lý: “Chuyển Công ty Chiếu sáng” (sau 2 giờ)",
        "• 08:00 02/12 Bắt đầu xử lý (sau 22 giờ)",
        "• 14:30 03/12 Đã xử lý xong: “Đã thay bóng đèn mới” (sau 30 giờ)",
    ]


def test_where_a_report_stands_against_its_deadline():
    assert history.deadline_line(REPORT, NOW) == "Xử lý xong sau 2 ngày, trước hạn 17 giờ (hạn 08:00 04/12)."
    late = {**REPORT, "expected_datetime": "2026-12-02T01:00:00+00:00"}
    assert history.deadline_line(late, NOW) == "Xử lý xong sau 2 ngày, trễ hạn 30 giờ (hạn 08:00 02/12)."
    working = {**REPORT, "state": "in_progress", "updates": REPORT["updates"][:2]}
    assert history.deadline_line(working, NOW) == "Đã quá hạn xử lý 26 giờ (hạn 08:00 04/12)."
    assert history.deadline_line(working, datetime(2026, 12, 2, 1, tzinfo=timezone.utc)) == \
        "Hạn xử lý: 08:00 04/12 (còn 2 ngày)."
    assert history.deadline_line({**REPORT, "state": "rejected"}, NOW) == ""


def test_a_reopened_or_reassigned_report_says_so():
    reopened = {**REPORT, "state": "assigned", "reopened": 1, "updates": REPORT["updates"] + [
        update("2026-12-04T01:00:00+00:00", "assigned", "Người dân báo chưa khắc phục")]}
    text = history.history_text(reopened, NOW)
    assert "Mở lại, chuyển lại đơn vị xử lý: “Người dân báo chưa khắc phục”" in text
    assert "Đã mở lại 1 lần" in text
    moved = {**REPORT, "updates": [update("2026-12-01T03:00:00+00:00", "assigned"),
                                   update("2026-12-01T04:00:00+00:00", "assigned", "Sai đơn vị")]}
    assert history.history_lines(moved)[-1] == "• 11:00 01/12 Chuyển sang đơn vị khác: “Sai đơn vị” (sau 1 giờ)"


def test_own_reports_newest_first_ten_at_most_with_the_count_of_the_rest():
    reports = [{"service_request_id": f"PA{n:06d}", "service_code": "moi_truong", "state": "received",
                "requested_datetime": f"2026-12-01T{n:02d}:00:00+00:00"} for n in range(1, 13)]
    listed = history.own_reports(reports, category_names(), NOW)
    lines = listed["lines"].splitlines()
    assert listed["count"] == 12 and len(lines) == 10
    assert lines[0].startswith("• PA000012 — Môi trường") and "đã tiếp nhận" in lines[0]
    assert "gửi 19:00 01/12" in lines[0] and lines[-1].startswith("• PA000003")
    assert listed["more"] == "\n… và 2 phản ánh cũ hơn."
    assert history.own_reports(reports[:3], category_names(), NOW)["more"] == ""


async def test_status_by_code_shows_the_history_the_operator_made(routing_backend):
    await routing_backend.start()
    code = await filed_and_resolved(note="Đã thay bóng đèn mới")
    tracker = make_tracker(f"{code} sao rồi", "check_status", entities=[{"entity": "report_id", "value": code}],
                           active_loop=None)
    _, said = await run_action(actions.ActionCheckStatus(), tracker)
    assert responses(said) == ["utter_status"] and said[0]["status_text"] == "đã xử lý xong"
    lines = said[0]["history"].splitlines()
    assert lines[1] == "Diễn biến:" and lines[2].endswith("Tiếp nhận")
    assert lines[3].endswith("Đã xử lý xong: “Đã thay bóng đèn mới” (sau vài giây)")
    assert lines[4].startswith("Xử lý xong sau vài giây, trước hạn")


async def test_my_reports_lists_the_citizens_own_newest_first(routing_backend):
    await routing_backend.start()
    tracker = make_tracker("phản ánh của tôi", "my_reports", active_loop=None)
    _, said = await run_action(actions.ActionMyReports(), tracker)
    assert responses(said) == ["utter_status_none"]
    first = await filed_and_resolved()
    second = await file_report()
    await change_state(second, "assigned", "Chuyển Công ty Chiếu sáng")
    await filed_and_resolved(sender="zalo:99")  # someone else's
    _, said = await run_action(actions.ActionMyReports(), tracker)
    assert responses(said) == ["utter_my_reports"] and said[0]["count"] == 2
    lines = said[0]["lines"].splitlines()
    assert lines[0].startswith(f"• {second} — Chiếu sáng công cộng: đã chuyển đơn vị xử lý")
    assert lines[1].startswith(f"• {first} — Chiếu sáng công cộng: đã xử lý xong")
    async with backend_client() as backend:
        assert len(await backend.list_requests(account_id=SENDER)) == 2


async def test_my_reports_when_the_backend_is_down_says_so():
    _, said = await run_action(actions.ActionMyReports(), make_tracker("phản ánh của tôi", "my_reports",
                                                                       active_loop=None))
    assert responses(said) == ["utter_backend_down"]
