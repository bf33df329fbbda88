"""`python -m bot.cli train|run|reload|misses`: what `make train` and `make run` do, and the
admins' retraining loop (export what was not understood, retrain, put the new model live).

`run` trains if needed, then hands over to `tools.supervise`, which starts the processes.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import List, Optional
from urllib.parse import urlencode

from bot import misses
from bot.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from tools import supervise

TRAINING_INPUTS = ("config.yml", "domain.yml", "nlu/data", "bot/nlu")


def latest_model(settings: Settings) -> Optional[Path]:
    models = sorted(settings.models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def model_is_stale(model: Path) -> bool:
    """True if training data or configuration changed after the model was trained."""
    newest_input = max(
        p.stat().st_mtime
        for name in TRAINING_INPUTS
        for p in ([PROJECT_ROOT / name] + list((PROJECT_ROOT / name).rglob("*")))
        if p.is_file() and p.suffix in (".py", ".yml", ".yaml")
    )
    return newest_input > model.stat().st_mtime


def train(settings: Settings, *, if_missing: bool = False) -> Path:
    model = latest_model(settings)
    if if_missing and model and not model_is_stale(model):
        print(f"Model up to date: {model.relative_to(PROJECT_ROOT)}")
        return model
    print("Training the model (a few minutes on 2 cores)...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "rasa", "train", "--config", "config.yml", "--domain", "domain.yml",
         "--data", "nlu/data", "--out", str(settings.models_dir), "--fixed-model-name", "hue-phan-anh"],
        cwd=PROJECT_ROOT, check=True,
    )
    model = latest_model(settings)
    assert model is not None
    return model


def reload(settings: Settings) -> int:
    """Puts the newest model live on the running Rasa server, without stopping it."""
    model = latest_model(settings)
    if model is None:
        print("error: no model in models/: run `make train` first", file=sys.stderr)
        return 1
    url = f"http://127.0.0.1:{settings.rasa_port}/model"
    if settings.rasa_api_token:
        url += "?" + urlencode({"token": settings.rasa_api_token})
    request = urllib.request.Request(url, method="PUT", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"model_file": str(model)}).encode())
    try:
        with urllib.request.urlopen(request, timeout=300):
            pass
    except OSError as exc:
        print(f"error: the Rasa server on port {settings.rasa_port} did not load the model: {exc}",
              file=sys.stderr)
        return 1
    print(f"The Rasa server now runs {model.name}")
    return 0


def export_misses(settings: Settings, out: Path, clear: bool) -> int:
    entries = misses.pending()
    if not entries:
        print("No missed messages recorded.")
        return 0
    out.write_text(misses.to_training_yaml(entries), encoding="utf-8")
    print(f"{len(entries)} missed messages written to {out}")
    if clear:
        misses.clear(entries[-1]["id"])
    return 0


def private_files() -> None:
    """Files the services write from now on (reports with phone numbers, the outbox, missed
    messages) are readable by their own user only; the children inherit the mask."""
    os.umask(0o077)


def _interrupt(*_: object) -> None:
    # SIGTERM (CI, systemd, a test's terminate()) stops the children like Ctrl-C does.
    raise KeyboardInterrupt


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    train_parser = sub.add_parser("train", help="train a model into models/")
    train_parser.add_argument("--if-missing", action="store_true", help="skip if a model is up to date")
    sub.add_parser("run", help="start backend, action server and Rasa server")
    sub.add_parser("reload", help="put the newest model live on the running Rasa server")
    misses_parser = sub.add_parser("misses", help="export the messages the assistant did not understand")
    misses_parser.add_argument("--out", type=Path, default=Path("misses.yml"), help="YAML file to write")
    misses_parser.add_argument("--clear", action="store_true", help="forget them once exported")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        if args.command == "train":
            train(settings, if_missing=args.if_missing)
            return 0
        if args.command == "reload":
            return reload(settings)
        if args.command == "misses":
            return export_misses(settings, args.out, args.clear)
        settings.check_exposure()
        model = train(settings, if_missing=True)
        private_files()
        signal.signal(signal.SIGTERM, _interrupt)
        return supervise.run(settings, model)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
