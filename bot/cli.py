"""`python -m bot.cli train|run|reload|misses`: what `make train` and `make run` do, and the
admins' retraining loop (export what was not understood, retrain, put the new model live).

`run` starts the routing backend, the action server and the Rasa server as child processes, waits
until each answers, prints where to chat, and stops them all on Ctrl-C (or when one dies).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import urlencode, urlsplit

import yaml
from sqlalchemy.engine import make_url

from bot import misses
from bot.settings import DEV_API_KEY, PROJECT_ROOT, Settings, SettingsError, load_settings

logger = logging.getLogger("bot.cli")
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


def tracker_store(url: str) -> Dict:
    """Rasa's SQL tracker store takes the URL's parts (its `url` is the host), not the URL."""
    parts = make_url(url)
    config = {"type": "SQL", "dialect": parts.get_backend_name(), "url": parts.host,
              "port": parts.port, "db": parts.database, "username": parts.username,
              "password": parts.password}
    return {key: value for key, value in config.items() if value is not None}


def lock_store(url: str) -> Dict:
    parts = urlsplit(url)
    config = {"type": "redis", "url": parts.hostname or "127.0.0.1", "port": parts.port or 6379,
              "db": int(parts.path.strip("/") or 0), "password": parts.password,
              "use_ssl": parts.scheme == "rediss"}
    return {key: value for key, value in config.items() if value is not None}


def endpoints(settings: Settings) -> Dict:
    config: Dict = {"action_endpoint": {"url": settings.action_endpoint_url}}
    if settings.tracker_store_url:
        config["tracker_store"] = tracker_store(settings.tracker_store_url)
    if settings.lock_store_url:
        config["lock_store"] = lock_store(settings.lock_store_url)
    return config


def write_endpoints(settings: Settings) -> Path:
    # Under DATA_DIR so that two stacks (a test and `make run`) never share it.
    path = settings.data_dir / "run" / "endpoints.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)  # it may hold database passwords
    path.write_text(yaml.safe_dump(endpoints(settings)))
    return path


def commands(settings: Settings, model: Path, endpoints_path: Path) -> Dict[str, List[str]]:
    rasa = [sys.executable, "-m", "bot.rasa_server", "run", "--enable-api", "--model", str(model),
            "--endpoints", str(endpoints_path), "--credentials", "credentials.yml",
            "--interface", settings.host, "--port", str(settings.rasa_port), "--cors", "*"]
    if settings.rasa_api_token:
        rasa += ["--auth-token", settings.rasa_api_token]
    return {
        "backend": [sys.executable, "-m", "bot.backend"],
        "actions": [sys.executable, "-m", "rasa_sdk", "--actions", "actions",
                    "--port", str(settings.actions_port)],
        "rasa": rasa,
    }


def ports(settings: Settings) -> Dict[str, int]:
    return {"backend": settings.backend_port, "actions": settings.actions_port,
            "rasa": settings.rasa_port}


def health_urls(settings: Settings) -> Dict[str, str]:
    port = ports(settings)
    return {
        "backend": f"http://127.0.0.1:{port['backend']}/open311/v2/services.json",
        "actions": f"http://127.0.0.1:{port['actions']}/health",
        "rasa": f"http://127.0.0.1:{port['rasa']}/",
    }


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def stop(processes: Dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for name, process in processes.items():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in time, killing it", name)
            process.kill()


def run(settings: Settings) -> int:
    settings.check_exposure()
    model = train(settings, if_missing=True)
    endpoints_path = write_endpoints(settings)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "SANIC_HOST": settings.host,
           # Refuse bodies past one photo's limit before Sanic buffers them (its default is 100 MB).
           "SANIC_REQUEST_MAX_SIZE": str(12 * 1024 * 1024),
           "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
           # Rasa 3.6's dependencies warn about their own deprecations at every start.
           "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    if not settings.backend_api_keys:
        print(f"BACKEND_API_KEYS unset: the backend accepts the development key {DEV_API_KEY!r}")
    processes: Dict[str, subprocess.Popen] = {}
    urls = health_urls(settings)
    # The Rasa server needs a minute to load the model; the others are up in seconds.
    timeouts = {"backend": 60, "actions": 60, "rasa": 300}
    try:
        for name, command in commands(settings, model, endpoints_path).items():
            if name == "backend" and settings.backend_url:
                print(f"BACKEND_URL set: using the Open311 server at {settings.backend_url}")
                continue
            port = ports(settings)[name]
            if port_in_use(port):
                print(f"error: port {port} for the {name} is taken (another `make run`?); "
                      f"stop it or choose another port in the environment", file=sys.stderr)
                return 1
            processes[name] = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
            if not wait_until_up(urls[name], processes[name], timeouts[name]):
                print(f"error: the {name} did not start; see its log above", file=sys.stderr)
                return 1
        print_welcome(settings)
        while all(p.poll() is None for p in processes.values()):
            time.sleep(1)
        dead = [name for name, p in processes.items() if p.poll() is not None]
        print(f"error: {', '.join(dead)} stopped; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        stop(processes)


def print_welcome(settings: Settings) -> None:
    base = f"http://127.0.0.1:{settings.rasa_port}"
    lines = [
        "",
        "Trợ lý phản ánh hiện trường Huế is running.",
        f"  Web chat:        {base}/webhooks/web/",
        f"  Rasa HTTP API:   {base}  (REST channel: {base}/webhooks/rest/webhook)",
        f"  Routing backend: http://127.0.0.1:{settings.backend_port}/open311/v2/services.json",
        f"  Telegram:        {'on' if settings.telegram_enabled else 'off (set TELEGRAM_TOKEN, TELEGRAM_WEBHOOK_SECRET)'}",
        f"  Zalo:            {'on' if settings.zalo_enabled else 'off (set ZALO_APP_ID, ZALO_OA_SECRET_KEY, ZALO_ACCESS_TOKEN)'}",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


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
        signal.signal(signal.SIGTERM, _interrupt)
        return run(settings)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
