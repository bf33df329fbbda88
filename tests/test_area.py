"""The 40 units of Huế on the shipped data: points, names, odd input."""
import pytest

from bot.area import load_area
from bot.text import fold


@pytest.fixture(scope="module")
def area():
    return load_area()


def name_at(area, lat, lon):
    unit = area.unit_at(lat, lon)
    return unit.name if unit else None


def test_forty_units_with_committees(area):
    assert len(area.units) == 40
    assert {u.type for u in area.units} == {"Phường", "Xã"}
    assert sum(u.type == "Phường" for u in area.units) == 21
    unit = area.unit_by_code("19753")
    assert unit.committee == "UBND phường Phú Xuân"
    assert "Phường Đông Ba" in unit.older_names
    assert load_area() is area  # parsed once per process


def test_every_label_point_lies_in_its_unit(area):
    for unit in area.units:
        assert area.unit_at(unit.label_lat, unit.label_lon) == unit, unit.full_name


@pytest.mark.parametrize("lat, lon, expected", [
    (16.4697, 107.5790, "Phú Xuân"),      # Đại Nội
    (16.4725, 107.5885, "Phú Xuân"),      # chợ Đông Ba
    (16.4566, 107.5782, "Thuận Hóa"),     # ga Huế
    (16.4662, 107.5912, "Thuận Hóa"),     # cầu Trường Tiền, south end
    (16.4760, 107.6040, "Vỹ Dạ"),         # Nguyễn Sinh Cung, Vỹ Dạ
    (16.5600, 107.6410, "Thuận An"),      # Thuận An beach
    (16.4015, 107.7026, "Phú Bài"),       # Phú Bài airport
    (16.4533, 107.5447, "Kim Long"),      # chùa Thiên Mụ
    (16.2700, 107.2350, "A Lưới 2"),      # A Lưới town
    (16.2480, 108.0720, "Chân Mây - Lăng Cô"),
])
def test_known_places_land_in_their_unit(area, lat, lon, expected):
    assert name_at(area, lat, lon) == expected


@pytest.mark.parametrize("lat, lon", [(16.054, 108.202), (16.75, 107.19), (21.03, 105.85)])
def test_points_outside_hue(area, lat, lon):
    assert area.unit_at(lat, lon) is None
    assert not area.contains(lat, lon)


def test_point_just_off_the_coast_goes_to_the_nearest_unit(area):
    # A few hundred metres into the sea off Thuận An: a pin on the beach or a boat still counts.
    assert name_at(area, 16.5700, 107.6480) == "Thuận An"
    assert name_at(area, 16.60, 107.75) is None  # ~10 km out at sea


@pytest.mark.parametrize("lat, lon", [(None, None), ("abc", 1), (float("nan"), 107.5), (float("inf"), 0)])
def test_bad_coordinates_are_outside(area, lat, lon):
    assert area.unit_at(lat, lon) is None


def test_bbox_holds_the_city(area):
    box = area.bbox
    assert box.south < 16.4637 < box.north and box.west < 107.5909 < box.east


@pytest.mark.parametrize("text, expected", [
    ("kiet 5 Ngo Duc Ke, p. Vinh Ninh", ["Thuận Hóa"]),
    ("phuong Vinh Ninh", ["Thuận Hóa"]),
    ("Phường Phường Đúc", ["Thuận Hóa"]),
    ("phường Đúc", ["Thuận Hóa"]),
    ("p.Thuỷ Biều", ["Thủy Xuân"]),
    ("P Thủy Biều", ["Thủy Xuân"]),
    ("phuong thuy xuan", ["Thủy Xuân"]),
    ("Vĩ Dạ", ["Vỹ Dạ"]),
    ("gần chợ Đông Ba", ["Phú Xuân"]),
    ("xa Phu Vang", ["Phú Vang"]),
    ("tt Sịa", ["Quảng Điền"]),
    ("thị trấn A Lưới", ["A Lưới 2"]),
    ("aluoi 3", ["A Lưới 3"]),
    ("chan may-lang co", ["Chân Mây - Lăng Cô"]),
    ("phường Phong Phú", ["Phong Phú"]),
    # An older commune name shared with a current ward is told apart by its prefix.
    ("xã Phú Xuân", ["Phú Hồ"]),
    ("phường Hương Xuân", ["Kim Trà"]),
    ("xã Hương Xuân", ["Nam Đông"]),
    ("rác ở Vỹ Dạ và An Cựu", ["Vỹ Dạ", "An Cựu"]),
])
def test_units_named_in(area, text, expected):
    assert [u.name for u in area.units_named_in(text)] == expected


@pytest.mark.parametrize("text", [
    "dịch vụ phong phú quá",          # "phong phú" = plentiful
    "đường nó hỏng lâu rồi",          # folds to "duong no"
    "đường Kim Long bị ngập",         # the street, not necessarily the ward
    "45 Kim Long",
    "huyện Phú Lộc",                  # the old district, several units today
    "Sịa",                            # one syllable: only with a prefix
    "hàng xóm không thuận hòa",
    "", "   ", "😀😀", "x" * 10000, "\u0000\ufffd",
])
def test_no_false_hits(area, text):
    assert area.units_named_in(text) == []


def test_non_text_is_harmless(area):
    assert area.units_named_in(None) == []
    assert area.units_named_in(123) == []


def test_fold():
    assert fold("  Phường  Thuỷ Xuân, ĐẠI NỘI ") == "phuong thuy xuan, dai noi"
    assert fold("Thủy") == fold("Thuỷ") == "thuy"
    assert fold("Hoá") == fold("Hóa") == "hoa"
    assert fold("đường Đống Đa") == "duong dong da"
    decomposed = "Thu\u0309y Xua\u0302n"  # combining marks, as some keyboards send them
    assert fold(decomposed) == "thuy xuan"
    assert fold("") == ""
