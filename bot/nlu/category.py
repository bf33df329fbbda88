"""Infers a complaint's category from the whole message.

A complaint rarely names its category ("nước tràn vô nhà" is drainage, "xe đậu kín vỉa hè" is
urban order), so instead of tagging a span this component classifies the message and adds the
`category` entity with the code as value. It learns from `report_issue` examples whose intent
block carries `metadata: {category: <code>}` (see nlu/README.md); report examples without a
category and `inform` examples teach it when there is nothing to infer.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

import joblib
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

logger = logging.getLogger(__name__)

ENTITY = "category"
NONE_LABEL = "_none"
MODEL_FILE = "category_classifier.joblib"


def category_of(example: Message) -> Optional[str]:
    """The category code an NLU training example is labelled with, if any."""
    metadata = example.get("metadata") or {}
    for scope in ("example", "intent"):
        value = (metadata.get(scope) or {}).get(ENTITY)
        if value:
            return str(value)
    return None


def normalized_text(message: Message) -> str:
    """The message as the tokenizer normalised it (folded, teencode expanded)."""
    tokens = message.get(f"{TEXT}_tokens") or []
    if tokens:
        return " ".join(t.text for t in tokens)
    return (message.get(TEXT) or "").lower()


def build_model(c: float) -> Pipeline:
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            (
                "chars",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
            ),
        ]
    )
    classifier = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    return Pipeline([("features", features), ("classifier", classifier)])


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR,
    is_trainable=True,
)
class CategoryClassifier(GraphComponent, EntityExtractorMixin):
    @staticmethod
    def required_components() -> List[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            # Intents on which a category is worth proposing.
            "intents": ["report_issue", "inform"],
            # Below this probability the assistant asks instead of proposing.
            "min_confidence": 0.3,
            "C": 10.0,
        }

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[Pipeline] = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "CategoryClassifier":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = [], []
        for example in training_data.intent_examples:
            intent = example.get(INTENT)
            category = category_of(example)
            if category:
                labels.append(category)
            elif intent in self._config["intents"]:
                labels.append(NONE_LABEL)
            else:
                continue
            texts.append(normalized_text(example))
        if len(set(labels)) < 2:
            logger.warning("No categorised report examples: the category classifier stays off.")
            return self._resource
        self._model = build_model(self._config["C"]).fit(texts, labels)
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(self._model, directory / MODEL_FILE)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "CategoryClassifier":
        model = None
        try:
            with model_storage.read_from(resource) as directory:
                model = joblib.load(directory / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            logger.warning("No trained category classifier in the model.")
        return cls(config, model_storage, resource, model)

    def predict(self, message: Message) -> Optional[Dict[str, Any]]:
        """The most likely category with its probability, or None when there is none to infer."""
        if self._model is None:
            return None
        probabilities = self._model.predict_proba([normalized_text(message)])[0]
        best = int(probabilities.argmax())
        label = self._model.classes_[best]
        if label == NONE_LABEL or probabilities[best] < self._config["min_confidence"]:
            return None
        return {"value": str(label), "confidence": float(probabilities[best])}

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = (message.get(INTENT) or {}).get("name")
            entities = message.get(ENTITIES) or []
            if intent not in self._config["intents"] or any(
                e.get("entity") == ENTITY for e in entities
            ):
                # A category the user named (or clicked) beats an inferred one.
                continue
            guess = self.predict(message)
            if guess:
                text = message.get(TEXT) or ""
                entity = {"entity": ENTITY, "start": 0, "end": len(text), "value": guess["value"],
                          "confidence": guess["confidence"], "extractor": self.__class__.__name__}
                message.set(ENTITIES, entities + [entity], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
