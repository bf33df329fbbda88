"""An Open311 server's updates feed (FixMyStreet's `servicerequestupdates.json` extension) as a
stand-in, for the notifier's tests:

    async with UpdatesFeed() as feed:
        feed.publish("PA000001", "in_progress", "Đang thu gom")
        ...point BACKEND_URL at feed.base...
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

from aiohttp import web

from tests.support.servers import Standin

VN = timezone(timedelta(hours=7))


class UpdatesFeed(Standin):
    """Serves `items` by `start_date`/`end_date`, oldest first; records each query (`reads`) and
    the api key it came with."""

    def __init__(self) -> None:
        super().__init__()
        self.items: List[Dict[str, Any]] = []
        self.reads: List[Dict[str, str]] = []

    @property
    def base(self) -> str:
        """The Open311 base to point BACKEND_URL at."""
        return f"{self.url}/open311/v2"

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/open311/v2/servicerequestupdates.json", self._feed)

    def publish(self, code: str, state: str, note: str = "", media_url: Optional[str] = None,
                at: Optional[datetime] = None, kind: str = "state") -> Dict[str, Any]:
        """A change of report `code`, made `at` (now by default), as the feed lists it."""
        item = {
            "update_id": len(self.items) + 1, "service_request_id": code,
            "updated_datetime": (at or datetime.now(timezone.utc)).astimezone(VN).isoformat(timespec="seconds"),
            "status": "closed" if state in ("resolved", "rejected") else "open", "state": state,
            "description": note, "media_url": media_url, "kind": kind,
        }
        self.items.append(item)
        return item

    async def _feed(self, request: web.Request) -> web.Response:
        self.reads.append({**request.query, "key": request.headers.get("X-Api-Key", "")})
        start = datetime.fromisoformat(request.query["start_date"])
        end = datetime.fromisoformat(request.query["end_date"]) if "end_date" in request.query else None
        found = [item for item in self.items if start <= datetime.fromisoformat(item["updated_datetime"])
                 and (end is None or datetime.fromisoformat(item["updated_datetime"]) <= end)]
        return web.json_response(sorted(found, key=lambda item: (item["updated_datetime"], item["update_id"])))
