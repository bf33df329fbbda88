"""Places in a whole conversation through Rasa's REST channel, the stack using the street index of
the test OSM file (STREET_INDEX): a street, number and older ward typed with diacritics land on the
mapped house and the citizen is told the ward's new name; a pin is shown as the street beside it.
The summary and the stored report show the place, never bare coordinates."""
from __future__ import annotations

import re
from typing import Iterator

import pytest

from tests.support.conversation import REPORT_CODE, Citizen, text
from tests.support.stack import Stack, running_stack
from tools import import_osm

pytestmark = pytest.mark.slow

OSM_FILE = "tests/data/hue_streets.osm"
COORDINATES = re.compile(r"\d{2}\.\d{3,}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    index = tmp_path_factory.mktemp("streets") / "streets.json.gz"
    assert import_osm.main([OSM_FILE, "--out", str(index)]) == 0
    with running_stack(tmp_path_factory.mktemp("stack"), env={"STREET_INDEX": str(index)}) as running:
        yield running


def send(citizen: Citizen) -> str:
    replies = citizen.say("/affirm")
    code = REPORT_CODE.search(text(replies))
    assert code, replies
    return code.group(0)


def test_a_typed_street_number_and_older_ward_reach_the_house(stack):
    citizen = Citizen(stack, "typed")
    citizen.say("Đèn đường hỏng cả tuần nay")
    citizen.say("/affirm")  # the category it guessed
    said = text(citizen.say("45 Nguyễn Huệ, P.Vĩnh Ninh"))
    assert "45 Nguyễn Huệ, phường Vĩnh Ninh cũ, nay là phường Thuận Hóa" in said, said
    citizen.say("/affirm")  # the place
    summary = text(citizen.say("/deny"))  # no photo
    assert "Vị trí: 45 Nguyễn Huệ, phường Vĩnh Ninh cũ, nay là phường Thuận Hóa" in summary, summary
    assert not COORDINATES.search(summary), summary

    report = stack.report(send(citizen))
    assert (report["lat"], report["long"]) == pytest.approx((16.459, 107.5852), abs=1e-3)  # the mapped house
    assert report["address"] == "45 Nguyễn Huệ, phường Vĩnh Ninh cũ, nay là phường Thuận Hóa"


def test_the_place_in_the_first_message_is_understood_with_its_marks(stack):
    citizen = Citizen(stack, "first")
    # Another category than the report filed above, which would be offered as a nearby duplicate.
    citizen.say("Cây đổ chắn ngang đường trước nhà 45 Nguyễn Huệ, phường Vĩnh Ninh")
    said = text(citizen.say("/affirm"))  # the category it guessed
    assert "45 Nguyễn Huệ, phường Vĩnh Ninh cũ, nay là phường Thuận Hóa. Đúng không" in said, said
    citizen.say("/affirm")
    summary = text(citizen.say("/deny"))
    assert "45 Nguyễn Huệ, phường Vĩnh Ninh cũ, nay là phường Thuận Hóa" in summary, summary


def test_a_pin_is_shown_as_the_street_beside_it(stack):
    citizen = Citizen(stack, "pinned")
    citizen.say("Đèn đường hỏng cả tuần nay")
    citizen.say("/affirm")
    citizen.pin((16.4621, 107.5831))
    summary = text(citizen.say("/deny"))
    assert "gần đường Lê Lợi, phường Thuận Hóa" in summary, summary
    assert not COORDINATES.search(summary), summary

    report = stack.report(send(citizen))
    assert report["address"] == "gần đường Lê Lợi, phường Thuận Hóa"
    assert (report["lat"], report["long"]) == pytest.approx((16.4621, 107.5831))
