"""The whole assistant (`python -m bot.cli run`) as a subprocess, for end-to-end tests.

    from stack import running_stack   # tests/ on sys.path (see tests/e2e/conftest.py)

    with running_stack(tmp_path) as stack:
        requests.post(stack.rest_webhook, json={...})

Backend, action server and Rasa server start on free ports with DATA_DIR in the given folder (the
backend's SQLite database, the outbox and photos land there, never in the project's data/). The
context waits until the CLI prints "is running" (all three answer), yields their URLs and always
stops the whole process group, even when the test fails or the start times out. `env` adds or
overrides variables (e.g. TELEGRAM_TOKEN for a channel test). Needs a trained model: the CLI
trains one if it is missing, which takes a while.
"""
from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Deque, Iterator, Mapping, Optional

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "is running"
START_TIMEOUT_S = 300  # the Rasa server loads the model in 20-60 s on 2 cores; training takes more


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    rasa_port: int
    actions_port: int
    backend_port: int
    data_dir: Path
    process: subprocess.Popen
    log: Deque[str] = field(default_factory=lambda: collections.deque(maxlen=400))

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def rest_webhook(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}"

    @property
    def backend_url(self) -> str:
        """The Open311 base: `{backend_url}/requests.json`."""
        return f"http://127.0.0.1:{self.backend_port}/open311/v2"

    def output(self) -> str:
        """The last lines the three processes printed (for assertion messages)."""
        return "".join(self.log)


def _distinct_free_ports(count: int) -> list:
    ports: list = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        # SIGTERM to the CLI stops its children too (bot.cli turns it into Ctrl-C); the group
        # signal reaches them even if the CLI itself is stuck.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


@contextmanager
def running_stack(data_dir: Path, *, env: Optional[Mapping[str, str]] = None,
                  timeout_s: float = START_TIMEOUT_S) -> Iterator[Stack]:
    rasa_port, actions_port, backend_port = _distinct_free_ports(3)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    child_env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RASA_PORT": str(rasa_port), "ACTIONS_PORT": str(actions_port),
        "BACKEND_PORT": str(backend_port), "DATA_DIR": str(data_dir),
        "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    # A developer's shell may point the assistant at another backend or expose it: not here.
    for name in ("BACKEND_URL", "BACKEND_API_KEY", "BACKEND_API_KEYS", "HOST", "RASA_API_TOKEN",
                 "DATABASE_URL", "TRACKER_STORE_URL", "LOCK_STORE_URL", "TELEGRAM_TOKEN",
                 "ZALO_APP_ID"):
        child_env.pop(name, None)
    child_env.update(env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"], cwd=PROJECT_ROOT, env=child_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        start_new_session=True,  # its own process group, so that all of it can be stopped
    )
    stack = Stack(rasa_port, actions_port, backend_port, data_dir, process)
    ready = threading.Event()

    def read() -> None:
        # Always drained, so that a chatty server never blocks on a full pipe.
        assert process.stdout is not None
        for line in process.stdout:
            stack.log.append(line)
            if READY_LINE in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not ready.wait(0.5):
            if process.poll() is not None:
                raise RuntimeError(f"the stack exited with {process.returncode}:\n{stack.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start in {timeout_s:.0f} s:\n{stack.output()}")
        yield stack
    finally:
        _stop(process)
        reader.join(timeout=5)
