"""`make run`: the routing backend, the action server and the Rasa server as child processes.

Each is started in turn and waited for until it answers (its health URL, when it serves one);
then where to chat is printed. A process that dies later is started again, after 1 s, 2 s, 4 s...
up to RESTART_CAP_S while it keeps dying soon after each start, each restart logged with the exit
code; the others go on serving meanwhile. Ctrl-C (or SIGTERM) stops them all.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, NoReturn, Optional
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


def embedded_tracker_store(settings: Settings) -> Dict:
    """Without TRACKER_STORE_URL: Rasa's SQL tracker store on a SQLite file, so that a restart of
    the Rasa server or a model reload (`bot.cli reload`) keeps every conversation where it was."""
    return {"type": "SQL", "dialect": "sqlite", "db": str(settings.data_dir / "trackers.sqlite3")}


def endpoints(settings: Settings) -> Dict:
    config: Dict = {"action_endpoint": {"url": settings.action_endpoint_url}}
    if settings.tracker_store_url:
        config["tracker_store"] = tracker_store(settings.tracker_store_url)
    else:
        config["tracker_store"] = embedded_tracker_store(settings)
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
    # No --auth-token either: anyone on the host can read a command line (`ps`); tools.rasa_server
    # hands RASA_API_TOKEN from its environment to Rasa in-process.
    return {
        "backend": [sys.executable, "-m", "backend"],
        "actions": [sys.executable, "-m", "tools.action_server", "--actions", "actions",
                    "--port", str(settings.actions_port)],
        "rasa": rasa,
        # The admins' inbox, labelling and retraining, for the console's admin section.
        "admin": [sys.executable, "-m", "bot.admin.server"],
        # Last: it tells citizens their codes through the Rasa server's API. Its port serves its metrics.
        "outbox": [sys.executable, "-m", "bot.outbox_worker"],
        # Tells citizens of their reports' changes (the updates feed), also through Rasa's API.
        "notifier": [sys.executable, "-m", "bot.notifier"],
    }


def ports(settings: Settings) -> Dict[str, int]:
    """The ports of the processes that listen; a process of `commands` without one (a worker)
    is started without the port check."""
    listening = {"backend": settings.backend_port, "actions": settings.actions_port,
                 "rasa": settings.rasa_port, "admin": settings.admin_port}
    # The workers listen only to serve their metrics (bot/metrics.py), unless those are off (0).
    listening.update({name: port for name, port in (("outbox", settings.outbox_metrics_port),
                                                    ("notifier", settings.notifier_metrics_port)) if port})
    return listening


def health_urls(settings: Settings) -> Dict[str, str]:
    """What each server answers once it can serve (below 500); a process without one is taken
    as up once started."""
    port = ports(settings)
    return {
        # Answers only while the backend's database does.
        "backend": f"http://127.0.0.1:{port['backend']}/health",
        "actions": f"http://127.0.0.1:{port['actions']}/health",
        "rasa": f"http://127.0.0.1:{port['rasa']}/",
        "admin": f"http://127.0.0.1:{port['admin']}/health",
        **{name: f"http://127.0.0.1:{port[name]}/metrics" for name in ("outbox", "notifier") if name in port},
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


RESTART_FIRST_S = 1.0
RESTART_CAP_S = 30.0
# A process that served this long before dying did not die "at once": it is restarted quickly.
STABLE_AFTER_S = 60.0


def restart_delay(quick_deaths: int) -> float:
    """The wait before starting again a process that died `quick_deaths` times in a row (1 for
    the first) soon after its start: 1 s, 2 s, 4 s... at most RESTART_CAP_S."""
    return min(RESTART_FIRST_S * 2 ** (quick_deaths - 1), RESTART_CAP_S)


def exit_status(code: int) -> str:
    if code < 0:  # Popen's way of saying "killed by a signal"
        try:
            return f"exit code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"exit code {code}"


class Child:
    """One process of `make run`, started again whenever it dies."""

    def __init__(self, name: str, command: List[str], env: Dict[str, str]) -> None:
        self.name, self.command, self.env = name, command, env
        self.quick_deaths = 0
        self.restart_at: Optional[float] = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, cwd=PROJECT_ROOT, env=self.env)
        self.started = time.monotonic()
        self.restart_at = None

    def tend(self, now: float) -> None:
        """Restarts the process when it is due; schedules the restart when it just died."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
                logger.info("the %s started again (pid %d)", self.name, self.process.pid)
            return
        code = self.process.poll()
        if code is None:
            return
        self.quick_deaths = self.quick_deaths + 1 if now - self.started < STABLE_AFTER_S else 1
        delay = restart_delay(self.quick_deaths)
        self.restart_at = now + delay
        if delay < RESTART_CAP_S:
            logger.warning("the %s stopped with %s; starting it again in %.0f s",
                           self.name, exit_status(code), delay)
        else:
            logger.error("the %s stopped with %s, again soon after its start: it keeps dying, "
                         "see its log above; starting it again every %.0f s", self.name, exit_status(code), delay)


