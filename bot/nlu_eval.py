"""Scores a trained model on labelled NLU data: intent and category accuracy, address spans, and
each example's answer (what changed between two models, accuracy per intent).

Used by `make bench` (held-out split and cross-validation), by the NLU tests and by the admins'
retraining gate (`bot.admin.retrain`).
"""
from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import structlog
from rasa.core.agent import Agent
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

from bot import danger
from bot.nlu.category import category_of
from bot.text import strip_marks

EMERGENCY = danger.EMERGENCY_INTENT


@dataclass
class Example:
    text: str
    intent: str
    category: Optional[str]
    addresses: Tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """What the model answered to one example, beside what was expected."""
    text: str
    intent: str
    category: Optional[str]
    got_intent: Optional[str]
    got_category: Optional[str]
    asked: bool = False  # not taken as an emergency, but asked "is anyone in danger right now?"

    @property
    def verdicts(self) -> Tuple[bool, ...]:
        """Each thing the scores count right or wrong in this answer: the intent; the category,
        where one is expected; for an emergency, that it got the numbers or the danger question."""
        verdicts: Tuple[bool, ...] = (self.got_intent == self.intent,)
        if self.category:
            verdicts += (self.got_category == self.category,)
        if self.intent == EMERGENCY:
            verdicts += (self.got_intent == EMERGENCY or self.asked,)
        return verdicts


@dataclass
class Scores:
    examples: int = 0
    intent_correct: int = 0
    category_examples: int = 0
    category_correct: int = 0
    address_expected: int = 0
    address_found: int = 0
    address_correct: int = 0
    emergencies: int = 0
    emergencies_caught: int = 0
    false_alarms: int = 0
    emergencies_asked: int = 0  # missed, but the report would start with the danger question
    others_asked: int = 0
    errors: List[Dict] = field(default_factory=list)
    answers: List[Answer] = field(default_factory=list)  # one per example, in order

    @property
    def intent_accuracy(self) -> float:
        return self.intent_correct / self.examples if self.examples else 0.0

    @property
    def category_accuracy(self) -> float:
        return self.category_correct / self.category_examples if self.category_examples else 0.0

    @property
    def emergency_recall(self) -> float:
        """Share of the emergencies answered with the emergency numbers."""
        return self.emergencies_caught / self.emergencies if self.emergencies else 0.0

    @property
    def false_alarm_rate(self) -> float:
        """Share of the other messages answered with the emergency numbers."""
        others = self.examples - self.emergencies
        return self.false_alarms / others if others else 0.0

    @property
    def emergency_recall_with_question(self) -> float:
        """Share of the emergencies answered with the numbers or asked "is anyone in danger?"."""
        return (self.emergencies_caught + self.emergencies_asked) / self.emergencies if self.emergencies else 0.0

    @property
    def danger_question_rate(self) -> float:
        """Share of the other messages asked "is anyone in danger right now?"."""
        others = self.examples - self.emergencies
        return self.others_asked / others if others else 0.0

    @property
    def address_f1(self) -> float:
        if not self.address_correct:
            return 0.0
        precision = self.address_correct / self.address_found
        recall = self.address_correct / self.address_expected
        return 2 * precision * recall / (precision + recall)


def per_intent(answers: Iterable[Answer]) -> Dict[str, Tuple[int, float]]:
    """Each expected intent's examples and the share of them given that intent."""
    counts: Dict[str, List[int]] = {}
    for answer in answers:
        n_correct = counts.setdefault(answer.intent, [0, 0])
        n_correct[0] += 1
        n_correct[1] += answer.got_intent == answer.intent
    return {intent: (n, correct / n) for intent, (n, correct) in sorted(counts.items())}


def examples_from(paths: Iterable[Path]) -> List[Example]:
    examples = []
    for path in paths:
        for message in load_data(str(path)).intent_examples:
            examples.append(to_example(message))
    return examples


def to_example(message: Message) -> Example:
    addresses = tuple(
        message.get("text")[e["start"]:e["end"]]
        for e in message.get("entities") or []
        if e["entity"] == "address"
    )
    return Example(message.get("text"), message.get("intent"), category_of(message), addresses)


def strip_diacritics(example: Example) -> Example:
    """The same message as typed without diacritics, case kept."""
    return Example(strip_marks(example.text), example.intent, example.category,
                   tuple(strip_marks(a) for a in example.addresses))


def _norm(span: str) -> str:
    return " ".join(span.lower().strip(" ,.").split())


async def score(agent: Agent, examples: List[Example]) -> Scores:
    scores = Scores()
    for example in examples:
        parsed = await agent.parse_message(example.text)
        intent = (parsed.get("intent") or {}).get("name")
        entities = parsed.get("entities") or []
        scores.examples += 1
        scores.intent_correct += intent == example.intent
        asked = danger.worth_asking(parsed)
        if example.intent == EMERGENCY:
            scores.emergencies += 1
            scores.emergencies_caught += intent == EMERGENCY
            scores.emergencies_asked += asked
        else:
            scores.false_alarms += intent == EMERGENCY
            scores.others_asked += asked
        category = next((e["value"] for e in entities if e["entity"] == "category"), None)
        if example.category:
            scores.category_examples += 1
            scores.category_correct += category == example.category
            if category != example.category:
                scores.errors.append({"text": example.text, "category": example.category, "got": category})
        if intent != example.intent:
            scores.errors.append({"text": example.text, "intent": example.intent, "got": intent})
        scores.answers.append(Answer(example.text, example.intent, example.category, intent, category, asked))
        expected = {_norm(a) for a in example.addresses}
        found = {_norm(e["value"]) for e in entities if e["entity"] == "address"}
        scores.address_expected += len(expected)
        scores.address_found += len(found)
        scores.address_correct += len(expected & found)
    return scores


def _parse_logs_to_stderr() -> None:
    """Rasa logs every parse through structlog, which, unless a Rasa command configured it, prints
    at debug level on stdout: where `make bench` and `bot.cli admin` print their results."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr),
                        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def evaluate(model_path: Path, data_paths: Iterable[Path], *, stripped: bool = False) -> Scores:
    _parse_logs_to_stderr()
    agent = Agent.load(str(model_path))
    examples = examples_from(data_paths)
    if stripped:
        examples = [strip_diacritics(e) for e in examples]
    return asyncio.run(score(agent, examples))
