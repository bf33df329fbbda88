"""The street index built from a small OSM file made for the tests (tests/data/hue_streets.osm: Lê
Lợi through Thuận Hóa and Vỹ Dạ, Hùng Vương through Thuận Hóa and An Cựu with house numbers 10 and
50, "Đường Nguyễn Huệ" with a building numbered 45, Chi Lăng, and things that are not Huế's
streets), and the geocoding that uses it: street and number to a point on the street, a street
narrowed to the unit named (older names as people type them), pins shown as places."""
from __future__ import annotations

import asyncio
from pathlib import Path

import osmium
import pytest

from bot.area import distance_km, load_area
from bot.geocode import Geocoder
from bot.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from bot.streets import load_street_index
from tools import import_osm

OSM_FILE = PROJECT_ROOT / "tests" / "data" / "hue_streets.osm"
NGUYEN_HUE_45 = (16.459, 107.5852)  # the building's middle
HUNG_VUONG_10, HUNG_VUONG_50 = (16.4640, 107.5926), (16.4558, 107.6002)


@pytest.fixture(scope="module")
def index_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("streets") / "streets.json.gz"
    assert import_osm.main([str(OSM_FILE), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def geocoder(index_file) -> Geocoder:
    return Geocoder(Settings(geocoder="offline", street_index=index_file))


def resolve(geocoder: Geocoder, text: str):
    return asyncio.run(geocoder.resolve(text))


def names(units) -> set:
    return {u.name for u in units}


# The import ------------------------------------------------------------------------------------
def test_the_import_keeps_huế_s_named_streets_with_the_units_they_cross(index_file, capsys):
    index = load_street_index(index_file)
    assert set(index.streets) == {"le loi", "hung vuong", "nguyen hue", "chi lang"}  # no river, no Đà Nẵng
    assert names(index.streets["le loi"].units) == {"Thuận Hóa", "Vỹ Dạ"}
    assert names(index.streets["hung vuong"].units) == {"Thuận Hóa", "An Cựu"}
    assert names(index.streets["nguyen hue"].units) == {"Thuận Hóa"}
    assert len(index.streets["le loi"].lines) == 2  # both ways of the street
    assert index.streets["hung vuong"].numbers == {"10": HUNG_VUONG_10, "50": HUNG_VUONG_50}
    assert index.streets["nguyen hue"].numbers["45"] == pytest.approx(NGUYEN_HUE_45, abs=1e-4)


def test_a_pbf_extract_imports_the_same(index_file, tmp_path):
    pbf = tmp_path / "hue.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(OSM_FILE)):
            writer.add(obj)
    out = tmp_path / "from_pbf.json.gz"
    assert import_osm.main([str(pbf), "--out", str(out)]) == 0
    assert load_street_index(out).streets.keys() == load_street_index(index_file).streets.keys()


def test_the_import_writes_where_the_assistant_looks_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    from bot.settings import get_settings
    get_settings.cache_clear()
    assert import_osm.main([str(OSM_FILE)]) == 0
    assert (tmp_path / "streets.json.gz").is_file()
    assert "4 streets in Huế, 3 house numbers (1 more name a street not in the extract)" in capsys.readouterr().out
    assert import_osm.main([str(tmp_path / "missing.osm.pbf")]) == 2


def test_street_index_setting(tmp_path, index_file):
    assert load_settings({"DATA_DIR": str(tmp_path)}).street_index == tmp_path / "streets.json.gz"
    assert load_settings({"STREET_INDEX": str(index_file)}).street_index == index_file
    with pytest.raises(SettingsError, match="STREET_INDEX"):
        load_settings({"STREET_INDEX": str(tmp_path / "nothing.json.gz")})


# Street and number to a point ------------------------------------------------------------------
@pytest.mark.parametrize("text", ["45 Nguyễn Huệ", "45 nguyen hue", "số 45 đường Nguyễn Huệ", "45, Nguyen Hue, Hue"])
def test_a_mapped_house_number_is_its_own_point(geocoder, text):
    place = resolve(geocoder, text)
    assert (place.latitude, place.longitude) == pytest.approx(NGUYEN_HUE_45, abs=1e-4)
    assert place.unit.name == "Thuận Hóa" and place.precise
    assert place.display.endswith("Nguyễn Huệ, phường Thuận Hóa")


def test_a_number_between_mapped_ones_lies_on_the_street_between_them(geocoder):
    place = resolve(geocoder, "30 Hùng Vương")
    point = (place.latitude, place.longitude)
    # Halfway between 10 and 50, on the street, not at either end nor at a ward's centre.
    assert distance_km(point, HUNG_VUONG_10) == pytest.approx(distance_km(point, HUNG_VUONG_50), rel=0.2)
    assert distance_km(point, HUNG_VUONG_10) > 0.3
    assert place.unit.name == "Thuận Hóa" and not place.precise
    assert place.display == "30 Hùng Vương, phường Thuận Hóa"


def test_a_street_in_one_unit_without_a_number_is_its_middle(geocoder):
    place = resolve(geocoder, "Nguyễn Huệ")
    assert place.unit.name == "Thuận Hóa" and place.latitude is not None
    assert (place.latitude, place.longitude) != (place.unit.label_lat, place.unit.label_lon)
    point, ends = (place.latitude, place.longitude), ((16.4617, 107.5812), (16.4550, 107.5920))
    assert distance_km(point, ends[0]) == pytest.approx(distance_km(point, ends[1]), rel=0.05)


def test_a_street_through_two_units_asks_only_those(geocoder):
    place = resolve(geocoder, "20 Lê Lợi")  # no number mapped on Lê Lợi
    assert place.unit is None and place.latitude is None
    assert names(place.candidates) == {"Thuận Hóa", "Vỹ Dạ"}  # not the old district's seven wards


def test_a_street_narrowed_to_the_unit_named_is_its_segment_there(geocoder):
    place = resolve(geocoder, "Hùng Vương, phường An Cựu")
    assert place.unit.name == "An Cựu"
    assert load_area().unit_at(place.latitude, place.longitude).name == "An Cựu"
    assert (place.latitude, place.longitude) != (place.unit.label_lat, place.unit.label_lon)
    assert place.display == "Hùng Vương, phường An Cựu"


# Older units as people type them ---------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "Lê Lợi, phường Vĩnh Ninh", "Le Loi, phuong Vinh Ninh", "Lê Lợi P.Vĩnh Ninh", "le loi p.vinh ninh",
    "Lê Lợi, P Vĩnh Ninh", "Lê Lợi p. Vĩnh Ninh", "Lê Lợi phuong Vĩnh Ninh", "LÊ LỢI, PHƯỜNG VĨNH NINH, TP HUẾ",
])
def test_an_older_ward_narrows_the_street_and_names_the_new_unit(geocoder, text):
    place = resolve(geocoder, text)
    assert place.unit.name == "Thuận Hóa"
    assert load_area().unit_at(place.latitude, place.longitude).name == "Thuận Hóa"  # on Lê Lợi, not Vỹ Dạ
    assert place.display.endswith("phường Vĩnh Ninh cũ, nay là phường Thuận Hóa")


