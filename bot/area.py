"""The 40 communes and wards of Huế (since 1 July 2025): which unit holds a point, which units a
text names (current or older names, with or without diacritics).

Data: `bot/data/hue/` (provenance and licences in its README). Attributes come from
`hue_wards_2025.csv`; boundaries and label points from the OSM full-precision polygons, which tile
the city without gaps or overlaps, but are still treated defensively (even-odd rings, nearest unit
near the edge) so a coarser boundary file can be dropped in.
"""
from __future__ import annotations

import csv
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache, reduce
from pathlib import Path
from typing import Dict, Iterable, List, NamedTuple, Optional, Set, Tuple

from shapely.geometry import LineString, Point, Polygon
from shapely.prepared import prep

from bot.text import fold, fold_chars

DATA_DIR = Path(__file__).resolve().parent / "data" / "hue"

# A point outside every polygon but this close to one is taken as inside it: boundaries follow the
# coast and the river banks, and a pin on a pier or a beach must not be refused.
NEAREST_UNIT_MAX_KM = 1.5

# Local equirectangular frame in km around Huế: good to well under 1 % across the city, which is
# all the nearest-unit fallback needs.
_KM_PER_DEG_LAT = 110.57
_KM_PER_DEG_LON = 111.32 * math.cos(math.radians(16.4))


@dataclass(frozen=True)
class Unit:
    code: str  # official GSO 5-digit code
    type: str  # "Phường" or "Xã"
    name: str
    full_name: str
    committee: str  # "UBND phường Phú Xuân"
    hq_address: str
    label_lat: float
    label_lon: float
    older_names: Tuple[str, ...]  # full names of the older units merged into this one


class BBox(NamedTuple):
    south: float
    west: float
    north: float
    east: float


class NameMatch(NamedTuple):
    """A unit name found in a text; `start`/`end` index the text as given (after NFC)."""

    units: Tuple[Unit, ...]  # more than one only for an older name shared by several units
    start: int
    end: int
    older: Optional[str] = None  # the older unit's full name ("Phường Vĩnh Ninh") when that was named


# Typed before a name. District words mark the pre-2025 district of the same name ("huyện Phú
# Lộc" covered several of today's units), which is not the unit and is skipped.
_UNIT_PREFIXES = {
    "phuong": "Phường", "p": "Phường", "f": "Phường",
    "xa": "Xã", "x": "Xã",
    "thi tran": "Thị trấn", "tt": "Thị trấn",
}
_DISTRICT_PREFIXES = ("huyen", "thi xa", "tx", "quan", "thanh pho", "tp")

# A bare name right after these words or a house number is a street ("đường Kim Long", "45 Kim
# Long"), not the unit.
_STREET_BEFORE = re.compile(r"(?:duong|d\.|kiet|hem|ngo|ngach|pho|\d+[a-z]?(?:/\d+[a-z]?)*)\s*$")

# Names that are also ordinary words or phrases in a complaint: "dịch vụ phong phú", "phong thái",
# "đường nó hỏng" (folds to "duong no"), "thuận hòa", "an hòa". They count only after a prefix.
_COMMON_WORDS = {"phong phu", "phong thai", "duong no", "thuan hoa", "an hoa", "phong an", "a luoi"}


class _Entry(NamedTuple):
    unit: Unit
    type: str  # type of the named unit (current or older): "Phường", "Xã", "Thị trấn"
    current: bool
    bare_ok: bool
    full_name: str  # as written in the source: "Phường Vĩnh Ninh"
    spelling: str  # the name with its marks: "Vĩnh Ninh"


