"""Child processes on loopback, shared by `make run`, `make bench` and the tests: free ports,
a server started in a process group of its own, waited for until it answers, stopped whole."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from typing import List, Sequence


def free_ports(count: int) -> List[int]:
    """Ports free on loopback now; the sockets stay open until all are chosen, so they differ."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive ports free on loopback now (the production profile puts
    its replicas on consecutive ports)."""
    for _ in range(50):
        (first,) = free_ports(1)
        try:
            with contextlib.ExitStack() as stack:
                for port in range(first, first + count):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"found no {count} consecutive free ports")


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_until_up(url: str, processes: Sequence[subprocess.Popen], timeout_s: float) -> bool:
    """True once `url` answers below 500; False if one of `processes` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def start_group(command: List[str], **kwargs) -> subprocess.Popen:
    # A session of its own, so that a stuck server can be stopped with whatever it started.
    return subprocess.Popen(command, start_new_session=True, **kwargs)


def stop_group(process: subprocess.Popen, timeout_s: float = 30) -> None:
    """SIGTERM to the process group started by `start_group` (bot.cli turns it into Ctrl-C and
    stops its children), SIGKILL to whatever is left after `timeout_s`."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait_s)
