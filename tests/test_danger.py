"""The danger question (bot/danger.py): asked before a report whose complaint shows danger signs,
and instead of "please rephrase" for a message not understood that does; "yes" gives the numbers."""
from __future__ import annotations

import pytest

import actions
from tests.support.trackers import make_tracker, responses, run_action

COMPLAINT = "dây điện võng thấp cả tuần nay, chiều nay xe tải móc đứt, dây nằm dưới đường"


def with_emergency_at(tracker, confidence: float):
    intent = tracker.latest_message["intent"]["name"]
    tracker.latest_message["intent_ranking"] = [
        {"name": intent, "confidence": 1 - confidence}, {"name": "emergency", "confidence": confidence}]
    return tracker


async def validate(tracker):
    events, said = await run_action(actions.ValidateReportForm(), tracker)
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}, responses(said)


@pytest.mark.parametrize("confidence, asked", [(0.45, True), (0.02, False)])
async def test_a_complaint_with_danger_signs_leaves_the_question_to_be_asked(confidence, asked):
    category = {"entity": "category", "value": "chieu_sang", "start": 0, "end": len(COMPLAINT)}
    tracker = make_tracker(COMPLAINT, "report_issue", entities=[category])
    slots, said = await validate(with_emergency_at(tracker, confidence))
    assert slots["description"] == COMPLAINT
    # Unanswered, the form asks it next (utter_ask_danger_now); answered "no" it is never asked.
    assert slots.get("danger_now") is (None if asked else False)
    assert "utter_emergency" not in said


@pytest.mark.parametrize("intent, in_danger", [("affirm", True), ("emergency", True), ("deny", False),
                                               ("inform", True)])
async def test_the_answer_yes_or_anything_but_no_gives_the_numbers(intent, in_danger):
    tracker = make_tracker("trả lời", intent, requested="danger_now", slots={"description": COMPLAINT})
    slots, said = await validate(tracker)
    assert slots["danger_now"] is in_danger
    assert ("utter_emergency" in said) is in_danger


@pytest.mark.parametrize("confidence, response", [(0.4, "utter_ask_danger_unclear"), (0.05, "utter_default")])
async def test_a_message_not_understood_with_danger_signs_is_asked_about_danger(confidence, response):
    tracker = with_emergency_at(make_tracker("khói mù mịt, nghe la hét", "nlu_fallback", active_loop=None), confidence)
    _, said = await run_action(actions.ActionFallback(), tracker)
    assert responses(said) == [response]