class Area:
    def __init__(self, units: Iterable[Unit], rings: Dict[str, List[List[Tuple[float, float]]]],
                 old_names: Iterable[Tuple[str, str]]):
        """`rings`: unit code -> its rings as (lon, lat); `old_names`: (older full name, code)."""
        self.units: List[Unit] = sorted(units, key=lambda u: u.code)
        self._by_code = {u.code: u for u in self.units}
        self._shapes = {}
        for code, unit_rings in rings.items():
            # Even-odd over all rings: a ring inside another is a hole, whatever its orientation.
            geom = reduce(lambda a, b: a.symmetric_difference(b),
                          (Polygon([_to_km(lon, lat) for lon, lat in ring]).buffer(0) for ring in unit_rings))
            self._shapes[code] = (geom, prep(geom))
        missing = [u.full_name for u in self.units if u.code not in self._shapes]
        if missing:
            raise ValueError(f"no boundary for: {', '.join(missing)}")
        lons = [lon for unit_rings in rings.values() for ring in unit_rings for lon, _ in ring]
        lats = [lat for unit_rings in rings.values() for ring in unit_rings for _, lat in ring]
        self.bbox = BBox(min(lats), min(lons), max(lats), max(lons))
        self._index = self._build_name_index(old_names)
        self._pattern = _names_pattern(self._forms)

    # Points -----------------------------------------------------------------------------------
    def unit_at(self, lat: float, lon: float) -> Optional[Unit]:
        try:
            lat, lon = float(lat), float(lon)
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(lat) and math.isfinite(lon)):
            return None
        point = Point(_to_km(lon, lat))
        inside = [code for code, (_, prepared) in self._shapes.items() if prepared.contains(point)]
        if inside:
            # Two only where boundaries overlap; the unit whose centre is nearer is the likelier.
            return min((self._by_code[c] for c in inside),
                       key=lambda u: (point.distance(Point(_to_km(u.label_lon, u.label_lat))), u.code))
        distance, code = min((geom.distance(point), code) for code, (geom, _) in self._shapes.items())
        return self._by_code[code] if distance <= NEAREST_UNIT_MAX_KM else None

    def units_crossed(self, line: Iterable[Tuple[float, float]]) -> List[Unit]:
        """The units a line of (lat, lon) points runs through, in code order."""
        shape = _line_km(line)
        return [self._by_code[code] for code, (_, prepared) in sorted(self._shapes.items())
                if prepared.intersects(shape)]

    def clip(self, line: Iterable[Tuple[float, float]], unit: Unit) -> List[List[Tuple[float, float]]]:
        """The pieces of a line of (lat, lon) points that lie within `unit`, as (lat, lon) points."""
        piece = _line_km(line).intersection(self._shapes[unit.code][0])
        parts = getattr(piece, "geoms", [piece])
        return [[km_latlon(x, y) for x, y in part.coords] for part in parts
                if isinstance(part, LineString) and not part.is_empty]

    def contains(self, lat: float, lon: float) -> bool:
        return self.unit_at(lat, lon) is not None

    def unit_by_code(self, code) -> Optional[Unit]:
        return self._by_code.get(str(code).strip())

    # Names ------------------------------------------------------------------------------------
    def units_named_in(self, text: str) -> List[Unit]:
        """Units named in `text` (current or older names), in order of first mention."""
        found: List[Unit] = []
        for match in self.name_matches(text):
            for unit in match.units:
                if unit not in found:
                    found.append(unit)
        return found

    def name_matches(self, text: str) -> List[NameMatch]:
        if not isinstance(text, str) or not text.strip():
            return []
        text = unicodedata.normalize("NFC", text)
        folded = fold_chars(text)
        if len(folded) != len(text):  # exotic case mapping: lose the spans, keep the matches
            folded = fold(text)
        matches = []
        for m in self._pattern.finditer(folded):
            before = folded[: m.start()]
            prefix = re.sub(r"[\s.]+", " ", m.group("prefix") or "").strip()
            if prefix in _DISTRICT_PREFIXES:
                continue
            key = _key(m.group("name"))
            entries = self._index[key]
            if prefix:
                wanted = _UNIT_PREFIXES[prefix]
                typed = [e for e in entries if e.type == wanted] or entries
            else:
                if _STREET_BEFORE.search(before):
                    continue
                typed = [e for e in entries if e.bare_ok]
            if not typed:
                continue
            spelled = text[m.start("name"):m.end("name")] if len(folded) == len(text) else ""
            if not spelled.isascii():
                # Typed with its marks, a name tells apart two that fold alike: "Thuận Hòa", an
                # older ward of Phú Xuân, is not "Thuận Hóa".
                typed = [e for e in typed if _marks(e.spelling) == _marks(spelled)] or typed
            current = [e for e in typed if e.current]
            units = tuple(dict.fromkeys(e.unit for e in (current or typed)))
            older = typed[0].full_name if not current and len(units) == 1 else None
            matches.append(NameMatch(units, m.start(), m.end(), older))
        return matches

    def _build_name_index(self, old_names: Iterable[Tuple[str, str]]) -> Dict[str, List[_Entry]]:
        index: Dict[str, List[_Entry]] = {}
        self._forms: Set[str] = set()

        def add(name: str, type_: str, unit: Unit, current: bool, full_name: str) -> None:
            words = re.findall(r"[a-z0-9]+", fold(name))
            distinctive = len(words) >= 2 and " ".join(words) not in _COMMON_WORDS
            # Older communes' names ("Phú An", "Lộc Hòa") are too generic to trust without "xã";
            # older wards' and towns' names are still everyday addresses ("Vĩnh Ninh").
            bare_ok = distinctive and (current or type_ != "Xã")
            for variant in _spelling_variants(words):
                self._forms.add(variant)
                index.setdefault(_key(variant), []).append(_Entry(unit, type_, current, bare_ok, full_name, name))

        for unit in self.units:
            add(unit.name, unit.type, unit, True, unit.full_name)
        for full_name, code in old_names:
            type_, name = split_type(full_name)
            unit = self._by_code[code]
            # Phường Đúc is named after the foundry quarter "Phường Đúc": people write it whole.
            spoken = " ".join(full_name.split()[len(type_.split()):])
            for alias in {name, spoken}:
                if fold(alias) != fold(unit.name):
                    add(alias, type_, unit, False, f"{type_} {name}")
        # A bare older name shared by two units is no evidence for either.
        for entries in index.values():
            bare_units = {e.unit for e in entries if e.bare_ok and not e.current}
            if len(bare_units) > 1:
                entries[:] = [e._replace(bare_ok=False) if not e.current else e for e in entries]
        return index


