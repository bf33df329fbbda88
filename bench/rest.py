"""Latency and throughput through Rasa's REST channel: our assistant beside a stock one.

Both assistants run as real servers on free loopback ports: ours is the whole stack of
`python -m bot.cli run` (backend, action server, Rasa), the stock one is `rasa init`'s moodbot
(DIET + TED policies) with its own action server. Each is driven by the same client: concurrent
conversations, each a realistic sequence of messages sent one after the other, as a user would.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import aiohttp
import numpy
import yaml

from bot.settings import PROJECT_ROOT
from tools.processes import free_ports, start_group, stop_group, wait_until_up

logger = logging.getLogger("bench")

Message = Tuple[str, Optional[Dict]]

# A citizen's report, cancelled at the summary: the backend does not fill up with bench reports
# and every run sees the same empty state. A complaint without an address, so the form asks for
# the pin instead of confirming a typed address.
OUR_CONVERSATION: List[Message] = [
    ("xin chào", None),
    ("đèn đường trước nhà tắt cả tuần nay rồi, tối đi về tối om", None),
    ("/affirm", None),  # the proposed category is right
    ("/share_location", {"location": {"latitude": 16.4637, "longitude": 107.5909}}),
    ("/deny", None),  # no photos
    ("/cancel", None),
]
STOCK_CONVERSATION: List[Message] = [
    ("hello", None), ("I am sad", None), ("yes", None), ("goodbye", None),
]

STOCK_CACHE = PROJECT_ROOT / ".bench-cache" / "rasa-init"
CHILD_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
             "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}


# --- load ---------------------------------------------------------------------------------------

@dataclass
class Run:
    samples: List[Tuple[str, float]] = field(default_factory=list)  # (message sent, latency ms)
    elapsed_s: float = 0.0
    conversations: int = 0
    errors: int = 0

    @property
    def latencies_ms(self) -> List[float]:
        return [ms for _, ms in self.samples]

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.elapsed_s

    def p50_by_message(self) -> Dict[str, float]:
        """Where the time goes: NLU alone (greet) or a form step with custom-action calls."""
        by_message: Dict[str, List[float]] = {}
        for text, ms in self.samples:
            by_message.setdefault(text, []).append(ms)
        return {text: round(float(numpy.median(ms)), 1) for text, ms in by_message.items()}


async def converse(session: aiohttp.ClientSession, url: str, sender: str,
                   conversation: Sequence[Message], run: Run) -> List[List[Dict]]:
    replies = []
    for text, metadata in conversation:
        body = {"sender": sender, "message": text, **({"metadata": metadata} if metadata else {})}
        started = time.perf_counter()
        try:
            async with session.post(url, json=body) as response:
                response.raise_for_status()
                replies.append(await response.json())
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.warning("%s: %r -> %s", sender, text, exc)
            run.errors += 1
            return replies  # the rest of this conversation would be out of step
        run.samples.append((text, 1000 * (time.perf_counter() - started)))
    run.conversations += 1
    return replies


async def drive(base_url: str, conversation: Sequence[Message], *, tag: str, concurrency: int,
                rounds: int, time_limit_s: float) -> Run:
    """`concurrency` users, each holding `rounds` conversations in turn, until the time limit."""
    url = f"{base_url}/webhooks/rest/webhook"
    run = Run()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        # Rasa loads parts of the pipeline and the action server its modules on first use.
        warmup = await converse(session, url, f"bench-{tag}-warmup", conversation, Run())
        logger.info("warm-up conversation: %s",
                    [[r.get("text", "")[:40] for r in reply] for reply in warmup])
        deadline = time.monotonic() + time_limit_s

        async def user(u: int) -> None:
            for r in range(rounds):
                if time.monotonic() > deadline:
                    return
                await converse(session, url, f"bench-{tag}-c{concurrency}-u{u}-r{r}",
                               conversation, run)

        started = time.perf_counter()
        await asyncio.gather(*(user(u) for u in range(concurrency)))
        run.elapsed_s = time.perf_counter() - started
    return run


def report(emit, assistant: str, run: Run, concurrency: int, context: Dict) -> Dict[str, float]:
    if not run.samples:
        raise RuntimeError(f"no message to the {assistant} assistant was answered; see the log above")
    p50, p95 = numpy.percentile(run.latencies_ms, [50, 95])
    context = {"assistant": assistant, "n": len(run.latencies_ms), "concurrency": concurrency,
               "conversations": run.conversations, "errors": run.errors,
               "duration_s": round(run.elapsed_s, 2), **context}
    prefix = f"rest.{assistant}.c{concurrency}"
    emit(f"{prefix}.latency.p50", p50, "ms", p50_by_message=run.p50_by_message(), **context)
    emit(f"{prefix}.latency.p95", p95, "ms", **context)
    emit(f"{prefix}.throughput", run.throughput, "msg/s", **context)
    return {"latency.p50": p50, "latency.p95": p95, "throughput": run.throughput}


# --- servers ------------------------------------------------------------------------------------

def wait_for(url: str, processes: Sequence[subprocess.Popen], timeout_s: float) -> None:
    if not wait_until_up(url, processes, timeout_s):
        raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s; see the log above")


def forward(stream, ready: threading.Event, marker: str) -> None:
    """Copies a child's stdout to our stderr (stdout is for figures), noticing `marker`."""
    for line in stream:
        sys.stderr.write(line)
        if marker in line:
            ready.set()


