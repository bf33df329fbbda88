"""How a report ends: sent to the Open311 server (or kept until it can be), or cancelled."""
from __future__ import annotations

import logging
from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import ActiveLoop, EventType

from bot import outbox, report
from bot.messages import channel_from
from bot.open311_client import BackendRejected, BackendUnavailable

from .common import client, reset_report

logger = logging.getLogger(__name__)


class ActionSubmitReport(Action):
    def name(self) -> Text:
        return "action_submit_report"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        fields = report.request_fields(tracker.current_slot_values(), tracker.sender_id,
                                       channel_from(tracker.latest_message) or tracker.get_latest_input_channel())
        try:
            async with client() as backend:
                await outbox.flush(backend)
                created = await backend.create_request(**fields)
                code = created["service_request_id"]
                sent = await backend.get_request(code) or {}
        except BackendUnavailable as exc:
            outbox.save(fields)
            logger.warning("backend unavailable, report kept in the outbox (sender %s): %s",
                           tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_report_queued")
            return reset_report()
        except BackendRejected as exc:
            logger.error("backend rejected a report (sender %s): %s", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_report_rejected", reason=exc.description)
            return reset_report()
        dispatcher.utter_message(response="utter_report_sent", report_id=code,
                                 agency=sent.get("agency_responsible") or "đang phân công")
        return reset_report()


class ActionCancelReport(Action):
    def name(self) -> Text:
        return "action_cancel_report"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        if tracker.active_loop_name:
            dispatcher.utter_message(response="utter_cancelled")
            return [ActiveLoop(None)] + reset_report()
        dispatcher.utter_message(response="utter_nothing_to_cancel")
        return [ActiveLoop(None)]
