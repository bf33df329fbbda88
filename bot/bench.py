"""`python -m bot.bench` (what `make bench` runs): one JSON line per figure on stdout.

Figures: NLU scores on the held-out split (as typed and with diacritics stripped), NLU
cross-validation on the training data, and REST-channel latency/throughput of our assistant
beside a stock `rasa init` assistant (bot/bench_rest.py). Progress and the servers' logs go to
stderr, so stdout stays machine-readable.

    {"name": "nlu.heldout.intent_accuracy", "value": 0.943, "unit": "ratio", "n": 318, ...}
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, List, Optional, TextIO

from bot.cli import latest_model
from bot.settings import PROJECT_ROOT, load_settings

logger = logging.getLogger("bot.bench")

TRAINING_DATA = PROJECT_ROOT / "nlu" / "data"
HELDOUT_DATA = PROJECT_ROOT / "nlu" / "heldout"
METRICS = ("intent_accuracy", "category_accuracy", "address_f1")

Emit = Callable[..., None]


def emitter(stream: TextIO) -> Emit:
    def emit(name: str, value: float, unit: str, **context: Any) -> None:
        line = {"name": name, "value": round(value, 4), "unit": unit, **context}
        stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        stream.flush()
    return emit


# --- NLU: held-out split ------------------------------------------------------------------------

def bench_heldout(emit: Emit, model: Path) -> None:
    from bot.nlu_eval import evaluate

    logger.info("NLU: scoring %s on %s", model.name, HELDOUT_DATA.relative_to(PROJECT_ROOT))
    typed = evaluate(model, [HELDOUT_DATA])
    stripped = evaluate(model, [HELDOUT_DATA], stripped=True)
    context = {"model": model.name, "dataset": "nlu/heldout"}
    for metric in METRICS:
        n = typed.category_examples if metric == "category_accuracy" else typed.examples
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


# --- command line -------------------------------------------------------------------------------

PARTS = ("heldout", "cv", "rest")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="run only this part (repeatable); default: all")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--rounds", type=int, default=30,
                        help="conversations per concurrent user in each latency run")
    parser.add_argument("--time-limit", type=float, default=45.0,
                        help="seconds after which a latency run starts no new conversation")
    parser.add_argument("--concurrency", type=lambda s: [int(c) for c in s.split(",")],
                        default=[1, 20], help="concurrent conversations, comma-separated")
    parser.add_argument("--skip-stock", action="store_true",
                        help="do not build or measure the stock `rasa init` assistant")
    args = parser.parse_args(argv)
    parts = args.only or PARTS
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    model = latest_model(load_settings())
    if model is None:
        print("error: no model in models/: run `python -m bot.cli train` first", file=sys.stderr)
        return 1
    emit = emitter(sys.stdout)
    # Rasa prints some progress with print(); only figures may reach stdout.
    with contextlib.redirect_stdout(sys.stderr):
        if "heldout" in parts:
            bench_heldout(emit, model)
        if "cv" in parts:
            bench_cv(emit, args.folds)
        if "rest" in parts:
            from bot.bench_rest import bench_rest
            bench_rest(emit, model, concurrency=args.concurrency, rounds=args.rounds,
                       time_limit_s=args.time_limit, stock=not args.skip_stock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
