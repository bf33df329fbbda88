"""`python -m bot.cli train|run|reload|admin`: what `make train` and `make run` do, and the
admins' loop (inbox of what was not understood, labelling, retraining, the live model).

`run` starts the live model (MODELS_DIR/LIVE, see `bot.admin.models`), training one only when
there is none at all, then hands over to `tools.supervise`, which starts the processes; a model
an admin's retraining refused is never the one it starts. `train` trains and makes its model live.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

from bot.admin import cli as admin_cli
from bot.admin import models
from bot.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from tools import supervise


def model_is_stale(settings: Settings, model: Path) -> bool:
    """True if training data or configuration changed after the model was trained."""
    inputs = [settings.training_dir / name for name in ("config.yml", "domain.yml", "nlu/data")]
    newest_input = max(
        p.stat().st_mtime
        for folder in (*inputs, PROJECT_ROOT / "bot" / "nlu")
        for p in ([folder] + list(folder.rglob("*")))
        if p.is_file() and p.suffix in (".py", ".yml", ".yaml")
    )
    return newest_input > model.stat().st_mtime


def train(settings: Settings, *, if_missing: bool = False) -> Path:
    """Trains a model from TRAINING_DIR and makes it live (`--if-missing`: unless the live model
    is newer than the training data and the custom components)."""
    model = models.live_model(settings)
    if if_missing and model and not model_is_stale(settings, model):
        print(f"Model up to date: {model.name}")
        return model
    print("Training the model (a few minutes on 2 cores)...", flush=True)
    return models.train_live(settings)


def reload(settings: Settings) -> int:
    """Puts the live model into every running Rasa server (RASA_REPLICA_URLS), without stopping them."""
    model = models.live_model(settings)
    if model is None:
        print("error: no model in models/: run `make train` first", file=sys.stderr)
        return 1
    failed = 0
    for url in settings.effective_rasa_replica_urls:
        error = models.load_into(settings, url, model)
        if error:
            failed += 1
            print(f"error: the Rasa server at {url} did not load {model.name}: {error}", file=sys.stderr)
        else:
            print(f"The Rasa server at {url} now runs {model.name}")
    return 1 if failed else 0


def private_files() -> None:
    """Files the services write from now on (reports with phone numbers, the outbox, the admins'
    inbox) are readable by their own user only; the children inherit the mask."""
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
    sub.add_parser("admin", help="the admins' loop: inbox, labels, retraining, models (`admin --help`)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["admin"]:  # its own parser: errors as JSON, for scripts
        return admin_cli.main(argv[1:])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        if args.command == "train":
            train(settings, if_missing=args.if_missing)
            return 0
        if args.command == "reload":
            return reload(settings)
        settings.check_exposure()
        model = models.live_model(settings) or train(settings)
        private_files()
        signal.signal(signal.SIGTERM, _interrupt)
        return supervise.run(settings, model)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
