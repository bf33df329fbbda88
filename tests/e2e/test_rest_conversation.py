"""End to end through Rasa's REST channel: backend, action server and Rasa server as `make run`
starts them (tests/support/stack.py), a citizen's conversation, and the report read back from
the routing backend by its code."""
from __future__ import annotations

import re

import pytest
import requests

from bot.settings import DEV_OPERATOR_KEY
from tests.support.conversation import COMPLAINT, Citizen, payloads, text
from tests.support.places import DA_NANG, THUAN_HOA

pytestmark = pytest.mark.slow


def file_report(citizen: Citizen):
    """Complaint -> category -> (outside pin refused) -> pin -> skip photos -> send;
    the code and the agency the citizen was told."""
    replies = citizen.say(COMPLAINT)
    # Category inferred from the whole message and proposed with buttons; not asked to describe.
    assert "Chiếu sáng công cộng" in text(replies), replies
    assert "/affirm" in payloads(replies)
    assert "mô tả" not in text(replies).lower()

    replies = citizen.say("/affirm")
    # "kiệt 45 Nguyễn Huệ" runs through several wards: buttons for the ward, or a pin.
    assert "Phường Thuận Hóa" in [b["title"] for r in replies for b in r.get("buttons") or []], replies
    assert any((r.get("custom") or {}).get("request_location") for r in replies)

    replies = citizen.pin(DA_NANG)
    assert "ngoài thành phố Huế" in text(replies), replies

    replies = citizen.pin(THUAN_HOA)
    assert "ảnh" in text(replies).lower() and "/deny" in payloads(replies), replies  # "Bỏ qua"

    replies = citizen.say("/deny")
    summary = text(replies)
    assert "Chiếu sáng công cộng" in summary and COMPLAINT in summary and "Ảnh: 0" in summary, replies
    assert "/affirm" in payloads(replies) and "/cancel" in payloads(replies)

    replies = citizen.say("/affirm")
    match = re.search(r"Mã phản ánh của bạn: (PA\d{6}).*\nĐơn vị xử lý: ([^\n]+)\.\n", text(replies), re.S)
    assert match, replies
    return match.group(1), match.group(2)


@pytest.fixture(scope="module")
def filed(stack):
    """One report filed through the whole conversation, shared by the tests that read it."""
    citizen = Citizen(stack, "reporter")
    code, told_agency = file_report(citizen)
    return citizen, code, told_agency


def test_make_run_tells_the_development_keys_once(stack):
    # First in this module, before the log of conversations pushes the start out of `stack.log`.
    # The backend prints the keys as it starts; `make run` repeating them made two of each.
    told = stack.output()
    assert told.count("dev-key-hue-phan-anh") == 1, told
    assert told.count("dev-operator-key-hue-phan-anh") == 1, told


def test_report_reaches_the_backend_routed_to_an_agency(stack, filed):
    citizen, code, told_agency = filed
    stored = stack.report(code)
    assert stored["service_request_id"] == code
    assert stored["service_code"] == "chieu_sang"
    assert stored["description"] == COMPLAINT
    assert (stored["lat"], stored["long"]) == pytest.approx(THUAN_HOA)
    assert stored["ward"] == "Phường Thuận Hóa"
    assert stored["status"] == "open"
    assert stored["channel"] == "rest"  # the channel the citizen used is kept with the report
    assert re.match(r"(UBND|Công ty|Sở|Trung tâm|Ban)", stored["agency_responsible"]), stored
    # The agency the citizen was told is the one the backend routed to.
    assert told_agency == stored["agency_responsible"]
    mine = stack.reports(account_id=citizen.sender)
    assert [r["service_request_id"] for r in mine] == [code]


