"""The citizen's word on a resolved report: the answers read from buttons and typed words
(bot/feedback.py), and the feedback form's actions with hand-built trackers against the REAL
routing backend (`assistant_env`, tests/conftest.py): a "not fixed" reopens the report, five stars
and a comment are stored, and a message that answers nothing is left to the rules."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

import pytest

import actions
from bot import feedback
from tests.support.conversation import COMPLAINT
from tests.support.lifecycle import change_state, file_report, filed_and_resolved, stored
from tests.support.trackers import SENDER, make_tracker, responses, run_action

# The actions talk to the routing backend's port (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("assistant_env")


def said(text: str, intent: str = "nlu_fallback", **entities: Any) -> Dict[str, Any]:
    """A parsed message as an action sees it."""
    return {"text": text, "intent": {"name": intent, "confidence": 0.9},
            "entities": [{"entity": name, "value": value} for name, value in entities.items()]}


# Reading the answers ------------------------------------------------------------------------
@pytest.mark.parametrize("text, intent, fixed", [
    ("/affirm", "affirm", True),
    ("/deny", "deny", False),
    ("✅ Đã khắc phục", "affirm", True),
    ("đã khắc phục", "nlu_fallback", True),
    ("Da khac phuc roi", "affirm", True),
    ("rồi", "affirm", True),
    ("Chưa khắc phục", "check_status", False),
    ("chua sua", "check_status", False),
    ("chưa sửa", "check_status", False),
    ("sửa rồi mà vẫn còn", "affirm", False),
    ("chưa sửa xong", "check_status", False),
    ("không", "deny", False),
])
def test_really_fixed_from_buttons_and_typed_words_with_or_without_diacritics(text, intent, fixed):
    assert feedback.fixed_answer(said(text, intent)) is fixed


def test_a_new_complaint_or_a_greeting_is_not_an_answer_to_really_fixed():
    assert feedback.fixed_answer(said(COMPLAINT + " chưa ai sửa", "report_issue")) is None
    assert feedback.fixed_answer(said("chào bạn", "greet")) is None
    assert feedback.fixed_answer(said("/report_issue", "report_issue")) is None


@pytest.mark.parametrize("text, rating", [
    ("5", 5), ("5 sao", 5), ("cho 4 sao", 4), ("năm sao", 5), ("nam sao", 5), ("ba", 3),
    ("tốt", 4), ("tot lam", 4), ("rất tốt", 5), ("tuyệt vời", 5), ("tạm được", 3), ("bình thường", 3),
    ("tệ", 2), ("te", 2), ("không tốt", 2), ("rất tệ", 1), ("te qua", 1),
])
def test_ratings_typed_as_digits_numbers_or_words(text, rating):
    assert feedback.rating_answer(said(text)) == rating


def test_rating_buttons_go_one_to_five_so_a_numbered_list_means_the_stars():
    # Zalo shows buttons as a numbered list: answering "5" picks the fifth button, five stars.
    for number, button in enumerate(feedback.RATING_BUTTONS, start=1):
        payload = json.loads(button["payload"].split("inform", 1)[1])
        assert payload == {"rating": number} and button["title"].count("⭐") == number
        assert feedback.rating_answer(said(button["payload"], "inform", rating=number)) == number


@pytest.mark.parametrize("text", ["PA000123", "10", "6 sao", "hôm qua 3 người đến sửa, 2 người đứng xem, mãi chưa xong",
                                  "/affirm", "chào bạn"])
def test_what_is_no_rating_gives_none(text):
    assert feedback.rating_answer(said(text)) is None


def test_comment_taken_as_typed_or_skipped_but_not_another_button():
    assert feedback.comment_answer(said("Cán bộ làm nhanh, cảm ơn <b>nhiều</b>")) == "Cán bộ làm nhanh, cảm ơn nhiều"
    for skip in ("/deny", "bỏ qua", "Bo qua", "⏭️ Bỏ qua", "không"):
        assert feedback.comment_answer(said(skip, "deny" if skip == "/deny" else "nlu_fallback")) == "", skip
    assert feedback.comment_answer(said("/report_issue", "report_issue")) is None
    assert len(feedback.comment_answer(said("x" * 5000)) or "") == feedback.MAX_COMMENT_CHARS


def test_questions_follow_from_the_answers():
    assert feedback.answer(feedback.FIXED, said("/affirm", "affirm")) == {
        feedback.FIXED: True, "requested_slot": feedback.RATING}
    # Not fixed: no stars, but what is still wrong.
    assert feedback.answer(feedback.FIXED, said("chưa sửa")) == {
        feedback.FIXED: False, "requested_slot": feedback.COMMENT}
    assert feedback.answer(feedback.RATING, said("5")) == {feedback.RATING: 5, "requested_slot": feedback.COMMENT}
    assert feedback.answer(feedback.COMMENT, said("bỏ qua")) == {feedback.COMMENT: "", "requested_slot": None}
    assert feedback.answer(feedback.FIXED, said(COMPLAINT, "report_issue")) == {}


def test_what_the_answer_did_reopened_not_reopened_or_thanked():
    unhappy = {feedback.FIXED: True, feedback.RATING: 2}
    assert feedback.outcome(unhappy, {"state": "assigned", "status": "open"}) == "reopened"
    assert feedback.outcome(unhappy, {"state": "resolved", "status": "closed"}) == "not_reopened"
    assert feedback.outcome({feedback.FIXED: True, feedback.RATING: 4}, {"state": "resolved"}) == "thanked"
    # Another Open311 server without `state`: its `status` tells.
    assert feedback.outcome({feedback.FIXED: False}, {"status": "open"}) == "reopened"


# The form's actions against the routing backend -------------------------------------------------


async def submit_feedback(code: str, sender: str = SENDER, *, fixed: bool, rating: Optional[int] = None,
                          comment: str = ""):
    slots = {feedback.REPORT: code, feedback.FIXED: fixed, feedback.RATING: rating, feedback.COMMENT: comment}
    tracker = make_tracker(comment or "/deny", "nlu_fallback", slots=slots, active_loop=None, sender=sender)
    return await run_action(actions.ActionSubmitFeedback(), tracker)


async def test_the_question_names_the_report_and_offers_the_two_answers():
    tracker = make_tracker("EXTERNAL: EXTERNAL_report_resolved", "EXTERNAL_report_resolved",
                           slots={feedback.REPORT: "PA000012"}, active_loop="feedback_form",
                           requested=feedback.FIXED)
    _, messages = await run_action(actions.ActionAskFeedbackFixed(), tracker)
    assert responses(messages) == ["utter_ask_feedback_fixed"] and messages[0]["report_id"] == "PA000012"
    assert [b["title"] for b in messages[0]["buttons"]] == ["✅ Đã khắc phục", "❌ Chưa khắc phục"]


async def test_the_form_takes_answers_and_leaves_anything_else_to_the_rules():
    async def validate(text, intent, requested, **slots):
        tracker = make_tracker(text, intent, slots={feedback.REPORT: "PA000012", **slots},
                               active_loop="feedback_form", requested=requested)
        events, messages = await run_action(actions.ValidateFeedbackForm(), tracker)
        return {e["name"]: e["value"] for e in events}, messages

    assert (await validate("chua khac phuc", "check_status", feedback.FIXED))[0] == {
        feedback.FIXED: False, "requested_slot": feedback.COMMENT}
    assert (await validate("năm sao", "nlu_fallback", feedback.RATING, feedback_fixed=True))[0] == {
        feedback.RATING: 5, "requested_slot": feedback.COMMENT}
    # A new complaint fills nothing: Rasa rejects the form and the report starts (rules.yml).
    assert await validate(COMPLAINT, "report_issue", feedback.FIXED) == ({}, [])
    # Another report resolved meanwhile: the questions start again, about it.
    slots, _ = await validate("EXTERNAL: EXTERNAL_report_resolved", "EXTERNAL_report_resolved", feedback.RATING,
                              feedback_fixed=True)
    assert slots == {feedback.FIXED: None, feedback.RATING: None, feedback.COMMENT: None,
                     "requested_slot": feedback.FIXED}
    # "bỏ qua" skips the comment although the NLU reads it as cancelling; "hủy" ends the questions.
    assert (await validate("bỏ qua", "cancel", feedback.COMMENT, feedback_fixed=True, feedback_rating=5))[0] == {
        feedback.COMMENT: "", "requested_slot": None}
    # "hủy" ends the questions for good.
    slots, messages = await validate("hủy", "cancel", feedback.RATING, feedback_fixed=True)
    assert slots["requested_slot"] is None and slots[feedback.FIXED] is None
    assert responses(messages) == ["utter_feedback_dropped"]


async def test_not_fixed_reopens_the_report_and_says_it_went_back_to_the_agency(routing_backend):
    await routing_backend.start()
    code = await filed_and_resolved()
    events, messages = await submit_feedback(code, fixed=False, comment="Đèn vẫn tắt buổi tối")
    assert responses(messages) == ["utter_feedback_reopened"] and messages[0]["report_id"] == code
    report = await stored(code)
    assert report["state"] == "assigned" and report["reopened"] == 1
    assert messages[0]["agency"] == report["agency_responsible"]
    # The conversation forgets the question once answered.
    assert {e["name"]: e["value"] for e in events if e["event"] == "slot"}[feedback.REPORT] is None


async def test_five_stars_and_a_comment_are_stored_and_thanked(routing_backend):
    await routing_backend.start()
    code = await filed_and_resolved()
    _, messages = await submit_feedback(code, fixed=True, rating=5, comment="Sửa nhanh, cảm ơn")
    assert responses(messages) == ["utter_feedback_thanks"]
    report = await stored(code)
    assert (report["rating"], report["rating_comment"], report["state"]) == (5, "Sửa nhanh, cảm ơn", "resolved")


async def test_a_low_rating_reopens_once_then_is_only_noted(routing_backend):
    await routing_backend.start()
    code = await filed_and_resolved()
    _, messages = await submit_feedback(code, fixed=True, rating=1)
    assert responses(messages) == ["utter_feedback_reopened"]
    await change_state(code, "resolved", "Đã sửa lại lần hai")
    _, messages = await submit_feedback(code, fixed=False)
    # REOPEN_LIMIT (1) reached: the citizen is told it stays closed and what to do instead.
    assert responses(messages) == ["utter_feedback_not_reopened"]
    assert (await stored(code))["state"] == "resolved"


async def test_a_report_not_resolved_or_someone_elses_cannot_be_rated(routing_backend):
    await routing_backend.start()
    _, messages = await submit_feedback(await file_report(), fixed=True, rating=4)
    assert responses(messages) == ["utter_feedback_refused"] and messages[0]["reason"]
    code = await filed_and_resolved()
    _, messages = await submit_feedback(code, "zalo:777", fixed=False)
    assert responses(messages) == ["utter_feedback_refused"]
    assert (await stored(code))["state"] == "resolved"


async def test_the_verdict_is_not_sent_when_nothing_was_answered():
    # "hủy" before any answer: the form ends and nothing reaches the backend (which is not even up).
    tracker = make_tracker("hủy", "cancel", slots={feedback.REPORT: "PA000012"}, active_loop=None)
    _, messages = await run_action(actions.ActionSubmitFeedback(), tracker)
    assert messages == []


async def test_the_backend_down_is_told():
    _, messages = await submit_feedback("PA000012", fixed=True, rating=5)
    assert responses(messages) == ["utter_backend_down"]
