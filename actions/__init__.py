"""Rasa custom actions, one module per concern. Thin: each reads the tracker, calls `bot/` and
says what it found. `python -m rasa_sdk --actions actions` serves every action defined here."""
from .contact import ActionStorePhone
from .fallback import ActionFallback
from .feedback import (
    ActionAskFeedbackComment,
    ActionAskFeedbackFixed,
    ActionAskFeedbackRating,
    ActionEndFeedback,
    ActionSubmitFeedback,
    ValidateFeedbackForm,
)
from .report_end import ActionAnswerWithoutQuestion, ActionCancelReport, ActionSubmitReport
from .report_form import ValidateReportForm
from .report_questions import (
    ActionAskCategory,
    ActionAskConfirmed,
    ActionAskDuplicate,
    ActionAskLocation,
    ActionAskPhotosDone,
)
from .status import ActionCheckStatus, ActionMyReports

__all__ = [
    "ActionAnswerWithoutQuestion", "ActionAskCategory", "ActionAskConfirmed", "ActionAskDuplicate",
    "ActionAskFeedbackComment", "ActionAskFeedbackFixed", "ActionAskFeedbackRating", "ActionAskLocation",
    "ActionAskPhotosDone", "ActionCancelReport", "ActionCheckStatus", "ActionEndFeedback", "ActionFallback",
    "ActionMyReports",
    "ActionStorePhone", "ActionSubmitFeedback", "ActionSubmitReport", "ValidateFeedbackForm", "ValidateReportForm",
]