@contextlib.contextmanager
def our_stack(timeout_s: float = 300, env: Optional[Dict[str, str]] = None,
              command: Sequence[str] = ("bot.cli", "run")) -> Iterator[str]:
    """`python -m bot.cli run` (or another launcher `command`, e.g. `tools.production`) on free
    ports with a scratch data dir (and `env` on top of ours); yields Rasa's base URL."""
    ports = dict(zip(("RASA_PORT", "ACTIONS_PORT", "BACKEND_PORT"), free_ports(3), strict=True))
    with tempfile.TemporaryDirectory(prefix="bench-data-") as data_dir:
        child_env = {**os.environ, **CHILD_ENV, **{k: str(v) for k, v in ports.items()},
                     "DATA_DIR": data_dir, "PYTHONPATH": str(PROJECT_ROOT)}
        child_env.pop("HOST", None)  # loopback only
        child_env.pop("RASA_API_TOKEN", None)  # so the REST channel needs none (channels/rest.py), unless `env` says
        child_env.update(env or {})
        process = start_group([sys.executable, "-m", *command], cwd=PROJECT_ROOT, env=child_env,
                        stdout=subprocess.PIPE, text=True)
        ready = threading.Event()
        threading.Thread(target=forward, args=(process.stdout, ready, "is running"),
                         daemon=True).start()
        try:
            deadline = time.monotonic() + timeout_s
            while not ready.wait(1):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("our stack did not start; see the log above")
            yield f"http://127.0.0.1:{ports['RASA_PORT']}"
        finally:
            stop_group(process)


def stock_project() -> Path:
    """The trained `rasa init` project, built once (minutes of DIET + TED training) and cached."""
    if list((STOCK_CACHE / "models").glob("*.tar.gz")):
        return STOCK_CACHE
    STOCK_CACHE.parent.mkdir(exist_ok=True)
    # The cache ignores itself, like .pytest_cache, so it never shows up in `git status`.
    (STOCK_CACHE.parent / ".gitignore").write_text("*\n")
    logger.info("building the stock `rasa init` assistant into %s (several minutes, once)",
                STOCK_CACHE.relative_to(PROJECT_ROOT))
    building = Path(tempfile.mkdtemp(prefix="rasa-init-", dir=STOCK_CACHE.parent))
    try:
        subprocess.run([sys.executable, "-m", "rasa", "init", "--no-prompt",
                        "--init-dir", str(building)], cwd=building, env={**os.environ, **CHILD_ENV},
                       stdout=sys.stderr, check=True)
        shutil.rmtree(STOCK_CACHE, ignore_errors=True)
        building.rename(STOCK_CACHE)  # only a complete project becomes the cache
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return STOCK_CACHE


@contextlib.contextmanager
def stock_stack(project: Path, timeout_s: float = 300) -> Iterator[str]:
    """`rasa run --enable-api` + `rasa run actions` for the stock project; yields Rasa's base URL."""
    rasa_port, actions_port = free_ports(2)
    env = {**os.environ, **CHILD_ENV}
    with tempfile.TemporaryDirectory(prefix="bench-stock-") as tmp:
        endpoints = Path(tmp) / "endpoints.yml"
        endpoints.write_text(yaml.safe_dump(
            {"action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"}}))
        processes = [
            start_group([sys.executable, "-m", "rasa", "run", "actions", "--port", str(actions_port)],
                  cwd=project, env=env, stdout=sys.stderr),
            start_group([sys.executable, "-m", "rasa", "run", "--enable-api", "--model", "models",
                   "--endpoints", str(endpoints), "--interface", "127.0.0.1",
                   "--port", str(rasa_port)], cwd=project, env=env, stdout=sys.stderr),
        ]
        try:
            wait_for(f"http://127.0.0.1:{actions_port}/health", processes, timeout_s)
            wait_for(f"http://127.0.0.1:{rasa_port}/status", processes, timeout_s)
            yield f"http://127.0.0.1:{rasa_port}"
        finally:
            for process in processes:
                stop_group(process)


# --- the benchmark ------------------------------------------------------------------------------

def measure(emit, assistant: str, base_url: str, conversation: Sequence[Message],
            concurrency: Sequence[int], rounds: int, time_limit_s: float,
            context: Dict) -> Dict[int, Dict[str, float]]:
    figures = {}
    for c in concurrency:
        logger.info("REST load on the %s assistant: %d concurrent conversations", assistant, c)
        run = asyncio.run(drive(base_url, conversation, tag=assistant, concurrency=c,
                                rounds=rounds, time_limit_s=time_limit_s))
        figures[c] = report(emit, assistant, run, c, context)
    return figures


def bench_rest(emit, model: Path, *, concurrency: Sequence[int], rounds: int,
               time_limit_s: float, stock: bool) -> None:
    ours_context = {"model": model.name, "language": "vi",
                    "dataset": "report: greet, complaint, affirm category, pin, no photos, cancel"}
    with our_stack() as url:
        ours = measure(emit, "ours", url, OUR_CONVERSATION, concurrency, rounds, time_limit_s,
                       ours_context)
    if not stock:
        return
    project = stock_project()
    stock_context = {"model": "rasa init (DIET + TED, default config)", "language": "en",
                     "note": "stock moodbot conversations are English",
                     "dataset": "moodbot: hello, I am sad, yes, goodbye"}
    with stock_stack(project) as url:
        theirs = measure(emit, "stock", url, STOCK_CONVERSATION, concurrency, rounds,
                         time_limit_s, stock_context)
    for c in concurrency:
        for figure in ("latency.p50", "latency.p95", "throughput"):
            # Below 1 is better for latency, above 1 for throughput.
            emit(f"rest.c{c}.{figure}.ratio", ours[c][figure] / theirs[c][figure], "ratio",
                 concurrency=c, numerator="ours", denominator="stock")
