"""Every process's metrics for Prometheus, defined in one place (`prometheus_client`'s registry).

Each process counts what it does and serves the lot on its own `/metrics`: the Rasa server and the
backend on their HTTP port, the action server through `tools/action_server.py`, the outbox worker
and the notifier on OUTBOX_METRICS_PORT and NOTIFIER_METRICS_PORT (`serve`). Every process lists
every family (all but the outbox's gauges carry labels): those it counts in have samples.

Labels are bounded so that nobody can grow a series per citizen: a channel is one of CHANNELS
(anything else is "other"), an intent one of the model's, a backend route the route's template
and its method a standard one; never a sender id, a text or a report code.

Metrics are for the internal network. A server reached through a proxy refuses them (404 to any
request carrying a proxy's forwarding header, `proxied`): nginx in front never routes /metrics, and
should it ever pass one on, it still adds X-Forwarded-For. Prometheus scrapes the servers directly.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Optional, Tuple

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CHANNELS = ("telegram", "zalo", "web", "rest")
OTHER = "other"
# Headers a reverse proxy adds: a request that carries one came from outside.
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
# From a parse (tens of milliseconds) to a report submitted to a slow backend (seconds).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Rejections, by reason: the webhook's secret or signature, or the REST token, is missing or wrong
UNAUTHORIZED = "unauthorized"
TOO_LARGE = "too_large"  # a body past channels/limits.py's limit
TOO_LONG = "too_long"  # a text past MAX_TEXT_CHARS
RATE_LIMITED = "rate_limited"  # a sender past SENDER_MESSAGES_PER_MINUTE or SENDER_PHOTOS_PER_HOUR
MALFORMED = "malformed"  # not a message of that channel
STALE = "stale"  # a signed Zalo event too old (or from the future) to be handled

# The Rasa server
MESSAGES = Counter("hue_messages", "Citizens' messages handled, by channel and the intent the NLU read",
                   ["channel", "intent"])
MESSAGE_SECONDS = Histogram("hue_message_seconds", "Time to handle a citizen's message and answer it, by channel",
                            ["channel"], buckets=LATENCY_BUCKETS)
FALLBACKS = Counter("hue_fallbacks", "Messages that ended in the fallback (nlu_fallback or action_fallback)",
                    ["channel"])
BUSY = Counter("hue_busy", "Messages dropped, their citizen asked to try again, for want of the action server",
               ["channel"])
WEBHOOK_REJECTIONS = Counter("hue_webhook_rejections", "Messages a channel refused before the assistant saw them",
                             ["channel", "reason"])
# The action server
REPORTS_SUBMITTED = Counter("hue_reports_submitted",
                            "Reports confirmed by citizens: sent to the Open311 server, queued in the outbox "
                            "(server unreachable) or rejected by it", ["channel", "outcome"])
# The routing backend
BACKEND_REPORTS_CREATED = Counter("hue_backend_reports_created", "Reports stored (repeats of a create excluded)",
                                  ["channel"])
BACKEND_REQUESTS = Counter("hue_backend_requests", "HTTP requests answered, by route template, method and status",
                           ["route", "method", "status"])
BACKEND_REQUEST_SECONDS = Histogram("hue_backend_request_seconds", "Time to answer an HTTP request, by route template",
                                    ["route"], buckets=LATENCY_BUCKETS)
# The outbox worker: step "delivery" (to the Open311 server) or "notification" (the code, to the citizen)
OUTBOX_STEPS = Counter("hue_outbox_steps", "Outbox steps done: sent, failed (to be retried) or rejected (dropped)",
                       ["step", "outcome"])
# The notifier
NOTIFICATIONS = Counter("hue_notifications", "Report updates told to citizens: sent, failed (to be retried) "
                        "or given up", ["channel", "outcome"])


def channel_label(channel: Optional[str]) -> str:
    """`channel` if it is one of the assistant's channels, else "other"."""
    return channel if channel in CHANNELS else OTHER


def channel_of(sender_id: str) -> str:
    """The channel of a conversation id (`telegram:42`, channels/output.py's `sender_id`)."""
    return channel_label(sender_id.split(":", 1)[0])


def rejected(channel: str, reason: str) -> None:
    """Counts a message that `channel` refused for `reason` (one of the reasons above)."""
    WEBHOOK_REJECTIONS.labels(channel_label(channel), reason).inc()


def proxied(headers: Mapping[str, Any]) -> bool:
    """Whether a request came through a reverse proxy, so from outside: it gets no metrics."""
    return any(headers.get(name) for name in FORWARDING_HEADERS)


def exposition() -> Tuple[bytes, str]:
    """The body and content type of a scrape."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


async def scrape(request: web.Request) -> web.Response:
    """`GET /metrics` of an aiohttp server (the backend, the admin service): 404 through a proxy."""
    if proxied(request.headers):
        raise web.HTTPNotFound()
    body, content_type = exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


class _OutboxGauges(Collector):
    def __init__(self, waiting: Callable[[], Mapping[str, Tuple[int, float]]]) -> None:
        self.waiting = waiting

    @staticmethod
    def _families() -> Tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (GaugeMetricFamily("hue_outbox_depth", "Outbox rows waiting, by step", labels=["step"]),
                GaugeMetricFamily("hue_outbox_oldest_seconds", "Age of the oldest row waiting, by step (0: none)",
                                  labels=["step"]))

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # Without it, registering would read the outbox at once.
        return self._families()

    def collect(self) -> Iterable[GaugeMetricFamily]:
        depth, oldest = self._families()
        for step, (rows, age_s) in self.waiting().items():
            depth.add_metric([step], rows)
            oldest.add_metric([step], age_s)
        yield depth
        yield oldest


_outbox_gauges: Optional[_OutboxGauges] = None


def watch_outbox(waiting: Callable[[], Mapping[str, Tuple[int, float]]]) -> None:
    """Registers the outbox's gauges, read at each scrape: `waiting()` gives, for each step
    ("delivery", "notification"), the rows waiting and the age in seconds of the oldest."""
    global _outbox_gauges
    if _outbox_gauges is not None:  # a second run in the same process
        REGISTRY.unregister(_outbox_gauges)
    _outbox_gauges = _OutboxGauges(waiting)
    REGISTRY.register(_outbox_gauges)


def serve(port: int, host: str) -> None:
    """Serves /metrics on `host:port` in a thread of its own (a worker without an HTTP server);
    port 0: not at all."""
    if port:
        start_http_server(port, addr=host)
