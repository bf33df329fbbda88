"""`python -m backend`: the routing backend alone, on HOST:BACKEND_PORT."""
from __future__ import annotations

import os
import sys

from aiohttp import web

from bot.settings import DEV_API_KEY, DEV_OPERATOR_KEY, SettingsError, start_process

from . import create_app
from .app import AccessLogger


def main() -> None:
    settings = start_process()
    try:
        app = create_app(settings)
    except SettingsError as exc:
        sys.exit(f"error: {exc}")
    # Its database holds citizens' phone numbers: readable by this service's user only.
    os.umask(0o077)
    if not settings.backend_api_keys:
        # Only the public development key is ever printed; real keys stay in the environment.
        print(f"BACKEND_API_KEYS is unset: development api_key is {DEV_API_KEY}", flush=True)
    if settings.development_keys:
        print(f"BACKEND_OPERATOR_KEYS is unset: development operator api_key is {DEV_OPERATOR_KEY}",
              flush=True)
    print(
        f"Open311 routing backend on http://{settings.host}:{settings.backend_port}/open311/v2",
        flush=True,
    )
    web.run_app(
        app,
        host=settings.host,
        port=settings.backend_port,
        access_log_class=AccessLogger,
        print=None,
    )


if __name__ == "__main__":
    main()
