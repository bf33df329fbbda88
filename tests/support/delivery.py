"""What the outbox tests need around the real processes: a project module run as a server or
worker process (`project_process`), the routing backend as a process (`BackendProcess`), a door
in front of it that answers late (`LateBackend`), and a stand-in for Rasa's events API
(`RasaEvents`).

    backend = BackendProcess(data_dir)
    with backend.running():
        async with LateBackend(backend.root, late=1, delay_s=3) as door:   # the first create is late
            ...point BACKEND_URL at f"{door.url}/open311/v2"...
"""
from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Mapping, Optional, Set

import aiohttp
import requests
from aiohttp import web

from bot.settings import DEV_API_KEY, PROJECT_ROOT
from tests.support.servers import Standin, free_port
from tests.support.stack import child_env
from tools.processes import start_group, stop_group, wait_until_up


@contextmanager
def project_process(module: str, env: Mapping[str, str], *, health_url: Optional[str] = None,
                    timeout_s: float = 60) -> Iterator[subprocess.Popen]:
    """`python -m module` in a process group of its own (output to the test's log), waited for
    until `health_url` answers; always stopped (SIGTERM, then SIGKILL)."""
    process = start_group([sys.executable, "-m", module], cwd=PROJECT_ROOT, env=child_env(env))
    try:
        if health_url and not wait_until_up(health_url, [process], timeout_s):
            raise RuntimeError(f"{module} did not start (exit code {process.poll()})")
        yield process
    finally:
        stop_group(process, timeout_s=15)


class BackendProcess:
    """The routing backend as a process (`python -m backend`) on a port chosen now, with its
    SQLite database under `data_dir`: the assistant can be pointed at it before it runs."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.root}/open311/v2"  # the Open311 base
        self.env = {"DATA_DIR": str(data_dir), "BACKEND_PORT": str(self.port)}

    def running(self) -> ContextManager[subprocess.Popen]:
        return project_process("backend", self.env, health_url=f"{self.url}/services.json")

    def reports(self, **params: str) -> List[Dict[str, Any]]:
        """What requests.json lists (newest first), asked with the assistant's key."""
        response = requests.get(f"{self.url}/requests.json", params=params, headers={"X-Api-Key": DEV_API_KEY},
                                timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


class LateBackend(Standin):
    """Forwards everything to the routing backend at `target` (the server root); the answers to
    the first `late` creates (POST requests.json) are held back `delay_s` seconds after the backend
    stored the report, as a backend that is slow to answer is; while `down`, creates get a 503
    and never reach it. `posts` lists the forms of the creates that reached it."""

    def __init__(self, target: str, *, late: int = 0, delay_s: float = 0) -> None:
        super().__init__()
        self.target = target.rstrip("/")
        self.late = late
        self.delay_s = delay_s
        self.posts: List[Dict[str, str]] = []
        self.down = False
        self._stopping = asyncio.Event()

    async def stop(self) -> None:
        self._stopping.set()  # answers still held back go out now, not after the test
        await asyncio.sleep(0.1)
        await super().stop()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._forward)

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        create = request.method == "POST" and request.path.endswith("/requests.json")
        if create and self.down:
            return web.json_response([{"code": 503, "description": "down"}], status=503)
        if create:
            self.posts.append(dict((await request.post()).items()))  # type: ignore[arg-type]
        async with aiohttp.ClientSession() as session:
            async with session.request(request.method, f"{self.target}{request.path_qs}", data=body,
                                       headers={"Content-Type": request.headers.get("Content-Type", "")}) as answer:
                payload, status = await answer.read(), answer.status
                content_type = answer.headers.get("Content-Type", "application/json")
        if create and len(self.posts) <= self.late:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.delay_s)
        return web.Response(body=payload, status=status, headers={"Content-Type": content_type})


class RasaEvents(Standin):
    """Rasa's `POST /conversations/{id}/tracker/events` and `trigger_intent` as the workers call
    them: records each call (`calls`: sender, query, body, the status answered; `triggers`
    likewise) and answers `status`; a sender in `unreachable` gets Rasa's 500, as when their channel
    refused the message (a citizen who blocked the bot). A call answered 200 is in the conversation
    (`GET /conversations/{id}/tracker`, read `looks` times) from when it arrived, as in Rasa, even
    when its answer is `delay_s` late."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self.calls: List[Dict[str, Any]] = []
        self.triggers: List[Dict[str, Any]] = []
        self.unreachable: Set[str] = set()
        self.delay_s = 0.0  # how long Rasa takes to answer once it has sent the message
        self.looks = 0
        self.conversations: Dict[str, List[Dict[str, Any]]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/conversations/{sender}/tracker/events", self._events)
        app.router.add_post("/conversations/{sender}/trigger_intent", self._trigger)
        app.router.add_get("/conversations/{sender}/tracker", self._tracker)

    async def _tracker(self, request: web.Request) -> web.Response:
        self.looks += 1
        sender = request.match_info["sender"]
        return web.json_response({"sender_id": sender, "events": self.conversations.get(sender, [])})

    async def _events(self, request: web.Request) -> web.Response:
        return await self._record(request, self.calls, lambda events: events)

    async def _trigger(self, request: web.Request) -> web.Response:
        return await self._record(request, self.triggers, lambda body: [
            {"event": "user", "text": f"EXTERNAL: {body['name']}",
             "parse_data": {"intent": {"name": body["name"]}, "entities": []}}])

    async def _record(self, request: web.Request, calls: List[Dict[str, Any]],
                      events_of: Callable[[Any], List[Dict[str, Any]]]) -> web.Response:
        sender = request.match_info["sender"]
        status = 500 if sender in self.unreachable else self.status
        body = await request.json()
        calls.append({"sender": sender, "query": dict(request.query), "body": body, "status": status})
        if status == 200:
            self.conversations.setdefault(sender, []).extend(events_of(body))
        await asyncio.sleep(self.delay_s)
        if sender in self.unreachable:
            return web.json_response({"status": "failure", "message": "An unexpected error occurred. Error: "
                                      "Telegram refused the message: Forbidden: bot was blocked by the user"},
                                     status=status)
        return web.json_response({}, status=status)

    def texts(self, sender: str) -> List[str]:
        """What `sender` was told (the calls answered 200)."""
        return [event["text"] for call in self.told(sender) for event in call["body"]]

    def told(self, sender: str) -> List[Dict[str, Any]]:
        """The bot events sent to `sender` that Rasa took (answered 200)."""
        return [call for call in self.calls if call["sender"] == sender and call["status"] == 200]
