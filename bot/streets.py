"""The street index: Huế's named streets with their geometry, mapped house numbers and the units
each crosses, built once from an OpenStreetMap extract by `python -m tools.import_osm`.

It turns a typed street (and number, and unit) into a point on that street, and a pin into the
nearest named street. Without an index file (STREET_INDEX) the geocoder keeps its offline name
lists: a street then resolves only to candidate units.

File format (gzip-compressed JSON, `FORMAT`): {"format", "source", "streets": [{"name", "lines":
[[[lat, lon], ...], ...], "units": [unit code, ...], "numbers": {"45": [lat, lon], ...}}]}.
"""
from __future__ import annotations

import gzip
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from shapely.geometry import LineString, MultiLineString, Point
from shapely.ops import linemerge
from shapely.strtree import STRtree

from bot.area import Area, Unit, km_latlon, km_xy, load_area
from bot.text import fold

log = logging.getLogger(__name__)

FORMAT = 1
# A pin this close to a named street is "near" it (a pavement, a house front); farther, the
# street would mislead a crew more than it helps.
NEAR_STREET_KM = 0.06
# Words a street's name may start with that people leave out when typing it ("Đường Lê Lợi").
_ROAD_WORDS = ("duong", "pho", "dai lo")
# Names that already say what kind of way they are ("Kiệt 12 Chi Lăng", "Cầu Trường Tiền").
_KIND_WORDS = ("duong", "pho", "dai lo", "kiet", "hem", "ngo", "ngach", "cau", "quoc lo", "tinh lo", "tl", "ql")

LatLon = Tuple[float, float]


def street_key(name: str) -> str:
    """The folded words of a street's name without a leading "đường": how it is looked up."""
    words = " ".join(re.findall(r"[a-z0-9]+", fold(name)))
    for road in _ROAD_WORDS:
        if words.startswith(road + " ") and len(words.split()) > len(road.split()) + 1:
            return words[len(road) + 1:]
    return words


def bare_name(name: str) -> str:
    """The name as people type it: "Đường Nguyễn Huệ" -> "Nguyễn Huệ"."""
    words = name.split()
    extra = len(words) - len(street_key(name).split())
    return " ".join(words[extra:]) if extra > 0 else name


def number_key(number: str) -> str:
    """"45", "45A", "45 a", "45/2" -> "45", "45a", "45a", "45/2"."""
    return re.sub(r"\s+", "", fold(number))


def street_label(name: str) -> str:
    """"đường Lê Lợi" for "Lê Lợi"; a name that says its kind ("Cầu Trường Tiền") as it is."""
    folded = " ".join(re.findall(r"[a-z0-9]+", fold(name)))
    if any(folded == kind or folded.startswith(kind + " ") for kind in _KIND_WORDS):
        return name[0].lower() + name[1:] if folded.startswith(_ROAD_WORDS) else name
    return f"đường {name}"


class StreetPoint(NamedTuple):
    lat: float
    lon: float
    exact: bool  # the mapped house number itself, not a point estimated along the street


