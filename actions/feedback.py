"""The citizen's word on a resolved report (bot/feedback.py): the form that asks "really fixed?",
the 1–5 rating and a comment, then sends the verdict to the Open311 server."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.types import DomainDict

from bot import feedback
from bot.open311_client import BackendRejected, BackendUnavailable

from .common import client, intent_of

logger = logging.getLogger(__name__)
# The notifier's call (Rasa's trigger_intent) when a report of this conversation is resolved.
RESOLVED = "EXTERNAL_report_resolved"
OUTCOMES = {"reopened": "utter_feedback_reopened", "not_reopened": "utter_feedback_not_reopened",
            "thanked": "utter_feedback_thanks"}


def _forget() -> List[EventType]:
    return [SlotSet(slot, None) for slot in feedback.SLOTS] + [SlotSet("requested_slot", None)]


class ValidateFeedbackForm(Action):
    """Takes the answer to the question asked. Anything else fills nothing, so Rasa rejects the
    form and the rules handle the message (a complaint starts a report, a code gets its status),
    and the question is not asked again."""

    def name(self) -> Text:
        return "validate_feedback_form"

    async def run(self, dispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        asked = tracker.get_slot("requested_slot")
        if intent_of(tracker) == RESOLVED and asked:
            # Another report resolved while the citizen was answering about one: ask about it.
            return [SlotSet(feedback.FIXED, None), SlotSet(feedback.RATING, None),
                    SlotSet(feedback.COMMENT, None), SlotSet("requested_slot", feedback.FIXED)]
        slots: Dict[str, Any] = feedback.answer(asked, tracker.latest_message)
        if not slots and intent_of(tracker) == "cancel" and asked:
            # "hủy" (but "bỏ qua" at the comment, which the NLU also reads as cancelling, skips it).
            dispatcher.utter_message(response="utter_feedback_dropped")
            return _forget()
        return [SlotSet(name, value) for name, value in slots.items()]


class ActionAskFeedbackFixed(Action):
    def name(self) -> Text:
        return "action_ask_feedback_fixed"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        dispatcher.utter_message(response="utter_ask_feedback_fixed", buttons=feedback.FIXED_BUTTONS,
                                 report_id=tracker.get_slot(feedback.REPORT) or "của bạn")
        return []


class ActionAskFeedbackRating(Action):
    def name(self) -> Text:
        return "action_ask_feedback_rating"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        dispatcher.utter_message(response="utter_ask_feedback_rating", buttons=feedback.RATING_BUTTONS)
        return []


class ActionAskFeedbackComment(Action):
    def name(self) -> Text:
        return "action_ask_feedback_comment"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        fixed = tracker.get_slot(feedback.FIXED)
        dispatcher.utter_message(response="utter_ask_feedback_comment" if fixed else "utter_ask_feedback_problem",
                                 buttons=feedback.SKIP_BUTTONS)
        return []


class ActionSubmitFeedback(Action):
    """Sends the verdict with the conversation's sender id as the account (the report's own), and
    tells the citizen what it did: reopened and back to the agency, or thanks."""

    def name(self) -> Text:
        return "action_submit_feedback"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        slots = tracker.current_slot_values()
        code = slots.get(feedback.REPORT)
        if not code or slots.get(feedback.FIXED) is None:
            return _forget()  # dropped before any answer ("hủy"): nothing to send
        try:
            async with client() as backend:
                after = await backend.rate(code, account_id=tracker.sender_id, **feedback.rating_fields(slots))
        except BackendUnavailable as exc:
            logger.warning("rating of %s not sent (sender %s): %s", code, tracker.sender_id, exc.detail)
            dispatcher.utter_message(response="utter_backend_down")
            return _forget()
        except BackendRejected as exc:
            logger.warning("rating of %s refused (sender %s): HTTP %s %s", code, tracker.sender_id, exc.code,
                           exc.description)
            dispatcher.utter_message(response="utter_feedback_refused", reason=str(exc))
            return _forget()
        dispatcher.utter_message(response=OUTCOMES[feedback.outcome(slots, after)], report_id=code,
                                 agency=after.get("agency_responsible") or "cơ quan xử lý")
        return _forget()


class ActionEndFeedback(Action):
    """Drops the unanswered question when the citizen turns to something else that needs the
    conversation (a new report): the form ends quietly, their message is handled as usual."""

    def name(self) -> Text:
        return "action_end_feedback"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        return [ActiveLoop(None)] + _forget()
