"""The text classifier shared by the intent and category components.

Word 1-2-grams plus character 2-5-grams (within words) over the tokenizer's normalised text, with
sublinear TF-IDF and a logistic regression: trains in seconds on 2 cores, gives calibrated enough
probabilities for the fallback threshold, and the character n-grams absorb typos.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

import joblib
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

MODEL_FILE = "model.joblib"


# Entity spans each replaced by one placeholder word: what a message is about does not depend on
# which street it names or which report code it types ("PA999999" alone must read like the codes
# seen in training), and "cháy nhà ở <address>" must not look like a bare address.
PLACEHOLDERS = {"address": "diachi", "report_id": "maphananh"}


def normalized_text(message: Message) -> str:
    """The message as the tokenizer normalised it (folded, teencode expanded), each address or
    report-code span replaced by its placeholder word (PLACEHOLDERS)."""
    tokens = message.get(f"{TEXT}_tokens") or []
    if not tokens:
        return (message.get(TEXT) or "").lower()
    spans = [(e["start"], e["end"], PLACEHOLDERS[e["entity"]])
             for e in message.get(ENTITIES) or [] if e.get("entity") in PLACEHOLDERS]
    words: List[str] = []
    for token in tokens:
        placeholder = next((word for start, end, word in spans if start <= token.start and token.end <= end), None)
        if placeholder is None:
            words.append(token.text)
        elif not words or words[-1] != placeholder:
            words.append(placeholder)
    return " ".join(words)


# Words with which a citizen naming two problems says which one matters (folded, as the tokenizer
# writes them), and words that start a side remark after it.
FOCUS_CUES = ("quan trong nhat", "quan trong hon", "nghiem trong nhat", "nghiem trong hon", "chu yeu la",
              "cai chinh la", "gap nhat", "dang lo nhat", "lo nhat la")
FOCUS_ENDS = ("ngoai ra", "con nua", "voi lai")


def focused(text: str) -> str:
    """The part of a normalised message the citizen says matters most ("…nhưng quan trọng nhất là
    <this>"), or the whole message: a complaint about two things is filed under the one stressed."""
    lowered = text.lower()
    starts = [lowered.rfind(cue) + len(cue) for cue in FOCUS_CUES if cue in lowered]
    if not starts:
        return text
    start = max(starts)
    ends = [i for i in (lowered.find(end, start) for end in FOCUS_ENDS) if i >= 0]
    part = text[start:min(ends)] if ends else text[start:]
    return part.strip(" ,.") or text


def build_model(c: float) -> Pipeline:
    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ]
    )
    classifier = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    return Pipeline([("features", features), ("classifier", classifier)])


def fit(texts: List[Text], labels: List[Text], c: float) -> Pipeline:
    return build_model(c).fit(texts, labels)


def save(model: Pipeline, storage: ModelStorage, resource: Resource) -> None:
    with storage.write_to(resource) as directory:
        joblib.dump(model, directory / MODEL_FILE)


def load(storage: ModelStorage, resource: Resource) -> Any:
    """The trained pipeline, or None if the component was never trained."""
    try:
        with storage.read_from(resource) as directory:
            return joblib.load(directory / MODEL_FILE)
    except (ValueError, FileNotFoundError):
        return None


class TextModelComponent(GraphComponent):
    """What the intent and category components share: a `_model` trained, stored and loaded."""

    @staticmethod
    def required_components() -> List[type]:
        return [Tokenizer]

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[Pipeline] = None) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TextModelComponent":
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TextModelComponent":
        return cls(config, model_storage, resource, load(model_storage, resource))

    def train_on(self, texts: List[Text], labels: List[Text]) -> Resource:
        self._model = fit(texts, labels, self._config["C"])
        save(self._model, self._model_storage, self._resource)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
