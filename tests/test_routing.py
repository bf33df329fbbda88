"""Routing rules in backend/data/agencies.yml against the 40 units and the spec's categories
(bot/data/categories.yml)."""

import pytest
import yaml

from backend.directory import AGENCIES_FILE, Directory, DirectoryError, load_directory
from bot.area import load_area
from bot.categories import CATEGORIES_FILE, CategoriesError, load_categories

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


def test_categories_match_the_spec():
    # The spec's table, in the order citizens see the categories; every other test reads the
    # codes from bot/categories.py.
    assert [(c.code, c.name) for c in load_categories()] == list(SPEC_NAMES.items())


def test_a_broken_category_table_is_named(tmp_path):
    data = yaml.safe_load(CATEGORIES_FILE.read_text(encoding="utf-8"))
    broken = {
        "no catch-all category khac": [c for c in data if c["code"] != "khac"],
        "moi_truong": data + [data[0]],
        "moi_truong has no name": [{**data[0], "name": ""}, *data[1:]],
    }
    for number, (message, table) in enumerate(broken.items()):
        path = tmp_path / f"categories{number}.yml"  # load_categories is cached by path
        path.write_text(yaml.safe_dump(table, allow_unicode=True), encoding="utf-8")
        with pytest.raises(CategoriesError, match=message):
            load_categories(path)


UNIT_BODIES = ("ubnd_", "ca_")  # the ids of a unit's People's Committee and police: prefix + unit code


def test_a_report_goes_to_its_own_units_bodies_or_to_a_city_body(directory, area):
    for category in load_categories():
        # No unit (a place outside every unit): a city-level body.
        assert not directory.agency_for(category.code, None).id.startswith(UNIT_BODIES), category.code
        for u in area.units:
            agency = directory.agency_for(category.code, u)
            if agency.id.startswith(UNIT_BODIES):
                # Never another ward's committee or police.
                assert agency.id.split("_", 1)[1] == u.code and u.name in agency.name, (category.code, u.name)


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


def _directory(data, area):
    return Directory(data, tuple(u.code for u in area.units), load_categories())


def test_missing_unit_is_named(area):
    data = _data()
    data["units"] = [u for u in data["units"] if u["code"] != "19753"]
    with pytest.raises(DirectoryError, match="19753"):
        _directory(data, area)


def test_missing_category_is_named(area):
    data = _data()
    data["categories"] = [c for c in data["categories"] if c["code"] != "cay_xanh"]
    with pytest.raises(DirectoryError, match="cay_xanh"):
        _directory(data, area)


def test_a_rule_for_a_category_not_in_the_table_is_named(area):
    data = _data()
    data["categories"].append({"code": "bia_hoi", "responsible": "ioc", "deadline_days": 1})
    with pytest.raises(DirectoryError, match="bia_hoi"):
        _directory(data, area)


def test_a_category_name_in_the_rules_is_refused_not_silently_ignored(area):
    data = _data()
    data["categories"][0]["name"] = "Môi trường"
    with pytest.raises(DirectoryError, match="moi_truong has unknown keys"):
        _directory(data, area)


def test_unknown_body_is_named(area):
    data = _data()
    data["categories"][0]["responsible"] = "so_khong_co"
    with pytest.raises(DirectoryError, match="so_khong_co"):
        _directory(data, area)
