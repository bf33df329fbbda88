"""`make run`: the routing backend, the action server and the Rasa server as child processes.

Each is started in turn and waited for until it answers; then where to chat is printed, and all
of them stop on Ctrl-C (or when one dies).
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import urlsplit

import yaml
from sqlalchemy.engine import make_url

from bot.settings import PROJECT_ROOT, Settings
from tools.processes import port_in_use, wait_until_up

logger = logging.getLogger(__name__)


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
    rasa = [sys.executable, "-m", "tools.rasa_server", "run", "--enable-api", "--model", str(model),
            "--endpoints", str(endpoints_path), "--credentials", "credentials.yml",
            "--interface", settings.host, "--port", str(settings.rasa_port)]
    # No --cors: the web chat is served by this server itself, and any other origin allowed in
    # would let a web page open in a browser on the host read the trackers through the API.
    if settings.rasa_api_token:
        rasa += ["--auth-token", settings.rasa_api_token]
    return {
        "backend": [sys.executable, "-m", "backend"],
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


def run(settings: Settings, model: Path) -> int:
    endpoints_path = write_endpoints(settings)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "SANIC_HOST": settings.host,
           # Refuse bodies past one photo's limit before Sanic buffers them (its default is 100 MB).
           "SANIC_REQUEST_MAX_SIZE": str(12 * 1024 * 1024),
           "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
           # Rasa 3.6's dependencies warn about their own deprecations at every start.
           "PYTHONWARNINGS": "ignore::DeprecationWarning"}
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
            if not wait_until_up(urls[name], [processes[name]], timeouts[name]):
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
        f"  Routing backend: {settings.effective_backend_url}/services.json"
        + ("  (BACKEND_URL: not started here)" if settings.backend_url else ""),
        f"  Telegram:        {telegram_state(settings)}",
        f"  Zalo:            {off_or_on(settings.zalo_off_reason())}",
        "Press Ctrl-C to stop everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def off_or_on(off_reason: Optional[str]) -> str:
    return f"off ({off_reason})" if off_reason else "on"


def telegram_state(settings: Settings) -> str:
    reason = settings.telegram_off_reason()
    if reason or settings.telegram_public_url:
        return off_or_on(reason)
    # Telegram cannot reach a webhook it was never told about: only the poller brings updates.
    return "on (no TELEGRAM_PUBLIC_URL: run `.venv/bin/python -m channels.telegram.poll` to receive messages)"
