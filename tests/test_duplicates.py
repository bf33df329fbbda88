"""The duplicate offer (bot/duplicates.py) and the report form around it, with hand-built trackers
against the project's routing backend (tests/conftest.py's `routing_backend`): once category and
place are known, open reports of that category nearby are offered; the citizen follows one (the
form ends and nothing new is filed) or sends theirs anyway, by button or typed words; a server
without the query simply offers nothing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

import actions
from actions.common import REPORT_SLOTS
from bot import duplicates, followed
from bot.settings import get_settings
from tests.support.conversation import COMPLAINT
from tests.support.lifecycle import backend_client, change_state, file_report
from tests.support.places import THUAN_HOA
from tests.support.trackers import DOMAIN, PIN_LOCATION, SENDER, make_tracker, responses, run_action

pytestmark = pytest.mark.usefixtures("assistant_env")

NEIGHBOUR = "zalo:777"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
# What the form knows when the place is confirmed: the complaint (no danger in it), its category.
PLACED = {"description": COMPLAINT, "danger_now": False, "category": "chieu_sang", "category_guess": "chieu_sang"}


def nearby_item(code, lat_lon=THUAN_HOA, state="in_progress", days=3, status="open"):
    requested = (NOW - timedelta(days=days)).astimezone(timezone(timedelta(hours=7))).isoformat()
    return {"service_request_id": code, "lat": lat_lon[0], "long": lat_lon[1], "state": state, "status": status,
            "requested_datetime": requested}


def test_offered_nearest_first_open_and_within_the_radius_at_most_five():
    items = [nearby_item("PA000009", (THUAN_HOA[0] + 0.001, THUAN_HOA[1]))]  # ~110 m
    items += [nearby_item("PA000001", days=3), nearby_item("PA000002", status="closed", state="resolved")]
    items += [nearby_item("PA000003", (THUAN_HOA[0] + 0.01, THUAN_HOA[1]))]  # ~1.1 km: a server ignoring radius
    items += [{"service_request_id": "PA000004", "status": "open"}]  # nowhere: cannot be "near"
    items += [nearby_item(f"PA00010{i}", days=i) for i in range(6)]
    offer = duplicates.offered(items, *THUAN_HOA, 250, NOW)
    assert len(offer) == duplicates.MAX_OFFERED
    assert offer[0] == {"code": "PA000001", "line": "PA000001 · đang xử lý · 3 ngày trước"}
    codes = [entry["code"] for entry in offer]
    assert not {"PA000002", "PA000003", "PA000004"} & set(codes)
    assert duplicates.offered(items[:1], *THUAN_HOA, 250, NOW)[0]["code"] == "PA000009"


def test_the_radius_depends_on_the_category():
    assert duplicates.radius_m("chieu_sang") == 250
    assert duplicates.radius_m("cap_thoat_nuoc") == 500
    assert duplicates.radius_m("not_a_category") == 250


OFFER = [{"code": "PA000012", "line": "PA000012 · đang xử lý · 3 ngày trước"},
         {"code": "PA000015", "line": "PA000015 · đã tiếp nhận, đang chờ phân công · 2 giờ trước"}]


@pytest.mark.parametrize("typed, offer, expected", [
    ("PA000012", OFFER, '/inform{"report_id":"PA000012"}'),
    ("theo dõi pa 15", OFFER, '/inform{"report_id":"PA000015"}'),
    ("Theo doi PA-000012 nhe", OFFER, '/inform{"report_id":"PA000012"}'),
    ("gửi mới", OFFER, "/affirm"),
    ("gui moi", OFFER, "/affirm"),
    ("không, vẫn gửi phản ánh mới", OFFER, "/affirm"),
    ("theo dõi", OFFER[:1], '/inform{"report_id":"PA000012"}'),
    ("theo doi", OFFER, None),  # which one? asked again
    ("PA000099", OFFER, None),  # not one of those offered
    ("đèn vẫn tắt", OFFER, None),
])
def test_typed_answers_to_the_offer(typed, offer, expected):
    assert duplicates.typed_choice(typed, offer) == expected


async def validate(tracker):
    events, said = await run_action(actions.ValidateReportForm(), tracker)
    return {e["name"]: e["value"] for e in events}, said


def confirming_the_place(**slots):
    """The citizen confirms a typed place: the message that makes category and place known."""
    pending = {**PIN_LOCATION, "source": "typed"}
    return make_tracker("đúng rồi", "affirm", requested="location",
                        slots={**PLACED, "location_pending": pending, **slots})


async def test_an_open_report_nearby_is_offered_once_the_place_is_known(routing_backend):
    await routing_backend.start()
    code = await file_report(NEIGHBOUR)  # street light in Thuận Hóa, the same spot
    await change_state(code, "in_progress", "Đội điện đang kiểm tra")
    slots, _ = await validate(confirming_the_place())
    assert slots["location"]["latitude"] == PIN_LOCATION["latitude"]
    [entry] = slots["duplicate_offer"]
    assert entry["code"] == code and "đang xử lý" in entry["line"] and "trước" in entry["line"]
    assert slots.get("requested_slot", "duplicate") == "duplicate"

    asked = make_tracker("", "affirm", slots={**PLACED, "location": PIN_LOCATION, "duplicate_offer": [entry]})
    _, said = await run_action(actions.ActionAskDuplicate(), asked)
    assert responses(said) == ["utter_ask_duplicate"]
    assert code in said[0]["offer"]
    assert [b["title"] for b in said[0]["buttons"]] == [f"👁️ Theo dõi {code}", duplicates.NEW_BUTTON]
    text = DOMAIN["responses"]["utter_ask_duplicate"][0]["text"]
    assert "theo dõi" in text and "gửi phản ánh mới" in text


async def test_another_category_or_nothing_near_asks_nothing(routing_backend):
    await routing_backend.start()
    await file_report(NEIGHBOUR)  # a street light
    slots, _ = await validate(confirming_the_place(category="moi_truong", category_guess="moi_truong"))
    assert slots["duplicate"] == duplicates.NOTHING_NEAR and not slots.get("duplicate_offer")


async def test_a_server_without_the_query_offers_nothing(routing_backend):
    # Nothing listens at BACKEND_URL (or another server answers 400/404): no offer, no delay.
    slots, said = await validate(confirming_the_place())
    assert slots["duplicate"] == duplicates.NOTHING_NEAR
    assert said == []


def at_the_offer(text, intent, entities=()):
    entry = {"code": "PA000001", "line": "PA000001 · đang xử lý · 3 ngày trước"}
    return make_tracker(text, intent, requested="duplicate", entities=entities,
                        slots={**PLACED, "location": PIN_LOCATION, "duplicate_offer": [entry]})


@pytest.mark.parametrize("text, intent, entities", [
    ('/inform{"report_id":"PA000001"}', "inform", [{"entity": "report_id", "value": "PA000001"}]),
    ("PA000001", "check_status", [{"entity": "report_id", "value": "PA000001"}]),  # not a status question here
    ("theo doi", "nlu_fallback", []),
])
async def test_following_ends_the_form_before_photos_and_summary(text, intent, entities):
    slots, _ = await validate(at_the_offer(text, intent, entities))
    assert slots["duplicate"] == "PA000001"
    assert slots["requested_slot"] is None  # the form ends: the report is not sent


@pytest.mark.parametrize("text, intent", [("/affirm", "affirm"), ("không phải", "deny"), ("gửi mới", "nlu_fallback"),
                                          ("gui moi", "greet")])
async def test_sending_anyway_goes_on_to_the_photos(text, intent):
    slots, _ = await validate(at_the_offer(text, intent))
    assert slots["duplicate"] == duplicates.NEW
    assert slots.get("requested_slot", "photos_done") == "photos_done"  # the form goes on to the photos


async def test_following_is_counted_and_the_citizen_will_hear_of_it(routing_backend):
    await routing_backend.start()
    code = await file_report(NEIGHBOUR)
    tracker = make_tracker(f'/inform{{"report_id":"{code}"}}', "inform", active_loop=None,
                           metadata={"channel": "telegram", "user_id": "4242"},
                           slots={**PLACED, "location": PIN_LOCATION, "duplicate": code})
    events, said = await run_action(actions.ActionSubmitReport(), tracker)
    assert responses(said) == ["utter_report_followed"] and said[0]["report_id"] == code
    assert {e["name"]: e["value"] for e in events} == {slot: None for slot in REPORT_SLOTS}
    async with backend_client() as backend:
        stored = await backend.get_request(code)
        mine = await backend.list_requests(account_id=SENDER)
    assert stored["followers"] == 1
    assert mine == []  # nothing filed in this citizen's name
    told = followed.everyone([code], get_settings().data_dir / "followed.sqlite3")[code]
    assert [(c.sender_id, c.filer) for c in told] == [(SENDER, False)]
