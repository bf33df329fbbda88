"""Rasa custom actions, one module per concern. Thin: each reads the tracker, calls `bot/` and
says what it found. `python -m rasa_sdk --actions actions` serves every action defined here."""
from .contact import ActionStorePhone
from .fallback import ActionFallback
from .report_end import ActionAnswerWithoutQuestion, ActionCancelReport, ActionSubmitReport
from .report_form import ValidateReportForm
from .report_questions import ActionAskCategory, ActionAskConfirmed, ActionAskLocation, ActionAskPhotosDone
from .status import ActionCheckStatus

__all__ = [
    "ActionAnswerWithoutQuestion", "ActionAskCategory", "ActionAskConfirmed", "ActionAskLocation",
    "ActionAskPhotosDone", "ActionCancelReport", "ActionCheckStatus", "ActionFallback", "ActionStorePhone",
    "ActionSubmitReport", "ValidateReportForm",
]
