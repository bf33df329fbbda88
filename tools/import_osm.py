"""`python -m tools.import_osm EXTRACT [--out FILE]`: build the street index from an OpenStreetMap
extract (`.osm.pbf` or `.osm`), once per city and again whenever the map has improved.

Reads the named ways (`highway=*` with `name`) with their geometry, and the house numbers mapped on
nodes or buildings (`addr:housenumber` with `addr:street`); keeps the streets that run through
Huế, with the units each crosses (against the shipped boundaries, bot/area.py). Writes
bot/streets.py's file, by default where the assistant looks for it (STREET_INDEX, else
DATA_DIR/streets.json.gz); restart the action server to use it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import osmium

from bot.area import Area, load_area
from bot.settings import STREET_INDEX_FILE, get_settings
from bot.streets import number_key, street_key, write_index

LatLon = Tuple[float, float]


class _Reader(osmium.SimpleHandler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: Dict[str, List[List[LatLon]]] = {}  # street name -> its ways
        self.numbers: List[Tuple[str, str, LatLon]] = []  # (street name, house number, point)

    def node(self, node) -> None:
        self._address(node.tags, [node.location] if node.location.valid() else [])

    def way(self, way) -> None:
        points = [n.location for n in way.nodes if n.location.valid()]
        tags = way.tags
        name = (tags.get("name") or "").strip()
        if "highway" in tags and name and len(points) > 1:
            self.lines.setdefault(name, []).append([(p.lat, p.lon) for p in points])
        self._address(tags, points)

    def _address(self, tags, points) -> None:
        number, street = (tags.get("addr:housenumber") or "").strip(), (tags.get("addr:street") or "").strip()
        if number and street and points:
            # A building's number stands at its outline's mean point: close enough for a crew.
            lat = sum(p.lat for p in points) / len(points)
            lon = sum(p.lon for p in points) / len(points)
            self.numbers.append((street, number, (round(lat, 7), round(lon, 7))))


def build(extract: Path, area: Area) -> Tuple[List[dict], int]:
    """The index's streets from an extract, and how many house numbers named no street kept."""
    reader = _Reader()
    reader.apply_file(str(extract), locations=True)
    streets: Dict[str, dict] = {}
    for name, lines in sorted(reader.lines.items()):
        units = {u.code for line in lines for u in area.units_crossed(line)}
        if not units:
            continue  # outside Huế: the extract's box is wider than the city
        entry = streets.setdefault(street_key(name), {"name": name, "lines": [], "units": [], "numbers": {}})
        entry["lines"] += [[[round(lat, 7), round(lon, 7)] for lat, lon in line] for line in lines]
        entry["units"] = sorted(set(entry["units"]) | units)
    unmatched = 0
    for street, number, point in reader.numbers:
        named = streets.get(street_key(street))
        if named is None:
            unmatched += 1
            continue
        named["numbers"].setdefault(number_key(number), list(point))
    return list(streets.values()), unmatched


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.import_osm", description=__doc__.splitlines()[0])
    parser.add_argument("extract", type=Path, help="OpenStreetMap extract of Huế (.osm.pbf or .osm)")
    parser.add_argument("--out", type=Path, help=f"index file to write (default: STREET_INDEX, else "
                                                 f"DATA_DIR/{STREET_INDEX_FILE})")
    args = parser.parse_args(argv)
    if not args.extract.is_file():
        print(f"{args.extract}: no such file", file=sys.stderr)
        return 2
    settings = get_settings()
    out = args.out or settings.street_index or settings.data_dir / STREET_INDEX_FILE
    streets, unmatched = build(args.extract, load_area())
    write_index(out, args.extract.name, streets)
    numbers = sum(len(s["numbers"]) for s in streets)
    print(f"{out}: {len(streets)} streets in Huế, {numbers} house numbers"
          + (f" ({unmatched} more name a street not in the extract)" if unmatched else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
