"""Typed address -> place in Huế, offline by default; a pin -> a place people recognise.

A typed address resolves, in order, to: typed coordinates or a map link; a known landmark
(bot/data/landmarks.yml) or a named OSM point; a street of the street index (bot/streets.py, when a
city has imported its OpenStreetMap extract) at its house number or on the street within the named
unit; a named unit (current or older name) at the unit's label point; a known street name (the
shipped name lists, no geometry), as the candidate units to confirm with the citizen. Only a pin,
typed coordinates, a landmark point or a mapped house number are `precise`. A point is shown as
the nearest named street or landmark and its unit ("gần đường Lê Lợi, phường Thuận Hóa"), never
as bare coordinates.
"""
from __future__ import annotations

import asyncio
import csv
import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import yaml
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim
from geopy.location import Location

from bot.area import DATA_DIR, Area, Unit, distance_km, load_area, split_type
from bot.settings import Settings, get_settings
from bot.streets import Street, StreetPoint, bare_name, load_street_index, street_label
from bot.text import fold, fold_chars

log = logging.getLogger(__name__)

LANDMARKS_FILE = Path(__file__).resolve().parent / "data" / "landmarks.yml"

# Enough for any address; a pasted essay is cut rather than scanned in full.
MAX_QUERY_CHARS = 1000
MAX_DISPLAY_CHARS = 200

NOMINATIM_USER_AGENT = "hue-phan-anh-assistant"
NOMINATIM_TIMEOUT_S = 5
# Nominatim's usage policy: at most one request per second from the application (the action
# server keeps one Geocoder).
NOMINATIM_MIN_DELAY_S = 1.0
# A pin farther than this from every landmark (and not beside a named street) is shown by its unit.
NEAR_LANDMARK_KM = 0.3
# A house number typed just before a street: "45 Nguyễn Huệ", "số 45, đường Nguyễn Huệ", "kiệt 3/12".
_NUMBER_BEFORE = re.compile(r"(\d+[a-z]?(?:/\d+[a-z]?)*)[\s,]*(?:duong|d\.)?\s*$")


@dataclass(frozen=True)
class Place:
    query: str
    display: str  # Vietnamese, e.g. "kiệt 45 Nguyễn Huệ, phường Thuận Hóa"
    latitude: Optional[float]
    longitude: Optional[float]
    unit: Optional[Unit]
    candidates: Tuple[Unit, ...]
    precise: bool  # a pin, typed coordinates or a known landmark point

    @property
    def outside_hue(self) -> bool:
        """Coordinates were given but lie outside the city: the report must be refused."""
        return self.latitude is not None and self.unit is None and not self.candidates


def unit_label(unit: Unit) -> str:
    """"phường Thuận Hóa", "xã A Lưới 2": how a unit is written inside an address."""
    return f"{unit.type.lower()} {unit.name}"


def renamed_label(older: str, unit: Unit) -> str:
    """"phường Vĩnh Ninh cũ, nay là phường Thuận Hóa": an older unit named, and where it is now."""
    type_, name = split_type(older)
    return f"{type_.lower()} {name} cũ, nay là {unit_label(unit)}"


class _Point(NamedTuple):
    name: str
    lat: float
    lon: float
    precise: bool


