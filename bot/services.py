"""The categories the citizen chooses from: those of the Open311 server the assistant reports to.

Any Open311 server may sit behind the assistant (BACKEND_URL) with its own service codes and
names, and a report is only accepted under one of them, so the buttons and names come from its
`services.json`. The shipped table (bot/data/categories.yml) stands in while the server is down
or answers something that is not a list of services.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Mapping, NamedTuple

from cachetools import TLRUCache

from .categories import category_names
from .open311_client import BackendRejected, BackendUnavailable, Open311Client
from .settings import Settings, get_settings

log = logging.getLogger(__name__)

# A server's categories change rarely; asking once every few minutes keeps each question fast.
SERVICES_TTL_S = 300.0
# While the server is down, ask again sooner, so that its own list is back soon after it is.
FALLBACK_TTL_S = 30.0


class _Listing(NamedTuple):
    names: Mapping[str, str]
    live: bool


def service_names(payload: Any) -> Dict[str, str]:
    """service_code -> service_name of a services.json answer, in its order; entries without
    both are skipped, and anything but a list gives nothing."""
    names: Dict[str, str] = {}
    for service in payload if isinstance(payload, list) else ():
        if not isinstance(service, dict):
            continue
        code, name = service.get("service_code"), service.get("service_name")
        if isinstance(code, str) and code.strip() and isinstance(name, str) and name.strip():
            names.setdefault(code, name.strip())
    return names


def _expiry(url: str, listing: _Listing, now: float) -> float:
    return now + (SERVICES_TTL_S if listing.live else FALLBACK_TTL_S)


class ServiceCatalogue:
    """service_code -> service_name of the configured Open311 server (`categories()`), kept for
    SERVICES_TTL_S, or the shipped list kept for FALLBACK_TTL_S."""

    def __init__(self, settings: Callable[[], Settings] = get_settings,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        # Keyed by the server's URL, so that pointing the settings elsewhere is never answered
        # with the previous server's list.
        self._cache: TLRUCache[str, _Listing] = TLRUCache(maxsize=1, ttu=_expiry, timer=timer)

    async def categories(self) -> Mapping[str, str]:
        # Two questions at the same moment may both ask the server: one GET too many, where an
        # asyncio lock would tie the catalogue to a single event loop.
        settings = self._settings()
        url = settings.effective_backend_url
        listing = self._cache.get(url)
        if listing is None:
            listing = await self._ask(settings)
            self._cache[url] = listing
        return listing.names

    def cache_clear(self) -> None:
        self._cache.clear()

    @staticmethod
    async def _ask(settings: Settings) -> _Listing:
        try:
            # No retries: a citizen waits for this answer, and the shipped list is a fine stand-in.
            async with Open311Client.from_settings(settings, retries=0) as client:
                names = service_names(await client.services())
        except BackendUnavailable as exc:
            log.warning("services.json unavailable, offering the shipped categories: %s", exc.detail)
            return _Listing(category_names(), live=False)
        except BackendRejected as exc:
            log.warning("services.json refused (HTTP %s), offering the shipped categories", exc.code)
            return _Listing(category_names(), live=False)
        if not names:
            log.warning("services.json of %s lists no service, offering the shipped categories",
                        settings.effective_backend_url)
            return _Listing(category_names(), live=False)
        return _Listing(names, live=True)