@dataclass(frozen=True)
class Street:
    name: str
    lines: Tuple[Tuple[LatLon, ...], ...]
    units: Tuple[Unit, ...]
    numbers: Dict[str, LatLon]

    def point(self, area: Area, number: Optional[str] = None, unit: Optional[Unit] = None) -> Optional[StreetPoint]:
        """Where `number` (if any) lies on this street, within `unit` (if named): the mapped
        house number, else interpolated between mapped numbers, else the street's middle in the
        unit. None when the street does not cross the unit, or crosses several and none is named."""
        if unit is not None and unit not in self.units:
            return None
        key = number_key(number) if number else None
        if key and key in self.numbers:
            lat, lon = self.numbers[key]
            if unit is None or area.unit_at(lat, lon) == unit:
                return StreetPoint(lat, lon, True)
        if key:
            estimate = self._interpolate(key)
            if estimate is not None and (unit is None or area.unit_at(*estimate) == unit):
                return StreetPoint(*estimate, False)
        if unit is None and len(self.units) != 1:
            return None
        return self._middle(area, unit or self.units[0])

    def _interpolate(self, key: str) -> Optional[LatLon]:
        """The number's place along the street from the mapped numbers of its side (odd or even,
        as Vietnamese streets are numbered), or of both sides when one has too few."""
        wanted = _leading_int(key)
        if wanted is None:
            return None
        line = _longest(linemerge(MultiLineString([[km_xy(*p) for p in part] for part in self.lines])))
        if line is None:
            return None
        known = [(n, line.project(Point(km_xy(*self.numbers[k])))) for k in self.numbers
                 if (n := _leading_int(k)) is not None]
        same_side = [(n, at) for n, at in known if n % 2 == wanted % 2]
        for pairs in (same_side, known):
            ranked = sorted(set(pairs), key=lambda pair: abs(pair[0] - wanted))
            distinct = [pair for pair in ranked if pair[0] != ranked[0][0]] if ranked else []
            if not distinct:
                continue
            (n1, at1), (n2, at2) = ranked[0], distinct[0]
            at = at1 + (wanted - n1) * (at2 - at1) / (n2 - n1)
            x, y = line.interpolate(min(max(at, 0.0), line.length)).coords[0]
            return km_latlon(x, y)
        return None

    def _middle(self, area: Area, unit: Unit) -> Optional[StreetPoint]:
        pieces = [piece for part in self.lines for piece in area.clip(part, unit)]
        line = _longest(MultiLineString([[km_xy(*p) for p in piece] for piece in pieces if len(piece) > 1]))
        if line is None:
            return None
        x, y = line.interpolate(0.5, normalized=True).coords[0]
        return StreetPoint(*km_latlon(x, y), False)


class StreetIndex:
    def __init__(self, streets: List[Street]):
        self.streets: Dict[str, Street] = {}
        for street in streets:
            self.streets.setdefault(street_key(street.name), street)
        forms = sorted(self.streets, key=len, reverse=True)
        body = "|".join(r"[^a-z0-9]*".join(map(re.escape, form.split())) for form in forms if form)
        self._pattern = re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])") if body else None
        self._lines: List[LineString] = []
        self._owner: List[Street] = []
        for street in self.streets.values():
            for part in street.lines:
                if len(part) > 1:
                    self._lines.append(LineString([km_xy(*p) for p in part]))
                    self._owner.append(street)
        self._tree = STRtree(self._lines)

    def find(self, folded: str) -> Optional[Tuple[Street, Tuple[int, int]]]:
        """The longest street name in a folded text (`bot.text.fold_chars`), and its span."""
        if self._pattern is None:
            return None
        best = max(self._pattern.finditer(folded), key=lambda m: m.end() - m.start(), default=None)
        if best is None:
            return None
        return self.streets[" ".join(re.findall(r"[a-z0-9]+", best.group()))], best.span()

    def nearest(self, lat: float, lon: float, max_km: float = NEAR_STREET_KM) -> Optional[Street]:
        """The named street closest to a point, if one is within `max_km`."""
        if not self._lines:
            return None
        found = self._tree.query_nearest(Point(km_xy(lat, lon)), max_distance=max_km)
        return self._owner[int(min(found))] if len(found) else None


def _leading_int(key: str) -> Optional[int]:
    match = re.match(r"\d+", key)
    return int(match.group()) if match else None


def _longest(geometry) -> Optional[LineString]:
    parts = [g for g in getattr(geometry, "geoms", [geometry]) if isinstance(g, LineString) and not g.is_empty]
    return max(parts, key=lambda g: g.length, default=None)


def write_index(path: Path, source: str, streets: List[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "source": source, "streets": streets}
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))


def read_index(path: Path, area: Area) -> StreetIndex:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: street index format {data.get('format')!r}, expected {FORMAT}: import it again")
    streets = []
    for item in data["streets"]:
        units = tuple(u for u in (area.unit_by_code(code) for code in item["units"]) if u is not None)
        streets.append(Street(
            name=item["name"],
            lines=tuple(tuple((float(lat), float(lon)) for lat, lon in part) for part in item["lines"]),
            units=units,
            numbers={key: (float(lat), float(lon)) for key, (lat, lon) in item["numbers"].items()},
        ))
    return StreetIndex(streets)


@lru_cache(maxsize=None)
def load_street_index(path: Optional[Path]) -> Optional[StreetIndex]:
    """The index at `path`, parsed once per process; None when there is none (no city import yet)."""
    if path is None or not Path(path).is_file():
        return None
    index = read_index(Path(path), load_area())
    log.info("street index %s: %d streets", path, len(index.streets))
    return index