class Gazetteer:
    """The offline name lists: landmarks, OSM named points, streets by pre-2025 district."""

    def __init__(self, area: Area, landmarks: List[dict], osm_points: List[dict],
                 streets: List[Tuple[str, str]], district_units: Dict[str, Tuple[Unit, ...]]):
        self.area = area
        self.points: Dict[str, _Point] = {}
        self.landmarks: List[_Point] = []
        for item in landmarks:
            point = _Point(item["name"], float(item["lat"]), float(item["lon"]), True)
            self.landmarks.append(point)
            for alias in [item["name"], *item.get("aliases", [])]:
                self.points.setdefault(_words(alias), point)
        self.places: Dict[str, _Point] = {}
        self._add_osm_points(osm_points)
        self.streets: Dict[str, Tuple[str, Tuple[Unit, ...]]] = {}
        for street, district in streets:
            key = _words(street)
            name, units = self.streets.get(key, (street, ()))
            self.streets[key] = (name, tuple(dict.fromkeys(units + district_units.get(district, ()))))
        self._points_re = _alternation(self.points)
        self._places_re = _alternation(self.places)
        self._streets_re = _alternation(self.streets)

    def _add_osm_points(self, rows: List[dict]) -> None:
        unit_names = {_words(u.name) for u in self.area.units}
        unit_names |= {_words(split_type(old)[1]) for u in self.area.units for old in u.older_names}
        seen: Dict[str, int] = {}
        for row in rows:
            seen[_words(row["name"])] = seen.get(_words(row["name"]), 0) + 1
        for row in rows:
            key, kind = _words(row["name"]), row["kind"]
            words = len(key.split())
            # Two-word shrine and shop names ("miếu Bà", "Petrolimex") are generic; a city or town
            # point is a unit name; a name used twice locates nothing.
            if seen[key] > 1 or key in unit_names or kind in ("place=city", "place=town"):
                continue
            is_area = kind.startswith("place=")
            if words >= 3 or (is_area and words == 2):
                target = self.places if is_area else self.points
                target.setdefault(key, _Point(row["name"], float(row["lat"]), float(row["lon"]), not is_area))

    def find_point(self, folded: str) -> Optional[Tuple[_Point, Tuple[int, int]]]:
        return _longest(self._points_re, folded, self.points)

    def find_place(self, folded: str) -> Optional[Tuple[_Point, Tuple[int, int]]]:
        return _longest(self._places_re, folded, self.places)

    def find_street(self, folded: str) -> Optional[Tuple[Tuple[str, Tuple[Unit, ...]], Tuple[int, int]]]:
        return _longest(self._streets_re, folded, self.streets)

    def nearest_landmark(self, lat: float, lon: float) -> Optional[_Point]:
        point = min(self.landmarks, key=lambda p: distance_km((lat, lon), (p.lat, p.lon)), default=None)
        return point if point and distance_km((lat, lon), (point.lat, point.lon)) <= NEAR_LANDMARK_KM else None


def _words(name: str) -> str:
    """The key of a name: its folded words, without punctuation ("Đại Nội (Hoàng thành)")."""
    return " ".join(re.findall(r"[a-z0-9]+", fold(name)))


def _alternation(names) -> Optional["re.Pattern[str]"]:
    forms = sorted(names, key=len, reverse=True)
    if not forms:
        return None
    body = "|".join(r"[^a-z0-9]*".join(map(re.escape, form.split())) for form in forms)
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


def _longest(pattern, folded: str, table: dict):
    if pattern is None:
        return None
    best = max(pattern.finditer(folded), key=lambda m: m.end() - m.start(), default=None)
    if best is None:
        return None
    return table[_words(best.group())], best.span()


