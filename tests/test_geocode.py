"""Offline geocoding on the shipped data, and Nominatim through a local stand-in: no network needed."""
import asyncio
import time
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from geopy.geocoders import Nominatim

from bot.area import load_area
from bot.geocode import LANDMARKS_FILE, NOMINATIM_MIN_DELAY_S, Geocoder, parse_coordinates
from bot.settings import Settings
from tests.support.places import DA_NANG, THUAN_HOA
from tests.support.servers import free_port

LAT, LON = THUAN_HOA


@pytest.fixture(scope="module")
def geocoder():
    return Geocoder(Settings(geocoder="offline"))


def resolve(geocoder, text):
    return asyncio.run(geocoder.resolve(text))


def test_every_landmark_lies_in_its_stated_unit(geocoder):
    area = load_area()
    landmarks = yaml.safe_load(Path(LANDMARKS_FILE).read_text(encoding="utf-8"))
    assert len(landmarks) >= 10
    for item in landmarks:
        unit = area.unit_at(item["lat"], item["lon"])
        assert unit is not None and unit.name == item["unit"], item["name"]
        for alias in [item["name"], *item["aliases"]]:
            place = resolve(geocoder, alias)
            assert place.unit == unit and place.precise, alias


@pytest.mark.parametrize("text, unit", [
    ("trước chợ Đông Ba", "Phú Xuân"),
    ("Dai Noi", "Phú Xuân"),
    ("gan ga Hue", "Thuận Hóa"),
    ("đầu cầu Trường Tiền", "Thuận Hóa"),
    ("benh vien trung uong hue", "Thuận Hóa"),
    ("chùa Thiên Mụ", "Kim Long"),
    ("ben xe phia bac", "Hương An"),
    ("bến xe phía Nam", "An Cựu"),
    ("san bay Phu Bai", "Phú Bài"),
    ("bãi biển Thuận An", "Thuận An"),
    ("lang Tu Duc", "Thủy Xuân"),
    ("Đại học Huế", "Thuận Hóa"),
])
def test_landmarks(geocoder, text, unit):
    place = resolve(geocoder, text)
    assert place.unit.name == unit
    assert place.precise and place.latitude is not None
    assert place.candidates == (place.unit,)


def test_osm_named_point(geocoder):
    place = resolve(geocoder, "đèo Hải Vân")
    assert place.unit.name == "Chân Mây - Lăng Cô" and place.precise


@pytest.mark.parametrize("text, lat, lon", [
    (f"{LAT}, {LON}", LAT, LON),
    (f"{LAT} {LON}", LAT, LON),
    (f"{LON}, {LAT}", LAT, LON),
    ("https://www.google.com/maps/place/Hu%E1%BA%BF/@16.4697,107.579,17z", 16.4697, 107.579),
    ("https://maps.google.com/?q=16.4697,107.5790", 16.4697, 107.579),
])
def test_typed_coordinates(geocoder, text, lat, lon):
    assert parse_coordinates(text) == pytest.approx((lat, lon))
    place = resolve(geocoder, text)
    assert (place.latitude, place.longitude) == pytest.approx((lat, lon))
    assert place.precise and place.unit is not None


def test_typed_coordinates_outside_hue(geocoder):
    place = resolve(geocoder, f"{DA_NANG[0]}, {DA_NANG[1]}")
    assert place.unit is None and place.outside_hue


@pytest.mark.parametrize("text, unit, display", [
    ("kiet 5 Ngo Duc Ke, p. Vinh Ninh", "Thuận Hóa", "kiet 5 Ngô Đức Kế, phường Vĩnh Ninh cũ, nay là phường Thuận Hóa"),
    ("kiệt 45 Nguyễn Huệ, phường Thuận Hóa, TP Huế", "Thuận Hóa", "kiệt 45 Nguyễn Huệ, phường Thuận Hóa"),
    ("phuong vinh ninh", "Thuận Hóa", "phường Vĩnh Ninh cũ, nay là phường Thuận Hóa"),
    ("Phường Phường Đúc", "Thuận Hóa", "phường Đúc cũ, nay là phường Thuận Hóa"),
    ("123 Nguyễn Tất Thành, phường Thanh Thủy", "Thanh Thủy", "123 Nguyễn Tất Thành, phường Thanh Thủy"),
    ("thon 3, xa Phu Vinh", "Phú Vinh", "thon 3, xã Phú Vinh"),
])
def test_unit_names(geocoder, text, unit, display):
    place = resolve(geocoder, text)
    assert place.unit.name == unit and place.display == display
    assert not place.precise
    assert (place.latitude, place.longitude) == (place.unit.label_lat, place.unit.label_lon)


