"""`python -m bench` (what `make bench` runs): one JSON line per figure on stdout.

Figures: NLU scores on the held-out split (as typed and with diacritics stripped: intent and
category accuracy, emergency recall and false-alarm rate), the share of a table of Huế places
resolved to the right unit (bench/places.py), NLU cross-validation on the training data,
REST-channel latency/throughput of our assistant beside a stock `rasa init` assistant
(bench/rest.py), and a fault run: citizens filing reports while the routing backend is down for a
while, counting what was lost or stored twice (bench/fault.py), and how long a state change
takes to reach a web chat citizen through the notifier (bench/notify.py), and the production
profile with one and two Rasa servers, one of them killed half-way (bench/scale.py). Progress and the
servers' logs go to stderr, so stdout stays machine-readable.

    {"name": "nlu.heldout.intent_accuracy", "value": 0.943, "unit": "ratio", "n": 318, ...}
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from typing import Any, List, Optional, TextIO

from bench.nlu import Emit, bench_cv, bench_heldout
from bot.admin.models import live_model
from bot.settings import load_settings


def emitter(stream: TextIO) -> Emit:
    def emit(name: str, value: float, unit: str, **context: Any) -> None:
        line = {"name": name, "value": round(value, 4), "unit": unit, **context}
        stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        stream.flush()
    return emit


# --- command line -------------------------------------------------------------------------------

PARTS = ("heldout", "places", "cv", "rest", "fault", "notify", "scale")
SCALE_RUNS = ("rasa1", "rasa2", "rasa2_killed")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
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
    parser.add_argument("--fault-citizens", type=int, default=8,
                        help="concurrent citizens in the fault run")
    parser.add_argument("--fault-duration", type=float, default=40.0,
                        help="seconds the fault run's citizens keep filing reports")
    parser.add_argument("--fault-down", type=float, default=15.0,
                        help="seconds the backend stays stopped in the fault run")
    parser.add_argument("--notify-citizens", type=int, default=10,
                        help="web chat citizens whose report changes state in the notify run")
    parser.add_argument("--notify-interval", type=float,
                        help="the notifier's NOTIFY_INTERVAL_S in the notify run; default: the setting's")
    parser.add_argument("--scale-citizens", type=int, default=50,
                        help="concurrent citizens in the scale run (production profile)")
    parser.add_argument("--scale-duration", type=float, default=60.0,
                        help="seconds the scale run's citizens keep filing reports")
    parser.add_argument("--scale-run", action="append", choices=SCALE_RUNS,
                        help="only this scale run (repeatable); default: all")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL where the scale run creates (and drops) its databases")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis for the scale run's locks")
    args = parser.parse_args(argv)
    parts = args.only or PARTS
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    model = live_model(load_settings())
    if model is None:
        print("error: no model in models/: run `python -m bot.cli train` first", file=sys.stderr)
        return 1
    emit = emitter(sys.stdout)
    # Rasa prints some progress with print(); only figures may reach stdout.
    with contextlib.redirect_stdout(sys.stderr):
        if "heldout" in parts:
            bench_heldout(emit, model)
        if "places" in parts:
            from bench.places import bench_places
            bench_places(emit)
        if "cv" in parts:
            bench_cv(emit, args.folds)
        if "rest" in parts:
            from bench.rest import bench_rest
            bench_rest(emit, model, concurrency=args.concurrency, rounds=args.rounds,
                       time_limit_s=args.time_limit, stock=not args.skip_stock)
        if "fault" in parts:
            from bench.fault import bench_fault
            bench_fault(emit, model, citizens_count=args.fault_citizens, duration_s=args.fault_duration,
                        down_for_s=args.fault_down)
        if "notify" in parts:
            from bench.notify import bench_notify
            bench_notify(emit, model, citizens=args.notify_citizens,
                         interval_s=args.notify_interval or load_settings().notify_interval_s)
        if "scale" in parts:
            from bench.scale import bench_scale
            bench_scale(emit, model, citizens=args.scale_citizens, duration_s=args.scale_duration,
                        postgres_url=args.postgres_url, redis_url=args.redis_url, runs=args.scale_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