def _district_units(area: Area, path: Path) -> Dict[str, Tuple[Unit, ...]]:
    """Pre-2025 district -> today's units that hold its 2019 wards and communes.

    A 2019 name counts when exactly one unit's older units bear it, as the same type or as a
    commune since made a ward (never the reverse: Huế's old "phường Phú Thuận" is not Phú Vang's
    "xã Phú Thuận"). Names shared by several units, or gone before 2025, are skipped; the
    district's other wards still cover it.
    """
    def key(name: str) -> str:
        return re.sub(r"y\b", "i", fold(name))  # "Vĩ Dạ" and "Vỹ Dạ" are one ward

    owners: Dict[str, Dict[Unit, str]] = {}
    for unit in area.units:
        for full_name in (unit.full_name, *unit.older_names):
            type_, name = split_type(full_name)
            owners.setdefault(key(name), {})[unit] = type_
    result: Dict[str, Tuple[Unit, ...]] = {}
    with open(path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            found = owners.get(key(row["ward_name"]), {})
            if len(found) != 1:
                continue
            (unit, later_type), = found.items()
            district = row["district_pre2025"]
            if (later_type == row["ward_type"] or later_type == "Phường") and unit not in result.get(district, ()):
                result[district] = result.get(district, ()) + (unit,)
    return result


@lru_cache(maxsize=None)
def load_gazetteer(data_dir: Path = DATA_DIR, landmarks_file: Path = LANDMARKS_FILE) -> Gazetteer:
    area = load_area()
    with open(landmarks_file, encoding="utf-8") as f:
        landmarks = yaml.safe_load(f) or []
    with open(data_dir / "osm" / "named_points_partial_osm.csv", encoding="utf-8") as f:
        osm_points = list(csv.DictReader(f))
    with open(data_dir / "street_names_by_old_district_2019.csv", encoding="utf-8") as f:
        # Single-token rows are noise in the source ("19/5", "49A"); real names have two words.
        streets = [(r["street_name"].strip(), r["district_pre2025"]) for r in csv.DictReader(f)
                   if len(r["street_name"].split()) >= 2]
    return Gazetteer(area, landmarks, osm_points, streets,
                     _district_units(area, data_dir / "ward_names_by_old_district_2019.csv"))


# Typed coordinates -----------------------------------------------------------------------------
_NUMBER = r"(-?\d{1,3}\.\d+)"
_COORD_PATTERNS = (
    re.compile(rf"@{_NUMBER},\s*{_NUMBER}"),  # google.com/maps/place/...@16.46,107.59,17z
    re.compile(rf"[?&](?:q|ll|query|center|destination)=(?:loc:)?{_NUMBER}(?:,|%2C)\s*{_NUMBER}", re.I),
    re.compile(rf"(?<![\d.]){_NUMBER}\s*[,;]?\s+{_NUMBER}(?![\d.])"),
    re.compile(rf"(?<![\d.]){_NUMBER}\s*[,;]\s*{_NUMBER}(?![\d.])"),
)


def parse_coordinates(text: str) -> Optional[Tuple[float, float]]:
    """(lat, lon) from "16.4637, 107.5909" or a map link; accepts lon, lat typed the wrong way."""
    for pattern in _COORD_PATTERNS:
        m = pattern.search(text)
        if not m:
            continue
        a, b = float(m.group(1)), float(m.group(2))
        if abs(a) > 90 and abs(b) <= 90:
            a, b = b, a
        if abs(a) <= 90 and abs(b) <= 180 and math.isfinite(a) and math.isfinite(b):
            return a, b
    return None


# Display ----------------------------------------------------------------------------------------
# ", Huế", " TP Huế", ", tỉnh Thừa Thiên Huế" at the end; a bare final "Huế" may be "Nguyễn Huệ".
_CITY_TAIL = re.compile(
    r"(?:\s*[,;\-]\s*(?:(?:thanh pho|tp\.?|tinh)\s*)?|\s+(?:thanh pho|tp\.?|tinh)\s*)"
    r"(?:thua thien\s*-?\s*)?hue[\s,;.]*$"
)


def _display(text: str, folded: str, remove: Optional[Tuple[int, int]] = None,
             replace: Optional[Tuple[Tuple[int, int], str]] = None, unit: Optional[Unit] = None,
             older: Optional[str] = None) -> str:
    """The address as typed, with a street written properly, the unit mention rewritten as the
    current unit (an `older` unit's name as "… cũ, nay là …"), and a trailing "Huế" dropped
    (everything is in Huế)."""
    edits = []
    if remove:
        edits.append((remove, ""))
    if replace:
        edits.append(replace)
    for (start, end), new in sorted(edits, reverse=True):
        text, folded = text[:start] + new + text[end:], folded[:start] + fold_chars(new) + folded[end:]
    tail = _CITY_TAIL.search(folded)
    if tail and tail.start() > 0:
        text = text[: tail.start()]
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s*,(\s*,)+", ",", text).strip(" ,;.-")
    if unit is not None:
        label = renamed_label(older, unit) if older else unit_label(unit)
        text = f"{text}, {label}" if text else label
    return text[:MAX_DISPLAY_CHARS]


class Geocoder:
    """Typed address -> place: OpenStreetMap's Nominatim first with GEOCODER=nominatim, the offline
    data otherwise and whenever Nominatim has nothing. `nominatim` replaces the public server."""

    def __init__(self, settings: Optional[Settings] = None, *, nominatim: Optional[Nominatim] = None):
        self.settings = settings or get_settings()
        self.area = load_area()
        self.gazetteer = load_gazetteer()
        self.streets = load_street_index(self.settings.street_index)
        self._search: Optional[Callable[..., Optional[Location]]] = None
        if self.settings.geocoder == "nominatim":
            service = nominatim or Nominatim(user_agent=NOMINATIM_USER_AGENT, timeout=NOMINATIM_TIMEOUT_S)
            # No retries and no swallowed errors: a failed lookup falls back to the offline data
            # at once instead of keeping the citizen waiting.
            self._search = RateLimiter(service.geocode, min_delay_seconds=NOMINATIM_MIN_DELAY_S,
                                       max_retries=0, swallow_exceptions=False)

    async def resolve(self, text: str) -> Optional[Place]:
        if self._search is not None:
            # geopy's client blocks, and the rate limiter may sleep: off the event loop.
            place = await asyncio.to_thread(self._resolve_nominatim, text)
            if place is not None:
                return place
        return self._resolve_offline(text)

    def describe_point(self, lat: float, lon: float) -> Optional[Place]:
        """A pin (or a photo's position) as a place people recognise: the nearest named street
        or landmark and the unit ("gần đường Lê Lợi, phường Thuận Hóa"); None outside Huế."""
        lat, lon = float(lat), float(lon)
        unit = self.area.unit_at(lat, lon)
        if unit is None:
            return None
        return Place(query=f"{lat:.5f}, {lon:.5f}", display=self._near(lat, lon, unit),
                     latitude=lat, longitude=lon, unit=unit, candidates=(unit,), precise=True)

    def _near(self, lat: float, lon: float, unit: Unit) -> str:
        street = self.streets.nearest(lat, lon) if self.streets else None
        if street is not None:
            return f"gần {street_label(street.name)}, {unit_label(unit)}"
        landmark = self.gazetteer.nearest_landmark(lat, lon)
        if landmark is not None:
            return f"gần {landmark.name}, {unit_label(unit)}"
        return unit_label(unit)

    def _resolve_offline(self, text: str) -> Optional[Place]:
        try:
            return self._offline(text)
        except Exception:  # a bad address must never take the conversation down
            log.exception("offline geocoding failed for %r", text[:200] if isinstance(text, str) else text)
            return None

    def _offline(self, text) -> Optional[Place]:
        if not isinstance(text, str):
            return None
        query = unicodedata.normalize("NFC", text).strip()[:MAX_QUERY_CHARS]
        folded = fold_chars(query)
        if not folded.strip() or len(folded) != len(query):
            return None

        coords = parse_coordinates(query)
        if coords:
            lat, lon = coords
            inside = self.describe_point(lat, lon)
            # Outside Huế: kept as typed, to be refused.
            return inside or Place(query, f"{lat:.5f}, {lon:.5f}", lat, lon, None, (), True)

        found = self.gazetteer.find_point(folded)
        if found:
            return self._at_point(query, found[0])

        named = self.area.name_matches(query)
        mapped = self.streets.find(folded) if self.streets else None
        street = self.gazetteer.find_street(folded)
        street_edit = ((street[1], street[0][0]) if street else None)
        if mapped:
            street_edit = (mapped[1], bare_name(mapped[0].name))
        if named:
            units = tuple(dict.fromkeys(u for m in named for u in m.units))
            if len(units) == 1:
                unit = units[0]
                span = (named[0].start, named[0].end)
                if street_edit and street_edit[0][0] < span[1] and span[0] < street_edit[0][1]:
                    street_edit = mapped = None  # the "street" was the unit's own name
                display = _display(query, folded, span, street_edit, unit, named[0].older)
                point = self._on_street(mapped, folded, unit) if mapped else None
                if point is not None:
                    return Place(query, display, point.lat, point.lon, unit, units, point.exact)
                return Place(query, display, unit.label_lat, unit.label_lon, unit, units, False)
            return Place(query, _display(query, folded, None, street_edit), None, None, None, units, False)

        found = self.gazetteer.find_place(folded)
        if found:
            return self._at_point(query, found[0])

        if mapped:
            point = self._on_street(mapped, folded, None)
            at = self.area.unit_at(point.lat, point.lon) if point else None
            if point is not None and at is not None:
                return Place(query, _display(query, folded, None, street_edit, at),
                             point.lat, point.lon, at, (at,), point.exact)
            # Through several units and no number to place it: the citizen picks the unit.
            return Place(query, _display(query, folded, None, street_edit), None, None, None, mapped[0].units, False)

        if street:
            (name, units), span = street
            only = units[0] if len(units) == 1 else None
            return Place(query, _display(query, folded, None, (span, name), only),
                         None, None, only, units, False)
        return None

    def _on_street(self, mapped: Tuple[Street, Tuple[int, int]], folded: str,
                   unit: Optional[Unit]) -> Optional[StreetPoint]:
        """The point of the house number typed before the street (if any), within `unit`."""
        street, (start, _) = mapped
        number = _NUMBER_BEFORE.search(folded[:start])
        return street.point(self.area, number.group(1) if number else None, unit)

    def _at_point(self, query: str, point: _Point) -> Place:
        unit = self.area.unit_at(point.lat, point.lon)
        display = f"{point.name}, {unit_label(unit)}" if unit else point.name
        return Place(query, display, point.lat, point.lon, unit, (unit,) if unit else (), point.precise)

    def _resolve_nominatim(self, text: str) -> Optional[Place]:
        """Nominatim bounded to Huế; None on any failure so the offline path takes over."""
        try:
            if self._search is None or not isinstance(text, str) or not text.strip() or parse_coordinates(text):
                return None
            box = self.area.bbox
            hit = self._search(text[:MAX_QUERY_CHARS], viewbox=[(box.south, box.west), (box.north, box.east)],
                               bounded=True, country_codes="vn", language="vi")
            if hit is None:
                return None
            unit = self.area.unit_at(hit.latitude, hit.longitude)
            if unit is None:
                return None
            display = f"{text.strip()[:MAX_DISPLAY_CHARS]} ({unit_label(unit)})"
            return Place(text, display, hit.latitude, hit.longitude, unit, (unit,), False)
        except Exception as exc:
            log.warning("Nominatim failed, using offline data: %s", exc)
            return None