def child_env(settings: Settings) -> Dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "SANIC_HOST": settings.host,
           # Refuse bodies past one photo's limit before Sanic buffers them (its default is 100 MB).
           "SANIC_REQUEST_MAX_SIZE": str(12 * 1024 * 1024),
           "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
           # Rasa 3.6's dependencies warn about their own deprecations at every start.
           "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    if not settings.admin_api_token:
        # The console and the admin service share it; made afresh each start, held only in the
        # children's environment: never printed, never written to disk.
        env["ADMIN_API_TOKEN"] = secrets.token_urlsafe(32)
    if settings.lock_store_url:
        # How long a ticket of Rasa's Redis lock store holds a conversation (Rasa reads it once,
        # at start; its default is 60 s): also how long a dead Rasa server's lock lingers.
        env["TICKET_LOCK_LIFETIME"] = str(settings.lock_lifetime_s)
    return env


def tend(children: List[Child]) -> NoReturn:
    """Starts again, for ever, each child that dies (until Ctrl-C or SIGTERM)."""
    while True:
        time.sleep(0.5)
        for child in children:
            child.tend(time.monotonic())


def run(settings: Settings, model: Path) -> int:
    endpoints_path = write_endpoints(settings)
    env = child_env(settings)
    children: List[Child] = []
    urls = health_urls(settings)
    listening = ports(settings)
    # The Rasa server needs a minute to load the model; the others are up in seconds.
    timeouts = {"rasa": 300}
    try:
        for name, command in commands(settings, model, endpoints_path).items():
            if name == "backend" and settings.backend_url:
                print(f"BACKEND_URL set: using the Open311 server at {settings.backend_url}")
                continue
            port = listening.get(name)
            if port is not None and port_in_use(port):
                print(f"error: port {port} for the {name} is taken (another `make run`?); "
                      f"stop it or choose another port in the environment", file=sys.stderr)
                return 1
            children.append(Child(name, command, env))
            url = urls.get(name)
            if url and not wait_until_up(url, [children[-1].process], timeouts.get(name, 60)):
                print(f"error: the {name} did not start; see its log above", file=sys.stderr)
                return 1
        print_welcome(settings)
        tend(children)
    except KeyboardInterrupt:
        print("\nStopping...")
        return 0
    finally:
        stop({child.name: child.process for child in children})


def print_welcome(settings: Settings) -> None:
    base = f"http://127.0.0.1:{settings.rasa_port}"
    lines = [
        "",
        "Trợ lý phản ánh hiện trường Huế is running.",
        f"  Web chat:        {base}/webhooks/web/",
        f"  Rasa HTTP API:   {base}  (REST channel: {base}/webhooks/rest/webhook)",
        f"  Routing backend: {settings.effective_backend_url}/services.json"
        + ("  (BACKEND_URL: not started here)" if settings.backend_url else ""),
        *([] if settings.backend_url else [
            f"  Console (IOC):   http://127.0.0.1:{settings.backend_port}/console/"
            "  (accounts: python -m backend.accounts add)",
            f"  Public figures:  http://127.0.0.1:{settings.backend_port}/stats/",
            f"  Admins:          http://127.0.0.1:{settings.backend_port}/console/admin/"
            "  (accounts with role admin; or python -m bot.cli admin ...)",
        ]),
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
