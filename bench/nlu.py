"""NLU figures for `make bench`: held-out scores (as typed and without diacritics) and
cross-validation on the training data."""
from __future__ import annotations

import logging
import statistics
import tempfile
from pathlib import Path
from typing import Callable

from bot.settings import PROJECT_ROOT

logger = logging.getLogger("bench")

TRAINING_DATA = PROJECT_ROOT / "nlu" / "data"
HELDOUT_DATA = PROJECT_ROOT / "nlu" / "heldout"
METRICS = ("intent_accuracy", "category_accuracy", "emergency_recall", "false_alarm_rate",
           "emergency_recall_with_question", "danger_question_rate", "address_f1")

Emit = Callable[..., None]


# --- NLU: held-out split ------------------------------------------------------------------------

def bench_heldout(emit: Emit, model: Path) -> None:
    from bot.nlu_eval import evaluate

    logger.info("NLU: scoring %s on %s", model.name, HELDOUT_DATA.relative_to(PROJECT_ROOT))
    typed = evaluate(model, [HELDOUT_DATA])
    stripped = evaluate(model, [HELDOUT_DATA], stripped=True)
    context = {"model": model.name, "dataset": "nlu/heldout"}
    for metric in METRICS:
        others = typed.examples - typed.emergencies
        n = {"category_accuracy": typed.category_examples, "emergency_recall": typed.emergencies,
             "emergency_recall_with_question": typed.emergencies, "false_alarm_rate": others,
             "danger_question_rate": others}.get(metric, typed.examples)
        emit(f"nlu.heldout.{metric}", getattr(typed, metric), "ratio", n=n, **context)
        emit(f"nlu.heldout.stripped.{metric}", getattr(stripped, metric), "ratio", n=n,
             diacritics="stripped", **context)
        drop = 100 * (getattr(typed, metric) - getattr(stripped, metric))
        emit(f"nlu.heldout.stripped.drop.{metric}", drop, "points", n=n, **context)


# --- NLU: cross-validation ----------------------------------------------------------------------

def load_training_data():
    import rasa.shared.data
    from rasa.shared.nlu.training_data.loading import load_data

    # nlu/data also holds rules.yml, which load_data refuses: keep the NLU files only.
    files = sorted(rasa.shared.data.get_data_files([str(TRAINING_DATA)], rasa.shared.data.is_nlu_file))
    parts = [load_data(f) for f in files]
    return parts[0].merge(*parts[1:])


def write_nlu(path: Path, examples: list, like) -> None:
    """Writes examples as Rasa YAML, with the regexes, lookups and synonyms of `like`.

    Rasa's writer groups examples by intent and keeps only the first block's intent metadata,
    which would give every complaint the same category; the category therefore moves to each
    example's own metadata, which `category_of` reads first.
    """
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.category import category_of

    moved = []
    for message in examples:
        data = {k: v for k, v in message.data.items() if k != "metadata"}
        category = category_of(message)
        if category:
            data["metadata"] = {"example": {"category": category}}
        moved.append(Message(data=data))
    fold = TrainingData(moved, entity_synonyms=like.entity_synonyms,
                        regex_features=like.regex_features, lookup_tables=like.lookup_tables)
    path.write_text(fold.nlu_as_yaml(), encoding="utf-8")


def bench_cv(emit: Emit, folds: int) -> None:
    from rasa.model_training import train_nlu
    from sklearn.model_selection import StratifiedKFold

    from bot.nlu.category import category_of
    from bot.nlu_eval import evaluate

    data = load_training_data()
    examples = data.intent_examples
    # Stratify by intent, and within report_issue by category, so every fold sees each category.
    labels = [category_of(m) or m.get("intent") for m in examples]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    intent, category = [], []
    with tempfile.TemporaryDirectory(prefix="bench-cv-") as tmp:
        for i, (train_idx, test_idx) in enumerate(splitter.split(examples, labels), 1):
            fold_dir = Path(tmp) / f"fold{i}"
            (fold_dir / "train").mkdir(parents=True)
            write_nlu(fold_dir / "train" / "nlu.yml", [examples[j] for j in train_idx], data)
            write_nlu(fold_dir / "test.yml", [examples[j] for j in test_idx], data)
            logger.info("NLU cross-validation: fold %d/%d, training on %d examples",
                        i, folds, len(train_idx))
            model = train_nlu(str(PROJECT_ROOT / "config.yml"), str(fold_dir / "train"),
                              str(fold_dir), domain=str(PROJECT_ROOT / "domain.yml"),
                              fixed_model_name="fold")
            scores = evaluate(Path(model), [fold_dir / "test.yml"])
            intent.append(scores.intent_accuracy)
            category.append(scores.category_accuracy)
    context = {"folds": folds, "n": len(examples), "dataset": "nlu/data", "config": "config.yml",
               "stratified_by": "intent (report_issue by category)"}
    for metric, values in (("intent_accuracy", intent), ("category_accuracy", category)):
        emit(f"nlu.cv.{metric}.mean", statistics.mean(values), "ratio",
             per_fold=[round(v, 4) for v in values], **context)
        emit(f"nlu.cv.{metric}.std", statistics.stdev(values), "ratio", **context)
