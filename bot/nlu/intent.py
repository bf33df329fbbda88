"""Intent classifier over the shared text model (see textmodel.py)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu import textmodel


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class VietnameseIntentClassifier(textmodel.TextModelComponent, IntentClassifier):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"C": 10.0, "ranking_length": 10}

    def train(self, training_data: TrainingData) -> Resource:
        examples = training_data.intent_examples
        return self.train_on([textmodel.normalized_text(m) for m in examples],
                             [m.get(INTENT) for m in examples])

    def process(self, messages: List[Message]) -> List[Message]:
        if self._model is None:
            return messages
        texts = [textmodel.normalized_text(m) for m in messages]
        for message, probabilities in zip(messages, self._model.predict_proba(texts), strict=True):
            best = sorted(zip(self._model.classes_, probabilities, strict=True), key=lambda p: -p[1])
            ranking = [{"name": str(n), "confidence": float(c)} for n, c in best[: self._config["ranking_length"]]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages
