"""Reports reach the agency that must act, from a pin or from a ward named in the address."""
import pytest

from tests.support.open311 import create, show
from tests.support.places import PHU_XUAN


async def _created(client, **fields):
    response = await create(client, **fields)
    assert response.status == 201, await response.text()
    return await show(client, (await response.json())[0]["service_request_id"])


@pytest.mark.parametrize(
    "lat, long, ward",
    [
        (*PHU_XUAN, "Phường Phú Xuân"),  # inside the Citadel
        (16.4556, 107.584, "Phường Thuận Hóa"),  # by the committee at 2 Lê Hồng Phong
        (16.4779, 107.611, "Phường Vỹ Dạ"),
    ],
)
async def test_a_pin_is_routed_to_its_ward_committee(client, lat, long, ward):
    report = await _created(client, lat=str(lat), long=str(long), service_code="moi_truong")
    assert report["ward"] == ward
    assert report["agency_responsible"] == "UBND " + ward[0].lower() + ward[1:]


async def test_security_goes_to_the_ward_police(client):
    report = await _created(
        client, lat=str(PHU_XUAN[0]), long=str(PHU_XUAN[1]), service_code="an_ninh_trat_tu",
        description="Hát karaoke ồn ào sau 23 giờ",
    )
    assert report["agency_responsible"].startswith("Công an")
    assert "Phú Xuân" in report["agency_responsible"]


@pytest.mark.parametrize(
    "address, ward",
    [
        ("kiệt 12 Lê Lợi, phường Vĩnh Ninh", "Phường Thuận Hóa"),  # older ward, merged in 2025
        ("gần chợ Đông Ba, phuong Gia Hoi", "Phường Phú Xuân"),  # older name without diacritics
        ("UBND phường Kim Long", "Phường Kim Long"),
    ],
)
async def test_an_address_naming_a_ward_current_or_older(client, address, ward):
    report = await _created(client, address_string=address)
    assert report["ward"] == ward
    assert report["address"] == address
    assert report["lat"] is None and report["long"] is None


async def test_the_pin_wins_over_the_address(client):
    report = await _created(
        client, lat=str(PHU_XUAN[0]), long=str(PHU_XUAN[1]), address_string="phường Kim Long"
    )
    assert report["ward"] == "Phường Phú Xuân"


async def test_an_address_naming_two_wards_is_ambiguous(client):
    response = await create(client, address_string="giữa phường Kim Long và phường Vỹ Dạ")
    assert response.status == 400
    assert "Phường Kim Long" in (await response.json())[0]["description"]
