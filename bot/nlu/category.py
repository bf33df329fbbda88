"""Infers a complaint's category from the whole message.

A complaint rarely names its category ("nước tràn vô nhà" is drainage, "xe đậu kín vỉa hè" is
urban order), so instead of tagging a span this component classifies the message and adds the
`category` entity with the code as value. It learns from `report_issue` examples whose intent
block carries `metadata: {category: <code>}` (see nlu/README.md); every other example teaches it
when there is nothing to infer, so it works whatever intent the message was given.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import textmodel

ENTITY = "category"
NONE_LABEL = "_none"


def category_of(example: Message) -> Optional[str]:
    """The category code an NLU training example is labelled with, if any."""
    metadata = example.get("metadata") or {}
    for scope in ("example", "intent"):
        value = (metadata.get(scope) or {}).get(ENTITY)
        if value:
            return str(value)
    return None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class CategoryClassifier(textmodel.TextModelComponent, EntityExtractorMixin):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # Below min_confidence the assistant asks for the category instead of proposing one.
        # A message the intent classifier could not place (or put out of scope) that clearly
        # reads as a complaint (promote_confidence) is taken as one: turning a citizen away
        # costs more than asking them to confirm the category.
        return {"min_confidence": 0.3, "C": 10.0, "promote_confidence": 0.5,
                "promote_from": ["nlu_fallback", "out_of_scope"], "promote_to": "report_issue"}

    def train(self, training_data: TrainingData) -> Resource:
        examples = training_data.intent_examples
        return self.train_on([textmodel.focused(textmodel.normalized_text(m)) for m in examples],
                             [category_of(m) or NONE_LABEL for m in examples])

    def predict(self, message: Message) -> Optional[Dict[str, Any]]:
        """The most likely category with its probability, or None when there is none to infer."""
        if self._model is None:
            return None
        probabilities = self._model.predict_proba([textmodel.focused(textmodel.normalized_text(message))])[0]
        best = int(probabilities.argmax())
        label = self._model.classes_[best]
        if label == NONE_LABEL or probabilities[best] < self._config["min_confidence"]:
            return None
        return {"value": str(label), "confidence": float(probabilities[best])}

    def _promote(self, message: Message, confidence: float) -> None:
        intent = message.get(INTENT) or {}
        if intent.get("name") in self._config["promote_from"] and confidence >= self._config["promote_confidence"]:
            message.set(INTENT, {"name": self._config["promote_to"], "confidence": confidence},
                        add_to_output=True)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            entities = message.get(ENTITIES) or []
            if any(e.get("entity") == ENTITY for e in entities):
                continue  # a category the citizen named or clicked beats an inferred one
            guess = self.predict(message)
            if guess:
                self._promote(message, guess["confidence"])
                entity = {"entity": ENTITY, "start": 0, "end": len(message.get(TEXT) or ""),
                          "value": guess["value"], "confidence": guess["confidence"],
                          "extractor": self.__class__.__name__}
                message.set(ENTITIES, entities + [entity], add_to_output=True)
        return messages
