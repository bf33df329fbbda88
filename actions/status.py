"""Answers "what happened to my report?": by its code (with its history), or with the citizen's
own reports ("Phản ánh của tôi")."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Text

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import history, report
from bot.open311_client import BackendUnavailable, Open311Client
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
                        say_status(dispatcher, found, await catalogue.categories())
                    else:
                        dispatcher.utter_message(response="utter_status_unknown", report_id=code)
                else:
                    await list_own(dispatcher, backend, tracker.sender_id)
        except BackendUnavailable as exc:
            logger.warning("status lookup failed (sender %s): %s", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_backend_down")
        return [SlotSet("report_id", None)]


class ActionMyReports(Action):
    """"Phản ánh của tôi": the reports filed from this conversation, newest first."""

    def name(self) -> Text:
        return "action_my_reports"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        try:
            async with client() as backend:
                await list_own(dispatcher, backend, tracker.sender_id)
        except BackendUnavailable as exc:
            logger.warning("listing own reports failed (sender %s): %s", tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_backend_down")
        return []


def say_status(dispatcher: CollectingDispatcher, request: Dict[str, Any], names: Mapping[str, str]) -> None:
    dispatcher.utter_message(response="utter_status", **report.status_params(request, names),
                             history=history.history_text(request))


async def list_own(dispatcher: CollectingDispatcher, backend: Open311Client, sender_id: str) -> None:
    """The citizen's reports (the account is the conversation's sender id); one alone in full."""
    own = await backend.list_requests(account_id=sender_id)
    names = await catalogue.categories()
    if not own:
        dispatcher.utter_message(response="utter_status_none")
    elif len(own) == 1:
        say_status(dispatcher, own[0], names)
    else:
        dispatcher.utter_message(response="utter_my_reports", **history.own_reports(own, names))
