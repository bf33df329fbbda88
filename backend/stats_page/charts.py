"""The page's bar charts as data for the template: one row a bar, with its label, the bar's length
(0-100, drawn as an SVG rect) and the value as text, which is the bar's text alternative."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from . import numbers

# Past this many agencies a chart is no longer read; the table lists them all.
MAX_AGENCIES = 12


@dataclass(frozen=True)
class Bar:
    label: str
    length: float
    value: str


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    note: str
    bars: List[Bar]


def _bars(entries: List[Dict[str, Any]], figure: str, show: Callable[[Any], str],
          top: Optional[float] = None) -> List[Bar]:
    shown = [entry for entry in entries if entry[figure] is not None]
    most = top or max((entry[figure] for entry in shown), default=0) or 1
    return [Bar(entry["name"], round(100 * entry[figure] / most, 1), show(entry[figure])) for entry in shown]


def of(stats: Dict[str, Any]) -> List[Chart]:
    agencies = [entry for entry in stats["by_agency"] if entry["on_time_share"] is not None]
    agencies = sorted(agencies[:MAX_AGENCIES], key=lambda entry: -entry["on_time_share"])
    slowest = sorted(
        (entry for entry in stats["by_category"] if entry["median_hours_to_resolve"] is not None),
        key=lambda entry: -entry["median_hours_to_resolve"],
    )
    return [
        Chart("received", "Số phản ánh theo lĩnh vực", "Số phản ánh tiếp nhận trong kỳ.",
              _bars([entry for entry in stats["by_category"] if entry["received"]], "received", numbers.count)),
        Chart("on-time", "Tỷ lệ giải quyết đúng hạn theo cơ quan",
              f"Trong số phản ánh đã giải quyết; tối đa {MAX_AGENCIES} cơ quan nhận nhiều phản ánh nhất.",
              _bars(agencies, "on_time_share", numbers.percent, top=1)),
        Chart("median", "Thời gian giải quyết (trung vị) theo lĩnh vực",
              "Số giờ từ lúc tiếp nhận đến lúc giải quyết xong; một nửa số phản ánh nhanh hơn.",
              _bars(slowest, "median_hours_to_resolve", numbers.hours)),
    ]
