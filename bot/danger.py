"""Danger signs in a message that was not taken as an emergency.

Emergencies are a safety matter: a real emergency missed costs more than a citizen asked "is
anyone in danger right now?". The NLU's emergency probability is the signal: a complaint that also
reads somewhat like an emergency (danger signs told beside a lasting problem, or a scene the model
is unsure of) gets that one question before the report goes on, and so does a message the NLU
could not place; "yes" gives the emergency numbers.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

EMERGENCY_INTENT = "emergency"
# Messages asked first: a complaint starting a report, and a message the NLU could not place
# (the fallback asks instead of "please rephrase").
ASKED_INTENTS = ("report_issue", "nlu_fallback")
# From this emergency probability a report starts with the question. Chosen on nlu/heldout with
# `make bench`: nlu.heldout.emergency_recall_with_question against danger_question_rate (about
# 1 ordinary message in 50 is asked).
QUESTION_FROM = 0.2


def signs(parsed: Mapping[str, Any]) -> float:
    """The emergency probability of a parsed message (Rasa's `intent_ranking`), 0 if absent."""
    for ranked in parsed.get("intent_ranking") or []:
        if ranked.get("name") == EMERGENCY_INTENT:
            return float(ranked.get("confidence") or 0.0)
    return 0.0


def worth_asking(parsed: Mapping[str, Any]) -> bool:
    """Whether a complaint, or a message not understood, shows enough danger signs to ask first."""
    intent = (parsed.get("intent") or {}).get("name")
    return intent in ASKED_INTENTS and asks(signs(parsed))


def asks(danger_signs: Optional[float]) -> bool:
    """Whether the danger signs stored when a report started call for the question."""
    return danger_signs is not None and danger_signs >= QUESTION_FROM