def test_status_by_code_then_after_the_operator_resolves_it(stack, filed):
    citizen, code, _ = filed
    agency = stack.report(code)["agency_responsible"]
    typed = f"pa-{code[2:]}"  # as a citizen types it
    replies = citizen.say(f"phản ánh {typed} tới đâu rồi")
    answer = text(replies)
    assert code in answer and agency in answer, replies
    assert "đã tiếp nhận" in answer

    note = "Đã thay bóng đèn, đèn sáng bình thường."
    response = requests.post(f"{stack.backend_url}/requests/{code}/state.json",
                             data={"api_key": DEV_OPERATOR_KEY, "state": "resolved", "note": note}, timeout=10)
    assert response.status_code == 200, response.text

    answer = text(citizen.say(f"PA {int(code[2:])} sao rồi"))
    assert "đã xử lý xong" in answer and note in answer and agency in answer, answer
    # Without a code: the citizen's own reports.
    answer = text(citizen.say("phản ánh của tôi xử lý chưa"))
    assert code in answer, answer


def test_unknown_code_gets_a_clear_answer(stack):
    answer = text(Citizen(stack, "curious").say("PA999999 sao rồi"))
    assert "không tìm thấy" in answer.lower() and "PA999999" in answer, answer


def test_cancel_mid_report_leaves_nothing_in_the_backend(stack, filed):
    before = len(stack.reports())
    citizen = Citizen(stack, "canceller")
    citizen.say(COMPLAINT)
    citizen.say("/affirm")
    replies = citizen.say("hủy")
    assert "Đã hủy" in text(replies), replies
    # Nothing half-filled survives: the next message starts from nothing.
    replies = citizen.say("/affirm")
    assert "Mã phản ánh" not in text(replies)
    assert len(stack.reports()) == before
    assert stack.reports(account_id=citizen.sender) == []


def test_emergency_mid_report_gives_the_numbers_then_the_report_goes_on(stack):
    citizen = Citizen(stack, "witness")
    # Read by the NLU as `inform` (an address), yet a complaint: kept as the description, so
    # the next question is the category, not "describe the problem".
    replies = citizen.say("đèn đường kiệt 45 Nguyễn Huệ hỏng")
    assert "Chiếu sáng công cộng" in text(replies), replies
    replies = citizen.say("cháy nhà có người mắc kẹt bên trong")
    answer = text(replies)
    assert "113" in answer and "114" in answer and "115" in answer, replies
    # The category question comes again: the report was not dropped.
    assert "Chiếu sáng công cộng" in answer and "/affirm" in payloads(replies), replies
    citizen.say("hủy")


def test_two_misunderstandings_in_a_row_offer_the_menu(stack):
    citizen = Citizen(stack, "lost")
    first = citizen.say("xkcd blorp")
    assert "nói cách khác" in text(first) and not payloads(first), first
    second = citizen.say("lkjsdf")
    assert "/report_issue" in payloads(second) and "/check_status" in payloads(second), second


def test_what_the_stack_keeps_on_disk_only_its_own_user_can_read(stack, filed):
    # The backend's database holds citizens' phone numbers; the outbox and the missed messages
    # what they wrote: nobody else on the host may read them.
    kept = [path for path in stack.data_dir.rglob("*") if path.is_file()]
    assert any(path.name == "backend.sqlite3" for path in kept), kept
    readable_by_others = [path for path in kept if path.stat().st_mode & 0o077]
    assert not readable_by_others


def test_a_page_of_another_origin_cannot_read_the_assistant_s_api(stack):
    origin = {"Origin": "http://evil.example"}
    preflight = requests.options(f"{stack.rasa_url}/conversations/someone/tracker",
                                 headers={**origin, "Access-Control-Request-Method": "GET"}, timeout=10)
    read = requests.get(f"{stack.rasa_url}/status", headers=origin, timeout=10)
    for response in (preflight, read):
        assert "Access-Control-Allow-Origin" not in response.headers, response.headers
    # The web chat, served from the same origin, still works without CORS.
    assert requests.get(stack.webchat_url, timeout=10).status_code == 200
