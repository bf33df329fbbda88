"""The location table of `make bench` loads, and its part runs and prints its figures."""
from __future__ import annotations

from bench.places import PLACES_TABLE, bench_places, load_table
from bot.area import load_area

KINDS = {"address", "address_older_ward", "older_name", "landmark", "pin"}


def test_the_table_has_every_kind_and_names_current_units():
    rows = load_table()
    assert len(rows) >= 80
    assert {row.kind for row in rows} == KINDS
    units = {unit.name for unit in load_area().units}
    assert {row.unit for row in rows} <= units, PLACES_TABLE


def test_the_part_prints_the_share_resolved_overall_and_per_kind():
    rows = load_table()
    few = [next(row for row in rows if row.kind == kind) for kind in sorted(KINDS)]
    figures = {}
    bench_places(lambda name, value, unit, **context: figures.update({name: (value, context["n"])}), few)
    assert set(figures) == {"places.resolved_share"} | {f"places.{kind}.resolved_share" for kind in KINDS}
    assert figures["places.resolved_share"][1] == len(KINDS)
    # A landmark and a pin in Huế land in their unit with the offline data alone.
    assert figures["places.landmark.resolved_share"][0] == 1.0
    assert figures["places.pin.resolved_share"][0] == 1.0
