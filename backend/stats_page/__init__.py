"""The public page of figures, `/stats/` on the backend's port: no login, Vietnamese, the figures of
`stats.json` (same cache) for a period the visitor picks, as big numbers, bar charts and tables.

The charts are drawn here on the server, as SVG bars inside HTML rows: nothing to download from a
CDN (it works offline), nothing to run in the browser to see them, and the row's text is its own
text alternative. A few lines of script only sort the tables and hide the custom dates.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from multidict import MultiDict, MultiMapping

from ..errors import Open311Error
from ..forms import local_time
from ..stats import STATS, Period, local_midnight, month_start, now_minute, parse_period
from . import charts, numbers

_HERE = Path(__file__).resolve().parent
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True
)
_TEMPLATES.filters.update(numbers.FILTERS)

PERIODS = {
    "this_month": "Tháng này",
    "last_month": "Tháng trước",
    "this_year": "Năm nay",
    "custom": "Tùy chọn",
}
# Nothing but this page's own files; no inline script or style, no framing.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def chosen_period(query: MultiMapping[str], now: datetime) -> Tuple[str, Period]:
    """The period the visitor picked (`period`, and `from`/`to` dates for a custom one); Open311Error
    for custom dates that make no period."""
    choice = query.get("period", "")
    this_month = month_start(now)
    if choice == "last_month":
        return choice, Period(month_start(this_month - timedelta(seconds=1)), this_month)
    if choice == "this_year":
        return choice, Period(local_midnight(local_time(now).date().replace(month=1, day=1)), now)
    if choice == "custom":
        dates = MultiDict(start_date=query.get("from", ""), end_date=query.get("to", ""))
        return choice, parse_period(dates, now)
    return "this_month", Period(this_month, now)


async def page(request: web.Request) -> web.Response:
    now = now_minute()
    error: Optional[str] = None
    try:
        choice, period = chosen_period(request.query, now)
    except Open311Error as exc:
        error = exc.description.split(" / ")[0]
        choice, period = "custom", Period(month_start(now), now)
    figures = None if error else await request.app[STATS].figures(request.app, period)
    context: Dict[str, Any] = {
        "periods": PERIODS,
        "choice": choice,
        "from": request.query.get("from", "") if choice == "custom" else "",
        "to": request.query.get("to", "") if choice == "custom" else "",
        "error": error,
        "stats": figures,
        "first_day": local_time(period.start),
        "last_day": local_time(period.end - timedelta(seconds=1)),
        "json_url": "/open311/v2/stats.json?" + urlencode(
            {"start_date": local_time(period.start).isoformat(), "end_date": local_time(period.end).isoformat()}
        ),
        "charts": charts.of(figures) if figures else None,
    }
    html = _TEMPLATES.get_template("stats.html").render(context)
    return web.Response(
        text=html, content_type="text/html", status=400 if error else 200,
        headers={**_HEADERS, "Cache-Control": "public, max-age=60"},
    )


async def to_page(_request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/stats/")


def setup(app: web.Application) -> None:
    """`/stats/` and its files; expects the figures' cache (`backend.stats.setup`)."""
    app.router.add_get("/stats", to_page)
    app.router.add_get("/stats/", page)
    app.router.add_static("/stats/static/", _HERE / "static", append_version=False)