@pytest.mark.parametrize("text", ["phường Vĩnh Ninh", "P.Vinh Ninh", "vinh ninh"])
def test_an_older_ward_alone_is_told_with_its_new_name(geocoder, text):
    place = resolve(geocoder, text)
    assert place.display == "phường Vĩnh Ninh cũ, nay là phường Thuận Hóa"


def test_marks_tell_an_older_ward_from_a_current_unit_that_folds_alike(geocoder):
    # "Thuận Hòa" (now in Phú Xuân) and "Thuận Hóa" differ only by their tone mark.
    place = resolve(geocoder, "kiệt 3 Đinh Tiên Hoàng, phường Thuận Hòa")
    assert place.unit.name == "Phú Xuân"
    assert place.display == "kiệt 3 Đinh Tiên Hoàng, phường Thuận Hòa cũ, nay là phường Phú Xuân"
    assert resolve(geocoder, "kiệt 3 Đinh Tiên Hoàng, P.Thuận Hoá").unit.name == "Thuận Hóa"
    assert resolve(geocoder, "kiet 3 Dinh Tien Hoang, phuong Thuan Hoa").unit.name == "Thuận Hóa"  # the current one


def test_a_current_unit_is_not_called_older(geocoder):
    assert resolve(geocoder, "Lê Lợi, phường Thuận Hóa").display == "Lê Lợi, phường Thuận Hóa"


def test_without_an_index_a_street_still_asks_for_the_unit():
    place = resolve(Geocoder(Settings(geocoder="offline")), "45 Nguyễn Huệ")
    assert place.unit is None and place.latitude is None and "Thuận Hóa" in names(place.candidates)


# Pins as places --------------------------------------------------------------------------------
def test_a_pin_beside_a_street_is_shown_by_the_street_and_its_unit(geocoder):
    assert geocoder.describe_point(16.4621, 107.5831).display == "gần đường Lê Lợi, phường Thuận Hóa"
    # A street mapped as "Đường Nguyễn Huệ" reads the same way.
    assert geocoder.describe_point(16.4581, 107.5871).display == "gần đường Nguyễn Huệ, phường Thuận Hóa"


def test_a_pin_away_from_streets_is_shown_by_a_landmark_or_its_unit(geocoder):
    assert geocoder.describe_point(16.4697, 107.579).display == "gần Đại Nội (Hoàng thành Huế), phường Phú Xuân"
    assert geocoder.describe_point(16.44, 107.56).display == "phường Thủy Xuân"


def test_typed_coordinates_are_shown_as_a_place(geocoder):
    place = resolve(geocoder, "16.4621, 107.5831")
    assert place.display == "gần đường Lê Lợi, phường Thuận Hóa" and place.precise
