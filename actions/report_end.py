"""How a report ends: sent to the Open311 server (or kept until it can be), a nearby report
followed instead, or cancelled."""
from __future__ import annotations

import logging
from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import ActiveLoop, EventType

from bot import duplicates, followed, metrics, outbox, report
from bot.messages import channel_from
from bot.open311_client import BackendRejected, BackendUnavailable

from .common import client, reset_report

logger = logging.getLogger(__name__)

# Sent with the message that ends a report (sent, kept for later, refused or cancelled), so that a
# channel can put away what it showed for the report, such as the web chat's map.
REPORT_ENDED = {"report_ended": True}


class ActionSubmitReport(Action):
    def name(self) -> Text:
        return "action_submit_report"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        if duplicates.follows(tracker.get_slot("duplicate")):
            return await self.follow_instead(dispatcher, tracker)
        key = report.idempotency_key(tracker.sender_id, tracker.events)
        if key is None:
            logger.warning("no report form in the conversation of %s: the report is sent without an "
                           "idempotency key", tracker.sender_id)
        fields = report.request_fields(tracker.current_slot_values(), tracker.sender_id,
                                       channel_from(tracker.latest_message) or tracker.get_latest_input_channel(),
                                       key)
        channel = metrics.channel_label(fields["channel"])
        try:
            async with client() as backend:
                created = await backend.create_request(**fields)
                code = created["service_request_id"]
                sent = await backend.get_request(code) or {}
        except BackendUnavailable as exc:
            # The outbox worker (bot/outbox_worker.py) delivers it and tells the citizen the code.
            outbox.save(fields)
            metrics.REPORTS_SUBMITTED.labels(channel, "queued").inc()
            logger.warning("backend unavailable, report kept in the outbox (sender %s): %s",
                           tracker.sender_id, exc.detail)
            dispatcher.utter_message(response="utter_report_queued", json_message=REPORT_ENDED)
            return reset_report()
        except BackendRejected as exc:
            logger.error("backend rejected a report (sender %s): %s", tracker.sender_id, exc)
            metrics.REPORTS_SUBMITTED.labels(channel, "rejected").inc()
            dispatcher.utter_message(response="utter_report_rejected", reason=exc.description,
                                     json_message=REPORT_ENDED)
            return reset_report()
        # The notifier tells this conversation of the report's changes.
        followed.record(code, tracker.sender_id, fields["channel"])
        metrics.REPORTS_SUBMITTED.labels(channel, "sent").inc()
        dispatcher.utter_message(response="utter_report_sent", report_id=code,
                                 agency=sent.get("agency_responsible") or "đang phân công", json_message=REPORT_ENDED)
        return reset_report()

    @staticmethod
    async def follow_instead(dispatcher, tracker) -> List[EventType]:
        """The citizen follows the nearby report they chose: counted on the server, and told of
        its changes by the notifier like their own; nothing new is filed."""
        code = tracker.get_slot("duplicate")
        channel = channel_from(tracker.latest_message) or tracker.get_latest_input_channel()
        followed.follow(code, tracker.sender_id, channel)
        try:
            async with client() as backend:
                await backend.follow(code, account_id=tracker.sender_id)
        except (BackendUnavailable, BackendRejected) as exc:
            # Only the server's count misses this follower: the notifier still tells them.
            logger.warning("follow of %s not counted on the server: %s", code,
                           exc.detail if isinstance(exc, BackendUnavailable) else f"HTTP {exc.code} {exc.description}")
        dispatcher.utter_message(response="utter_report_followed", report_id=code, json_message=REPORT_ENDED)
        return reset_report()


class ActionCancelReport(Action):
    def name(self) -> Text:
        return "action_cancel_report"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        if tracker.active_loop_name:
            dispatcher.utter_message(response="utter_cancelled", json_message=REPORT_ENDED)
            return [ActiveLoop(None)] + reset_report()
        dispatcher.utter_message(response="utter_nothing_to_cancel")
        return [ActiveLoop(None)]


class ActionAnswerWithoutQuestion(Action):
    """A yes or no while no report is being told: a button left from a report that is over gets
    "that report is over", typed words the help."""

    def name(self) -> Text:
        return "action_answer_without_question"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        old = report.is_old_button(tracker.latest_message)
        dispatcher.utter_message(response="utter_report_over" if old else "utter_help")
        return []
