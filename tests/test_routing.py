"""Routing rules in backend/data/agencies.yml against the 40 units and the spec's categories."""
import datetime

import pytest
import yaml

from backend.directory import AGENCIES_FILE, CATEGORY_CODES, Directory, DirectoryError, load_directory
from bot.area import load_area

SPEC_NAMES = {
    "moi_truong": "Môi trường, vệ sinh",
    "giao_thong": "Giao thông, hạ tầng đường",
    "chieu_sang": "Chiếu sáng công cộng",
    "cap_thoat_nuoc": "Cấp thoát nước, ngập úng",
    "trat_tu_do_thi": "Trật tự đô thị",
    "xay_dung": "Xây dựng",
    "cay_xanh": "Cây xanh",
    "an_ninh_trat_tu": "An ninh trật tự",
    "hanh_chinh": "Dịch vụ hành chính công",
    "khac": "Khác",
}


@pytest.fixture(scope="module")
def directory():
    return load_directory()


@pytest.fixture(scope="module")
def area():
    return load_area()


def unit(area, name):
    return next(u for u in area.units if u.name == name)


def test_categories_match_the_spec(directory):
    categories = directory.categories()
    assert {c["code"]: c["name"] for c in categories} == SPEC_NAMES
    for category in categories:
        assert category["description"] and category["keywords"]


def test_every_category_and_unit_is_routed(directory, area):
    directory.validate()
    for code in CATEGORY_CODES:
        assert directory.deadline(code) > datetime.timedelta(0)
        assert directory.agency_for(code, None).name  # no unit: a city-level body
        for u in area.units:
            agency = directory.agency_for(code, u)
            assert agency.id and agency.name


def test_ward_bodies(directory, area):
    phu_xuan = unit(area, "Phú Xuân")
    assert directory.agency_for("moi_truong", phu_xuan).name == "UBND phường Phú Xuân"
    assert directory.agency_for("moi_truong", phu_xuan).contact["address"] == "394 Đinh Tiên Hoàng, phường Phú Xuân"
    assert directory.agency_for("an_ninh_trat_tu", phu_xuan).name == "Công an phường Phú Xuân"
    assert directory.agency_for("trat_tu_do_thi", unit(area, "A Lưới 2")).name == "UBND xã A Lưới 2"
    assert directory.agency_for("an_ninh_trat_tu", None).name == "Công an thành phố Huế"


def test_description_overrides(directory, area):
    thuan_hoa = unit(area, "Thuận Hóa")
    assert "HUEWACO" in directory.agency_for("cap_thoat_nuoc", thuan_hoa, "mat nuoc may 2 ngay").name
    assert "HUEWACO" in directory.agency_for("cap_thoat_nuoc", thuan_hoa, "Vỡ ống nước trước nhà").name
    flood = directory.agency_for("cap_thoat_nuoc", thuan_hoa, "Ngập sâu sau mưa, cống tắc")
    assert "HUEWACO" not in flood.name
    assert "Di tích" in directory.agency_for("moi_truong", unit(area, "Phú Xuân"), "rác trong Đại Nội").name
    alley = directory.agency_for("giao_thong", thuan_hoa, "ổ gà trong kiệt 5 Ngô Đức Kế")
    assert alley.name == "UBND phường Thuận Hóa"
    street = directory.agency_for("giao_thong", thuan_hoa, "ổ gà đường Ngô Quyền")
    assert street.id == "so_xay_dung"


@pytest.mark.parametrize("category", ["", "xyz", None])
def test_unknown_category_goes_to_operators(directory, area, category):
    assert directory.agency_for(category, unit(area, "Vỹ Dạ"), None).id == "ioc"
    assert directory.deadline(category) == directory.deadline("khac")


def _data():
    return yaml.safe_load(AGENCIES_FILE.read_text(encoding="utf-8"))


def _units(area):
    return tuple(u.code for u in area.units)


def test_missing_unit_is_named(area):
    data = _data()
    data["units"] = [u for u in data["units"] if u["code"] != "19753"]
    with pytest.raises(DirectoryError, match="19753"):
        Directory(data, _units(area))


def test_missing_category_is_named(area):
    data = _data()
    data["categories"] = [c for c in data["categories"] if c["code"] != "cay_xanh"]
    with pytest.raises(DirectoryError, match="cay_xanh"):
        Directory(data, _units(area))


def test_unknown_body_is_named(area):
    data = _data()
    data["categories"][0]["responsible"] = "so_khong_co"
    with pytest.raises(DirectoryError, match="so_khong_co"):
        Directory(data, _units(area))
