"""Servers in tests: free ports, an aiohttp app served on one, an event loop in a thread of its
own, and waiting until something has happened."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Awaitable, Callable, Optional, Tuple, TypeVar

from aiohttp import web

from tools.processes import free_ports

T = TypeVar("T")
S = TypeVar("S", bound="Standin")


def free_port() -> int:
    """A port nothing listens on right now (on 127.0.0.1)."""
    return free_ports(1)[0]


async def serve(app: web.Application, port: int = 0) -> Tuple[web.AppRunner, str]:
    """Serves `app` on 127.0.0.1 (a free port unless given); the runner (`await
    runner.cleanup()` stops it) and the base URL."""
    # No access log: the Bot API stand-in's would print the token from the URLs.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


class Standin:
    """A local stand-in of a web service, served on a free port by `start()` (or `async with`);
    a subclass adds its routes in `routes(app)`."""

    def __init__(self) -> None:
        self.url = ""
        self._runner: Optional[web.AppRunner] = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self: S) -> S:
        app = web.Application()
        self.routes(app)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self: S) -> S:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


class BackgroundLoop:
    """An event loop in a thread of its own, for servers that outlive a test's loop or answer
    blocking clients (requests, Selenium)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, work: Awaitable[T], timeout_s: float = 60) -> T:
        """Runs `work` on the loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout_s)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def eventually(condition: Callable[[], T], what: str, timeout_s: float = 10) -> T:
    """Waits until `condition()` is true and returns it; fails naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}")
        await asyncio.sleep(0.02)
    return result