def split_type(full_name: str) -> Tuple[str, str]:
    """"Phường Vĩnh Ninh" -> ("Phường", "Vĩnh Ninh"); the source's "Phường Phường Đúc" -> "Đúc"."""
    words = full_name.split()
    for type_ in ("Thị trấn", "Phường", "Xã"):
        size = len(type_.split())
        if words[:size] == type_.split() and len(words) > size:
            rest = words[size:]
            if rest[:size] == type_.split() and len(rest) > size:
                rest = rest[size:]
            return type_, " ".join(rest)
    return "", " ".join(words)


def _key(folded_name: str) -> str:
    # Separators are optional in the pattern ("aluoi 3", "chan may-lang co"), so keys have none.
    return "".join(re.findall(r"[a-z0-9]+", folded_name))


def _marks(name: str) -> Tuple[Tuple[str, ...], ...]:
    """The diacritics of each word, in any order: "Hoá" and "Hóa" (two ways of placing the tone)
    are alike, "Hòa" is not."""
    words = re.findall(r"\w+", unicodedata.normalize("NFC", name.lower()))
    return tuple(tuple(sorted(c for c in unicodedata.normalize("NFD", word) if unicodedata.combining(c)))
                 for word in words)


def _spelling_variants(words: List[str]) -> List[str]:
    """Pattern forms (words joined by a space) with both y and i for a final "y" ("Vỹ"/"Vĩ")."""
    spelled = " ".join(words)
    alt = re.sub(r"\b([bcdghklmnpqrstvx]+)y\b", r"\1i", spelled)
    return [spelled] if alt == spelled else [spelled, alt]


