"""Answers "what happened to my report?": by its code, or with the citizen's own reports."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Text

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import report
from bot.open311_client import BackendUnavailable
from bot.report_codes import normalize_report_code

from .common import catalogue, client, entity_values

logger = logging.getLogger(__name__)


class ActionCheckStatus(Action):
    def name(self) -> Text:
        return "action_check_status"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        typed = next(iter(entity_values(tracker, "report_id")), None)
        code = normalize_report_code(typed) if typed else None
        try:
            async with client() as backend:
                if typed and not code:
                    dispatcher.utter_message(response="utter_status_unknown", report_id=typed)
                elif code:
                    found = await backend.get_request(code)
                    if found:
                        dispatcher.utter_message(response="utter_status",
                                                 **report.status_params(found, await catalogue.categories()))
                    else:
                        dispatcher.utter_message(response="utter_status_unknown", report_id=code)
                else:
                    own = await backend.list_requests(account_id=tracker.sender_id)
                    self.list_own(dispatcher, own, await catalogue.categories())
        except BackendUnavailable as exc:
            logger.warning("status lookup failed (sender %s): %s", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_backend_down")
        return [SlotSet("report_id", None)]

    @staticmethod
    def list_own(dispatcher: CollectingDispatcher, requests: List[Dict[str, Any]],
                 names: Mapping[str, str]) -> None:
        if not requests:
            dispatcher.utter_message(response="utter_status_none")
        elif len(requests) == 1:
            dispatcher.utter_message(response="utter_status", **report.status_params(requests[0], names))
        else:
            dispatcher.utter_message(response="utter_status_list_header")
            for request in requests[:5]:
                dispatcher.utter_message(response="utter_status_line", **report.status_params(request, names))
