"""The project's commands as subprocesses: one to completion (`run_module`), or the whole
assistant (`python -m bot.cli run`) for end-to-end tests (`running_stack`).

    with running_stack(tmp_path) as stack:
        requests.post(stack.rest_webhook, json={...})
        stack.report("PA000001")   # as the routing backend keeps it

Backend, action server, Rasa server and admin service start on free ports with DATA_DIR in the given folder (the
backend's SQLite database, the outbox and photos land there, never in the project's data/). The
context waits until the CLI prints "is running" (all three answer), yields their URLs and always
stops the whole process group, even when the test fails or the start times out. `env` adds or
overrides variables (e.g. TELEGRAM_TOKEN for a channel test). Needs a trained model: the CLI
trains one if it is missing, which takes a while.
"""
from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Deque, Dict, Iterator, List, Mapping, Optional, Sequence

import requests

from bot.settings import DEV_API_KEY, DEV_OPERATOR_KEY, PROJECT_ROOT
from tools.processes import free_ports, start_group, stop_group

READY_LINE = "is running"
START_TIMEOUT_S = 300  # the Rasa server loads the model in 20-60 s on 2 cores; training takes more


@dataclass
class Stack:
    rasa_port: int
    actions_port: int
    backend_port: int
    admin_port: int
    data_dir: Path
    process: subprocess.Popen
    # Where the outbox worker and the notifier serve /metrics
    outbox_metrics_port: int = 0
    notifier_metrics_port: int = 0
    rasa_api_token: Optional[str] = None  # also the REST channel's, when the stack has one
    log: Deque[str] = field(default_factory=lambda: collections.deque(maxlen=400))

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def rest_webhook(self) -> str:
        token = f"?token={self.rasa_api_token}" if self.rasa_api_token else ""
        return f"{self.rasa_url}/webhooks/rest/webhook{token}"

    @property
    def webchat_url(self) -> str:
        return f"{self.rasa_url}/webhooks/web/"

    @property
    def admin_url(self) -> str:
        """The admin service (`bot.admin.server`), which wants `Authorization: Bearer <token>`."""
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}"

    @property
    def backend_url(self) -> str:
        """The Open311 base: `{backend_url}/requests.json`."""
        return f"http://127.0.0.1:{self.backend_port}/open311/v2"

    def command_lines(self) -> Dict[int, List[str]]:
        """The command line of each process of this stack (the CLI and all it started), by pid."""
        lines = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getsid(int(entry.name)) != self.process.pid:
                    continue
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except (ProcessLookupError, FileNotFoundError, PermissionError):
                continue  # gone meanwhile
            if argv[0]:  # a zombie has none
                lines[int(entry.name)] = [part.decode(errors="replace") for part in argv if part]
        return lines

    def pid_of(self, module: str) -> int:
        """The process running `python -m module` in this stack."""
        [pid] = [pid for pid, argv in self.command_lines().items() if argv[1:3] == ["-m", module]]
        return pid

    def output(self) -> str:
        """The last lines the three processes printed (for assertion messages)."""
        return "".join(self.log)

    def backend_get(self, path: str, **params: Any) -> requests.Response:
        """GET `{backend_url}/{path}` with the development api key (as an operator would)."""
        return requests.get(f"{self.backend_url}/{path}", params=params, timeout=10,
                            headers={"X-Api-Key": DEV_API_KEY})

    def reports(self, **params: Any) -> List[Dict[str, Any]]:
        """The reports the backend lists (requests.json), newest first."""
        response = self.backend_get("requests.json", **params)
        assert response.status_code == 200, response.text
        return response.json()

    def report(self, code: str) -> Dict[str, Any]:
        """The report `code` as the backend keeps it."""
        response = self.backend_get(f"requests/{code}.json")
        assert response.status_code == 200, response.text
        [report] = response.json()
        return report

    def say_unprompted(self, sender_id: str, text: str) -> Dict[str, Any]:
        """Has the assistant say `text` to `sender_id` unprompted, on the channel they last used
        (Rasa's proactive message, as the outbox does it); the conversation's tracker."""
        response = requests.post(
            f"{self.rasa_url}/conversations/{sender_id}/tracker/events",
            params={"output_channel": "latest", "execute_side_effects": "true"},
            json=[{"event": "bot", "text": text}], timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()


    def trigger(self, sender_id: str, intent: str, **entities: Any) -> List[Dict[str, Any]]:
        """Runs `sender_id`'s conversation on with `intent` (Rasa's trigger_intent, as the
        notifier does it); what the assistant said (the REST channel collects it in the answer)."""
        response = requests.post(
            f"{self.rasa_url}/conversations/{sender_id}/trigger_intent", params={"output_channel": "latest"},
            json={"name": intent, "entities": entities}, timeout=60,
        )
        assert response.status_code == 200, response.text
        return response.json().get("messages") or []

    def set_state(self, code: str, state: str, note: str) -> Dict[str, Any]:
        """What an IOC operator does (`state.json` with the development operator key); the report."""
        response = requests.post(f"{self.backend_url}/requests/{code}/state.json", timeout=10,
                                 data={"api_key": DEV_OPERATOR_KEY, "state": state, "note": note})
        assert response.status_code == 200, response.text
        [report] = response.json()
        return report


# A developer's shell may point the assistant at another backend, another model folder or
# expose it: never in a test.
DEVELOPER_VARIABLES = (
    "BACKEND_URL", "BACKEND_API_KEY", "BACKEND_API_KEYS", "BACKEND_OPERATOR_KEYS", "BACKEND_AGENCY_KEYS",
    "HOST", "RASA_API_TOKEN", "DATABASE_URL", "TRACKER_STORE_URL", "LOCK_STORE_URL", "ASSISTANT_STORE_URL",
    "TELEGRAM_TOKEN",
    "ZALO_APP_ID", "MODELS_DIR", "ADMIN_URL", "ADMIN_API_TOKEN", "TRAINING_DIR",
)


def child_env(overrides: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment of a project command in a test: this one without the developer's
    deployment variables, the project importable, then `overrides`."""
    env = {name: value for name, value in os.environ.items() if name not in DEVELOPER_VARIABLES}
    env.update({"PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                "RASA_TELEMETRY_ENABLED": "false", "PYTHONUNBUFFERED": "1",
                # Workers serve no metrics on the machine's fixed ports unless a test asks.
                "OUTBOX_METRICS_PORT": "0", "NOTIFIER_METRICS_PORT": "0"})
    env.update(overrides or {})
    return env


def run_module(module: str, *args: str, env: Optional[Mapping[str, str]] = None,
               timeout_s: float = 300) -> subprocess.CompletedProcess:
    """`python -m module args` in the project folder, to completion; its output as text."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=PROJECT_ROOT, env=child_env(env),
                          capture_output=True, text=True, timeout=timeout_s)


@contextmanager
def running_stack(data_dir: Path, *, env: Optional[Mapping[str, str]] = None,
                  timeout_s: float = START_TIMEOUT_S,
                  command: Sequence[str] = ("bot.cli", "run")) -> Iterator[Stack]:
    """`command` (a module and its arguments) may be another launcher that prints READY_LINE, such
    as the production profile's (`tools.production`); ports set in `env` win over the ones chosen
    here (the Stack keeps the latter)."""
    rasa_port, actions_port, backend_port, admin_port, outbox_metrics_port, notifier_metrics_port = free_ports(6)
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = {"RASA_PORT": str(rasa_port), "ACTIONS_PORT": str(actions_port),
             "BACKEND_PORT": str(backend_port), "ADMIN_PORT": str(admin_port), "DATA_DIR": str(data_dir),
             "OUTBOX_METRICS_PORT": str(outbox_metrics_port), "NOTIFIER_METRICS_PORT": str(notifier_metrics_port)}
    process = start_group(
        [sys.executable, "-m", *command], cwd=PROJECT_ROOT, env=child_env({**ports, **(env or {})}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )
    stack = Stack(rasa_port, actions_port, backend_port, admin_port, data_dir, process,
                  outbox_metrics_port=outbox_metrics_port, notifier_metrics_port=notifier_metrics_port,
                  rasa_api_token=(env or {}).get("RASA_API_TOKEN"))
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
        stop_group(process)
        reader.join(timeout=5)