def _names_pattern(forms: Iterable[str]) -> "re.Pattern[str]":
    names = sorted(forms, key=len, reverse=True)  # longest first: "phuong duc" before "duc"
    alternation = "|".join(r"[\s\-.]*".join(map(re.escape, name.split())) for name in names)
    prefixes = sorted(list(_UNIT_PREFIXES) + list(_DISTRICT_PREFIXES), key=len, reverse=True)
    prefix = "|".join(p.replace(" ", r"\s+") for p in prefixes)
    return re.compile(
        rf"(?<![a-z0-9])(?:(?P<prefix>{prefix})(?:\s*\.\s*|\s+))?(?P<name>{alternation})(?![a-z0-9])"
    )


def _to_km(lon: float, lat: float) -> Tuple[float, float]:
    return lon * _KM_PER_DEG_LON, lat * _KM_PER_DEG_LAT


def km_xy(lat: float, lon: float) -> Tuple[float, float]:
    """A (lat, lon) point in the local km frame, where distances are plain Euclidean ones."""
    return _to_km(lon, lat)


def km_latlon(x: float, y: float) -> Tuple[float, float]:
    """(lat, lon) of a point of the local km frame."""
    return y / _KM_PER_DEG_LAT, x / _KM_PER_DEG_LON


def _line_km(line: Iterable[Tuple[float, float]]) -> LineString:
    return LineString([_to_km(lon, lat) for lat, lon in line])


def distance_km(a: Tuple[float, float], b: Tuple[float, float]) -> float:
    """Between two (lat, lon) points in Huế."""
    return math.dist(km_xy(*a), km_xy(*b))


def _rings(geometry: dict) -> List[List[Tuple[float, float]]]:
    if geometry["type"] == "Polygon":
        polygons = [geometry["coordinates"]]
    elif geometry["type"] == "MultiPolygon":
        polygons = geometry["coordinates"]
    else:
        raise ValueError(f"unexpected geometry {geometry['type']}")
    return [[(float(x), float(y)) for x, y, *_ in ring] for polygon in polygons for ring in polygon]


@lru_cache(maxsize=None)
def load_area(data_dir: Path = DATA_DIR) -> Area:
    """The shipped Huế data, parsed once per process."""
    data_dir = Path(data_dir)
    with open(data_dir / "osm" / "wards_2025_osm.geojson", encoding="utf-8") as f:
        features = {feat["properties"]["name"]: feat["geometry"] for feat in json.load(f)["features"]}
    with open(data_dir / "osm" / "wards_2025_osm.csv", encoding="utf-8") as f:
        labels = {row["name"]: (float(row["lat"]), float(row["lon"])) for row in csv.DictReader(f)}
    with open(data_dir / "old_to_new_mapping_hue.csv", encoding="utf-8") as f:
        mapping = [(row["old_name"], row["new_code"]) for row in csv.DictReader(f)]

    units, rings = [], {}
    with open(data_dir / "hue_wards_2025.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            full_name = row["full_name"]
            if full_name not in features or full_name not in labels:
                raise ValueError(f"{full_name}: missing from the OSM boundaries or label points")
            older = tuple(" ".join(split_type(old)) for old, code in mapping if code == row["gso_code"])
            lat, lon = labels[full_name]
            units.append(Unit(code=row["gso_code"], type=row["type"], name=row["name"],
                              full_name=full_name, committee=row["committee"],
                              hq_address=row["hq_address"], label_lat=lat, label_lon=lon,
                              older_names=older))
            rings[row["gso_code"]] = _rings(features[full_name])
    if len(units) != 40:
        raise ValueError(f"expected the 40 units of Huế, found {len(units)}")
    return Area(units, rings, mapping)
