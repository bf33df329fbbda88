"""The backend's metrics for Prometheus (`bot/metrics.py`): every request counted and timed by its
route's template (never its path: codes and ids would make a series each), and `/metrics`, which
a request that came through a proxy does not get (404)."""
from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from bot import metrics

UNMATCHED = "unmatched"  # no route: 404, 405
# The parser takes dozens of methods (WebDAV's...): the rest count as one, to keep the series few.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def counted(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = _route(request)
    method = request.method if request.method in METHODS else metrics.OTHER
    with metrics.BACKEND_REQUEST_SECONDS.labels(route).time():
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # what open311_errors lets through: redirects
            metrics.BACKEND_REQUESTS.labels(route, method, str(exc.status)).inc()
            raise
    metrics.BACKEND_REQUESTS.labels(route, method, str(response.status)).inc()
    return response


def setup(app: web.Application) -> None:
    """Adds /metrics; `counted` goes first among the app's middlewares (it sees the final status)."""
    app.router.add_get("/metrics", metrics.scrape)