def test_street_alone_gives_candidate_units(geocoder):
    place = resolve(geocoder, "kiet 45 nguyen hue")
    assert place.unit is None and place.latitude is None and not place.precise
    assert "Thuận Hóa" in {u.name for u in place.candidates}
    assert place.display == "kiet 45 Nguyễn Huệ"
    place = resolve(geocoder, "Nguyễn Tất Thành")  # crosses Phú Bài, Thanh Thủy, Hương Thủy
    assert {"Phú Bài", "Thanh Thủy", "Hương Thủy"} <= {u.name for u in place.candidates}


def test_two_units_named_leaves_the_choice(geocoder):
    place = resolve(geocoder, "giữa Vỹ Dạ và Phú Xuân")
    assert place.unit is None and {u.name for u in place.candidates} == {"Vỹ Dạ", "Phú Xuân"}


@pytest.mark.parametrize("text", ["", "   ", "😀🔥", "x" * 10000, "Huế", "asdfgh", "\u0000", None, 42,
                                  "đèn " * 3000])
def test_odd_input_does_not_raise(geocoder, text):
    assert resolve(geocoder, text) is None


async def test_async_resolve(geocoder):
    place = await geocoder.resolve("cho Dong Ba")
    assert place.unit.name == "Phú Xuân"


async def test_nominatim_failure_falls_back_offline():
    # A Nominatim server that refuses connections (a local port nothing listens on: tests need no
    # network) must not change the offline answer.
    refusing = Nominatim(user_agent="hue-tests", domain=f"127.0.0.1:{free_port()}", scheme="http", timeout=2)
    geocoder = Geocoder(Settings(geocoder="nominatim"), nominatim=refusing)
    place = await geocoder.resolve("phuong Vinh Ninh")
    assert place.unit.name == "Thuận Hóa"


async def test_nominatim_is_asked_at_most_once_a_second(aiohttp_server):
    """Nominatim's usage policy, checked where it matters: the times its /search is called."""
    calls = []

    async def search(request):
        calls.append((time.monotonic(), dict(request.query)))
        return web.json_response([{"place_id": 1, "lat": str(LAT), "lon": str(LON),
                                   "display_name": "Kiệt 45 Nguyễn Huệ, Huế"}])

    app = web.Application()
    app.router.add_get("/search", search)
    server = await aiohttp_server(app)
    stand_in = Nominatim(user_agent="hue-tests", domain=f"127.0.0.1:{server.port}", scheme="http", timeout=2)
    geocoder = Geocoder(Settings(geocoder="nominatim"), nominatim=stand_in)

    first = await geocoder.resolve("kiệt 45 Nguyễn Huệ")
    second = await geocoder.resolve("kiệt 47 Nguyễn Huệ")
    assert first.unit.name == second.unit.name == "Thuận Hóa"
    assert (first.latitude, first.longitude) == THUAN_HOA
    assert len(calls) == 2
    # The limiter spaces the starts of the lookups; a few ms of loopback jitter may separate those
    # from the server's clock.
    assert calls[1][0] - calls[0][0] >= NOMINATIM_MIN_DELAY_S - 0.02
    query = calls[0][1]
    assert query["q"] == "kiệt 45 Nguyễn Huệ" and query["bounded"] == "1" and query["countrycodes"] == "vn"


def test_describe_point(geocoder):
    place = geocoder.describe_point(*THUAN_HOA)
    # No street index here: the nearest landmark within a short walk, else the unit alone.
    assert place.display == "gần Bệnh viện Trung ương Huế, phường Thuận Hóa"
    assert place.precise and place.unit.name == "Thuận Hóa"
    assert geocoder.describe_point(16.4697, 107.579).display == "gần Đại Nội (Hoàng thành Huế), phường Phú Xuân"
    assert geocoder.describe_point(16.44, 107.56).display == "phường Thủy Xuân"
    assert geocoder.describe_point(16.75, 107.19) is None  # Quảng Trị
    assert geocoder.describe_point(*DA_NANG) is None
