"""`python -m tools.action_server --actions actions --port N`: the Rasa SDK's action server
(`python -m rasa_sdk`, same arguments) with `GET /metrics` (bot/metrics.py), which a request that
came through a proxy does not get (404)."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

import rasa_sdk.endpoint
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import metrics


def _with_metrics(create_app: Callable[..., Sanic]) -> Callable[..., Sanic]:
    @wraps(create_app)
    def with_metrics(*args: Any, **kwargs: Any) -> Sanic:
        app = create_app(*args, **kwargs)

        @app.get("/metrics")
        async def hue_metrics(request: Request) -> HTTPResponse:
            if metrics.proxied(request.headers):
                return response.json({"error": "not found"}, status=404)
            body, content_type = metrics.exposition()
            return response.raw(body, content_type=content_type)

        return app

    return with_metrics


def main() -> None:
    rasa_sdk.endpoint.create_app = _with_metrics(rasa_sdk.endpoint.create_app)
    from rasa_sdk.__main__ import main as sdk_main

    sdk_main()


if __name__ == "__main__":
    main()
