"""Custom actions with hand-built trackers (tests/support/trackers.py, as rasa-sdk's own tests do).

The report form's validation is driven the way Rasa drives it: the tracker holds the slots so
far, `requested_slot`, the active loop and the latest parsed message; the events the action
returns are what Rasa would apply. The submit and status actions talk to the project's REAL
routing backend (the `routing_backend` fixture: SQLite in the test's folder), or to its port
while nothing listens there yet.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker

import actions
from actions.common import REPORT_SLOTS
from actions.report_form import INTERRUPTIONS
from bot import outbox
from bot.categories import category_names
from bot.open311_client import Open311Client
from bot.settings import get_settings
from tests.support.conversation import COMPLAINT, REPORT_CODE
from tests.support.places import DA_NANG, THUAN_HOA
from tests.support.trackers import PIN_LOCATION, SENDER, make_tracker, responses, run_action

# Every action here talks to the routing backend's port (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("assistant_env")

INFERRED_LIGHTS = {"entity": "category", "value": "chieu_sang", "start": 0, "end": len(COMPLAINT),
                   "extractor": "CategoryClassifier"}
ADDRESS_KIET_45 = {"entity": "address", "value": "kiệt 45 Nguyễn Huệ", "start": 9, "end": 27,
                   "extractor": "CRFEntityExtractor"}


async def validate(tracker: Tracker):
    """Runs validate_report_form; returns (slot changes as a dict, what the bot said)."""
    events, said = await run_action(actions.ValidateReportForm(), tracker)
    assert all(e["event"] == "slot" for e in events)
    return {e["name"]: e["value"] for e in events}, said


def pin(lat_lon) -> Dict[str, Any]:
    return {"channel": "telegram", "user_id": "4242",
            "location": {"latitude": lat_lon[0], "longitude": lat_lon[1]}}


def photos(*urls) -> Dict[str, Any]:
    return {"channel": "telegram", "user_id": "4242", "photos": [{"url": u} for u in urls]}


FILLED = {"description": COMPLAINT, "category": "chieu_sang", "category_guess": "chieu_sang",
          "location": PIN_LOCATION, "duplicate": "none", "photos": ["http://127.0.0.1/media/1.jpg"],
          "photos_done": True}


# description ---------------------------------------------------------------------------------
async def test_first_message_is_kept_as_description_and_its_address_looked_up():
    # Rasa's from_entity mapping has already copied the inferred category into category_guess.
    tracker = make_tracker(COMPLAINT, "report_issue", entities=[INFERRED_LIGHTS, ADDRESS_KIET_45],
                           slots={"category_guess": "chieu_sang"})
    slots, said = await validate(tracker)
    assert slots["description"] == COMPLAINT
    # "kiệt 45 Nguyễn Huệ" runs through several wards: the citizen will get ward buttons,
    # and nothing is said yet (the category question comes first).
    assert slots.get("location") is None
    pending = slots["location_pending"]
    assert pending["query"] == "kiệt 45 Nguyễn Huệ" and "Phường Thuận Hóa" in pending["choices"]
    assert said == []


async def test_first_message_s_unit_counts_even_when_the_address_spans_leave_out_its_prefix():
    # The NLU may return "Phong Xuân" without its "xã", which alone names no unit (an older
    # commune's bare name is too generic); the whole message still has it.
    text = "Đèn đường hỏng ở 45 Nguyễn Huệ, xã Phong Xuân"
    entities = [INFERRED_LIGHTS, {"entity": "address", "value": "45 Nguyễn Huệ"},
                {"entity": "address", "value": "Phong Xuân"}]
    slots, said = await validate(make_tracker(text, "report_issue", entities=entities,
                                              slots={"category_guess": "chieu_sang"}))
    pending = slots["location_pending"]
    assert pending["unit_name"] == "Phường Phong Điền" and not pending.get("choices")
    assert pending["display"] == "45 Nguyễn Huệ, xã Phong Xuân cũ, nay là phường Phong Điền"
    assert said == []


async def test_first_message_misread_as_inform_is_still_the_description():
    # "đèn đường kiệt 45 Nguyễn Huệ hỏng" comes out of the NLU as `inform` (an address) with an
    # inferred category; it starts the report by rule and is a complaint all the same: asking
    # the citizen to describe it again would be the first thing they notice.
    text = "đèn đường kiệt 45 Nguyễn Huệ hỏng"
    tracker = make_tracker(text, "inform", entities=[{**INFERRED_LIGHTS, "end": len(text)}, ADDRESS_KIET_45],
                           slots={"category_guess": "chieu_sang"})
    slots, _ = await validate(tracker)
    assert slots["description"] == text


async def test_a_bare_address_or_a_vague_wish_is_not_a_description():
    tracker = make_tracker("kiệt 45 Nguyễn Huệ", "inform", entities=[{**ADDRESS_KIET_45, "start": 0, "end": 18}])
    slots, _ = await validate(tracker)
    assert slots.get("description") is None
    tracker = make_tracker("tôi muốn phản ánh", "report_issue")
    slots, _ = await validate(tracker)
    assert slots.get("description") is None


async def test_description_when_asked_is_taken_as_typed_but_not_a_single_word():
    slots, _ = await validate(make_tracker("  nước cống tràn vào nhà dân  ", "report_issue",
                                           requested="description"))
    assert slots["description"] == "nước cống tràn vào nhà dân"
    slots, _ = await validate(make_tracker("rác", "report_issue", requested="description"))
    assert slots["description"] is None  # asked again



def asked_twice(question: str) -> List[Dict[str, Any]]:
    """The form opened, then `question` asked twice, each time answered with something unusable."""
    return [{"event": "active_loop", "name": "report_form"},
            {"event": "action", "name": question}, {"event": "user", "text": "?"},
            {"event": "action", "name": "report_form"}, {"event": "action", "name": question}]


async def test_a_short_description_asked_for_twice_is_taken_rather_than_asked_a_third_time():
    slots, _ = await validate(make_tracker("ổ gà", "report_issue", requested="description",
                                           before=asked_twice("utter_ask_description")))
    assert slots["description"] == "ổ gà"
    # A payload is still not a description.
    slots, _ = await validate(make_tracker("/affirm", "affirm", requested="description",
                                           before=asked_twice("utter_ask_description")))
    assert slots["description"] is None


async def test_the_category_question_asked_twice_offers_the_other_category_instead_of_a_third_time():
    tracker = make_tracker("hả", "out_of_scope", slots={"description": COMPLAINT}, requested="category",
                           before=asked_twice("action_ask_category"))
    _, [question] = await run_action(actions.ActionAskCategory(), tracker)
    assert question["response"] == "utter_ask_category_other"
    assert "Khác" in [b["title"] for b in question["buttons"]]
    # Another question in between starts the count again.
    before = asked_twice("action_ask_category") + [{"event": "action", "name": "action_ask_location"},
                                                   {"event": "action", "name": "action_ask_category"}]
    tracker = make_tracker("hả", "out_of_scope", slots={"description": COMPLAINT}, requested="category", before=before)
    _, [question] = await run_action(actions.ActionAskCategory(), tracker)
    assert question["response"] == "utter_ask_category_choice"


# category ------------------------------------------------------------------------------------
async def test_category_affirmed_choose_another_or_deny():
    base = {"description": COMPLAINT, "category_guess": "chieu_sang"}
    slots, _ = await validate(make_tracker("/affirm", "affirm", slots=base, requested="category"))
    assert slots["category"] == "chieu_sang"

    chosen = {"entity": "category", "value": "giao_thong"}  # a button: no extractor
    slots, _ = await validate(make_tracker('/inform{"category":"giao_thong"}', "inform",
                                           entities=[chosen], slots=base, requested="category"))
    assert slots["category"] == "giao_thong" and slots["category_guess"] == "giao_thong"

    slots, _ = await validate(make_tracker("không phải", "deny", slots=base, requested="category"))
    # The guess is dropped so that the next question lists every category.
    assert slots["category"] is None and slots["category_guess"] is None


async def test_category_unknown_code_or_inferred_from_chatter_is_not_taken():
    base = {"description": COMPLAINT, "category_guess": "chieu_sang"}
    bogus = {"entity": "category", "value": "bia_hoi"}
    slots, _ = await validate(make_tracker('/inform{"category":"bia_hoi"}', "inform",
                                           entities=[bogus], slots=base, requested="category"))
    assert slots["category"] is None
    # A sentence typed at the category question: an inferred category is not the citizen's choice.
    inferred = {**INFERRED_LIGHTS, "value": "moi_truong"}
    slots, _ = await validate(make_tracker("mà rác cũng nhiều lắm", "report_issue",
                                           entities=[inferred], slots=base, requested="category"))
    assert slots["category"] is None


# location ------------------------------------------------------------------------------------
ASKED_LOCATION = {"description": COMPLAINT, "category": "chieu_sang", "category_guess": "chieu_sang"}


async def test_pin_inside_hue_is_the_location_with_its_ward():
    tracker = make_tracker("/share_location", "share_location", metadata=pin(THUAN_HOA),
                           slots=ASKED_LOCATION, requested="location")
    slots, said = await validate(tracker)
    location = slots["location"]
    assert (location["latitude"], location["longitude"]) == THUAN_HOA
    assert location["unit_name"] == "Phường Thuận Hóa" and location["source"] == "pin"
    assert location["display"] == "gần Bệnh viện Trung ương Huế, phường Thuận Hóa"  # never bare coordinates
    assert said == []


async def test_pin_outside_hue_is_refused_with_an_explanation():
    tracker = make_tracker("/share_location", "share_location", metadata=pin(DA_NANG),
                           slots=ASKED_LOCATION, requested="location")
    slots, said = await validate(tracker)
    assert slots["location"] is None
    assert responses(said) == ["utter_location_outside"]


async def test_pin_outside_hue_later_keeps_the_location_given_before():
    tracker = make_tracker("/share_location", "share_location", metadata=pin(DA_NANG),
                           slots=FILLED, requested="confirmed")
    slots, said = await validate(tracker)
    assert "location" not in slots or slots["location"] == PIN_LOCATION
    assert responses(said) == ["utter_location_outside"]


async def test_typed_address_is_resolved_then_confirmed():
    address = {"entity": "address", "value": "chợ Đông Ba", "start": 0, "end": 11}
    slots, said = await validate(make_tracker("chợ Đông Ba", "inform", entities=[address],
                                              slots=ASKED_LOCATION, requested="location"))
    assert slots["location"] is None  # not before the citizen says it is right
    pending = slots["location_pending"]
    assert pending["display"] == "chợ Đông Ba, phường Phú Xuân" and pending["source"] == "typed"
    assert said == []

    # The question shows what was understood with yes/no buttons.
    _, asked = await run_action(actions.ActionAskLocation(), make_tracker(
        "chợ Đông Ba", "inform", slots={**ASKED_LOCATION, "location_pending": pending}, requested="location"))
    assert asked[0]["response"] == "utter_ask_location_confirm"
    assert asked[0]["place"] == "chợ Đông Ba, phường Phú Xuân"
    assert [b["payload"] for b in asked[0]["buttons"]] == ["/affirm", "/deny"]

    slots, _ = await validate(make_tracker("/affirm", "affirm", requested="location",
                                           slots={**ASKED_LOCATION, "location_pending": pending}))
    assert slots["location"]["display"] == "chợ Đông Ba, phường Phú Xuân"
    assert slots["location_pending"] is None

    slots, _ = await validate(make_tracker("/deny", "deny", requested="location",
                                           slots={**ASKED_LOCATION, "location_pending": pending}))
    assert slots["location"] is None and slots["location_pending"] is None


async def test_unknown_address_says_so():
    slots, said = await validate(make_tracker("kiệt 7 đường Xyzabc", "inform",
                                              slots=ASKED_LOCATION, requested="location"))
    assert slots["location"] is None
    assert responses(said) == ["utter_location_not_found"]
    assert said[0]["query"] == "kiệt 7 đường Xyzabc"


async def test_typed_coordinates_outside_hue_are_refused_as_outside_not_as_unknown():
    slots, said = await validate(make_tracker(f"{DA_NANG[0]}, {DA_NANG[1]}", "inform",
                                              slots=ASKED_LOCATION, requested="location"))
    assert slots["location"] is None and slots["location_pending"] is None
    assert responses(said) == ["utter_location_outside"]


async def test_street_only_address_gets_ward_buttons_and_a_ward_click_needs_no_confirm():
    slots, _ = await validate(make_tracker("kiệt 45 Nguyễn Huệ", "inform", requested="location",
                                           entities=[{**ADDRESS_KIET_45, "start": 0, "end": 18}],
                                           slots=ASKED_LOCATION))
    pending = slots["location_pending"]
    _, asked = await run_action(actions.ActionAskLocation(), make_tracker(
        "kiệt 45 Nguyễn Huệ", "inform", slots={**ASKED_LOCATION, "location_pending": pending},
        requested="location"))
    assert asked[0]["response"] == "utter_ask_location_ward"
    assert asked[0]["custom"] == {"request_location": True}  # a pin is still welcome
    buttons = {b["title"]: b["payload"] for b in asked[0]["buttons"]}
    assert buttons["Phường Thuận Hóa"] == '/inform{"address":"Phường Thuận Hóa"}'

    # The button names the ward; the street waiting for it completes the address.
    ward = {"entity": "address", "value": "Phường Thuận Hóa"}
    slots, said = await validate(make_tracker(buttons["Phường Thuận Hóa"], "inform", entities=[ward],
                                              slots={**ASKED_LOCATION, "location_pending": pending},
                                              requested="location"))
    assert slots["location"]["unit_name"] == "Phường Thuận Hóa"
    assert slots["location"]["display"] == "kiệt 45 Nguyễn Huệ, phường Thuận Hóa"
    assert slots["location_pending"] is None
    assert said == []


async def test_ask_location_without_anything_pending_requests_a_pin():
    _, asked = await run_action(actions.ActionAskLocation(),
                                make_tracker("/affirm", "affirm", slots=ASKED_LOCATION, requested="location"))
    assert asked[0]["response"] == "utter_ask_location"
    assert asked[0]["custom"] == {"request_location": True}


# photos --------------------------------------------------------------------------------------
ASKED_PHOTOS = {**ASKED_LOCATION, "location": PIN_LOCATION}


async def test_photos_are_appended_and_limited_to_five():
    slots, said = await validate(make_tracker("/send_photo", "send_photo", metadata=photos("u1", "u2"),
                                              slots=ASKED_PHOTOS, requested="photos_done"))
    assert slots["photos"] == ["u1", "u2"]
    assert slots["photos_done"] is None  # asked again: "Đã nhận 2 ảnh..."
    assert said == []

    slots, said = await validate(make_tracker("/send_photo", "send_photo",
                                              metadata=photos("u3", "u4", "u5", "u6"),
                                              slots={**ASKED_PHOTOS, "photos": ["u1", "u2"]},
                                              requested="photos_done"))
    assert slots["photos"] == ["u1", "u2", "u3", "u4", "u5"]
    assert responses(said) == ["utter_photos_limit"]


async def test_photos_done_or_skipped_with_buttons_anything_else_asks_again():
    slots, _ = await validate(make_tracker("/affirm", "affirm", slots={**ASKED_PHOTOS, "photos": ["u1"]},
                                           requested="photos_done"))
    assert slots["photos_done"] is True
    slots, _ = await validate(make_tracker("/deny", "deny", slots=ASKED_PHOTOS, requested="photos_done"))
    assert slots["photos_done"] is True and not slots.get("photos")
    slots, _ = await validate(make_tracker("ảnh đâu nhỉ", "out_of_scope", slots=ASKED_PHOTOS,
                                           requested="photos_done"))
    assert slots["photos_done"] is None


async def test_a_photo_sent_before_the_question_is_kept_and_the_question_still_comes():
    slots, _ = await validate(make_tracker("/send_photo", "send_photo", metadata=photos("u1"),
                                           slots=ASKED_LOCATION, requested="location"))
    assert slots["photos"] == ["u1"]
    assert slots.get("photos_done") is None


async def test_a_photo_with_its_position_in_exif_offers_that_place_to_confirm():
    metadata = {"channel": "telegram", "user_id": "4242", "photos": [
        {"url": "u1", "exif_location": {"latitude": THUAN_HOA[0], "longitude": THUAN_HOA[1]}}]}
    slots, _ = await validate(make_tracker("/send_photo", "send_photo", metadata=metadata,
                                           slots=ASKED_LOCATION, requested="location"))
    pending = slots["location_pending"]
    assert pending["source"] == "exif" and pending["unit_name"] == "Phường Thuận Hóa"
    assert pending["display"] == "gần Bệnh viện Trung ương Huế, phường Thuận Hóa"  # a place, not coordinates
    assert slots["photos"] == ["u1"] and not slots.get("location")

    _, asked = await run_action(actions.ActionAskLocation(), make_tracker(
        "/send_photo", "send_photo", slots={**ASKED_LOCATION, "location_pending": pending},
        requested="location"))
    assert asked[0]["response"] == "utter_ask_location_exif"
    assert [b["payload"] for b in asked[0]["buttons"]] == ["/affirm", "/deny"]

    slots, _ = await validate(make_tracker("/affirm", "affirm", requested="location",
                                           slots={**ASKED_LOCATION, "location_pending": pending}))
    assert slots["location"]["source"] == "exif"
    assert slots["location"]["latitude"] == pytest.approx(THUAN_HOA[0])


async def test_ask_photos_offers_skip_then_done():
    _, asked = await run_action(actions.ActionAskPhotosDone(),
                                make_tracker("/affirm", "affirm", slots=ASKED_PHOTOS, requested="photos_done"))
    assert asked[0]["response"] == "utter_ask_photos_done" and asked[0]["max_photos"] == 5
    assert [b["payload"] for b in asked[0]["buttons"]] == ["/deny"]
    _, asked = await run_action(actions.ActionAskPhotosDone(), make_tracker(
        "/send_photo", "send_photo", slots={**ASKED_PHOTOS, "photos": ["u1", "u2"]}, requested="photos_done"))
    assert asked[0]["response"] == "utter_photos_received" and asked[0]["count"] == 2
    assert [b["payload"] for b in asked[0]["buttons"]] == ["/affirm"]


# summary -------------------------------------------------------------------------------------
async def test_summary_shows_the_report_with_send_fix_and_cancel_buttons():
    _, asked = await run_action(actions.ActionAskConfirmed(),
                                make_tracker("/affirm", "affirm", slots=FILLED, requested="confirmed"))
    summary = asked[0]
    assert summary["response"] == "utter_ask_confirmed"
    assert summary["category_name"] == "Chiếu sáng công cộng"
    assert summary["description"] == COMPLAINT
    assert summary["place"] == PIN_LOCATION["display"] and summary["photo_count"] == 1
    payloads = [b["payload"] for b in summary["buttons"]]
    assert payloads[0] == "/affirm" and "/cancel" in payloads


async def test_summary_affirm_confirms():
    slots, _ = await validate(make_tracker("/affirm", "affirm", slots=FILLED, requested="confirmed"))
    assert slots["confirmed"] is True


@pytest.mark.parametrize("field, cleared", [
    ("description", {"description"}),
    # Another category or place: nearby reports looked up again.
    ("category", {"category", "category_guess", "duplicate", "duplicate_offer"}),
    ("location", {"location", "location_pending", "location_tries", "duplicate", "duplicate_offer"}),
    ("photos", {"photos", "photos_done"}),
])
async def test_summary_fix_clears_only_that_field(field, cleared):
    tracker = make_tracker(f'/deny{{"field":"{field}"}}', "deny", requested="confirmed", slots=FILLED,
                           entities=[{"entity": "field", "value": field}])
    slots, _ = await validate(tracker)
    # Only that field and the confirmation are cleared: the form asks for that field alone, then
    # shows the summary again.
    assert slots == {name: None for name in cleared | {"confirmed"}}


@pytest.mark.parametrize("intent", sorted(INTERRUPTIONS))
async def test_interruptions_fill_nothing_so_the_rules_answer(intent):
    # "cháy ở kiệt 12 Phan Đình Phùng": an address and a description-like text, yet the citizen
    # is not answering the question: nothing may be taken from it.
    text = "cháy nhà ở kiệt 12 Phan Đình Phùng có người mắc kẹt"
    address = {"entity": "address", "value": "kiệt 12 Phan Đình Phùng", "start": 11, "end": 34}
    for requested in ("description", "location", "photos_done", "confirmed"):
        slots, said = await validate(make_tracker(text, intent, entities=[address], slots=ASKED_LOCATION,
                                                  requested=requested, metadata=photos("u9")))
        assert slots == {} and said == []


# category question ---------------------------------------------------------------------------
@pytest.mark.parametrize("typed, code", [
    ("không phải, cái này là giao thông", "giao_thong"),
    ("cay xanh", "cay_xanh"),
    ("thuộc trật tự đô thị", "trat_tu_do_thi"),
])
async def test_a_category_typed_by_name_is_taken(typed, code):
    slots, _ = await validate(make_tracker(typed, "deny", requested="category",
                                           slots={"description": COMPLAINT, "category_guess": "chieu_sang"}))
    assert slots["category"] == code


async def test_a_correction_that_reads_as_another_category_is_proposed_instead():
    inferred = {"entity": "category", "value": "cap_thoat_nuoc", "start": 0, "end": 30,
                "extractor": "CategoryClassifier"}
    slots, _ = await validate(make_tracker("không phải, là ống nước bị bể", "deny", entities=[inferred],
                                           requested="category",
                                           slots={"description": COMPLAINT, "category_guess": "chieu_sang"}))
    assert slots["category"] is None and slots["category_guess"] == "cap_thoat_nuoc"


async def test_a_no_that_explains_itself_is_a_no_even_when_it_reads_as_the_same_complaint():
    same = {"entity": "category", "value": "chieu_sang", "start": 0, "end": 36, "extractor": "CategoryClassifier"}
    base = {"description": COMPLAINT, "category_guess": "chieu_sang"}
    for typed in ("không phải, là đèn trang trí trên cầu", "ko phai, den trang tri tren cau", "sai rồi, đèn trang trí"):
        slots, _ = await validate(make_tracker(typed, "report_issue", entities=[same], slots=base,
                                               requested="category"))
        assert slots["category"] is None and slots["category_guess"] is None, typed
    slots, _ = await validate(make_tracker("khói đèn đường chập cháy", "report_issue", entities=[same],
                                           slots=base, requested="category"))
    assert slots.get("category_guess", "chieu_sang") == "chieu_sang", "a complaint that does not say no keeps the guess"


async def test_ask_category_proposes_the_guess_or_lists_all():
    _, asked = await run_action(actions.ActionAskCategory(), make_tracker(
        COMPLAINT, "report_issue", slots={"description": COMPLAINT, "category_guess": "chieu_sang"},
        requested="category"))
    assert asked[0]["response"] == "utter_ask_category_guess"
    assert asked[0]["category_name"] == "Chiếu sáng công cộng"
    assert asked[0]["buttons"][0]["payload"] == "/affirm"
    assert len(asked[0]["buttons"]) == len(category_names())  # confirm + every other category

    _, asked = await run_action(actions.ActionAskCategory(), make_tracker(
        "/deny", "deny", slots={"description": COMPLAINT}, requested="category"))
    assert asked[0]["response"] == "utter_ask_category_choice"
    assert [b["payload"] for b in asked[0]["buttons"]] == [
        f'/inform{{"category":"{code}"}}' for code in category_names()]


# Conversations never trap anyone --------------------------------------------------------------
# The NLU reads some buttons' words as something else ("bỏ qua" as cancel, "xong" as a status
# question): at the question that shows the button, the word means the button.
@pytest.mark.parametrize("typed, misread", [
    ("bỏ qua", "cancel"), ("Bo qua nhe", "cancel"), ("xong", "check_status"), ("Xong rồi ạ", "check_status"),
])
async def test_the_photo_buttons_typed_end_the_photos_not_the_report(typed, misread):
    for photos_so_far in ([], ["u1"]):
        slots, said = await validate(make_tracker(typed, misread, requested="photos_done",
                                                  slots={**ASKED_PHOTOS, "photos": photos_so_far}))
        assert slots["photos_done"] is True and said == []


@pytest.mark.parametrize("typed, misread, expected", [
    ("gửi", "out_of_scope", {"confirmed": True}),
    ("gui di", "nlu_fallback", {"confirmed": True}),
    ("sửa vị trí", "share_location", {"confirmed": None, "location": None, "location_pending": None,
                                      "location_tries": None, "duplicate": None, "duplicate_offer": None}),
    ("sua anh", "check_status", {"confirmed": None, "photos": None, "photos_done": None}),
    ("Sửa mô tả", "check_status", {"confirmed": None, "description": None}),
    ("sua loai", "check_status", {"confirmed": None, "category": None, "category_guess": None, "duplicate": None,
                                  "duplicate_offer": None}),
])
async def test_the_summary_buttons_typed_send_or_fix(typed, misread, expected):
    slots, _ = await validate(make_tracker(typed, misread, slots=FILLED, requested="confirmed"))
    assert slots == expected


async def test_the_location_buttons_typed_confirm_or_retype():
    pending = {"display": "chợ Đông Ba, phường Phú Xuân", "latitude": 16.47, "longitude": 107.58,
               "unit_code": "19753", "unit_name": "Phường Phú Xuân", "source": "typed"}
    asked = {**ASKED_LOCATION, "location_pending": pending}
    slots, _ = await validate(make_tracker("nhập lại", "cancel", slots=asked, requested="location"))
    assert slots["location"] is None and slots["location_pending"] is None  # asked again, not cancelled
    slots, _ = await validate(make_tracker("Dung", "nlu_fallback", slots=asked, requested="location"))
    assert slots["location"]["display"] == pending["display"]


async def test_the_category_buttons_typed_confirm_or_choose():
    base = {"description": COMPLAINT, "category_guess": "chieu_sang"}
    slots, _ = await validate(make_tracker("đúng", "nlu_fallback", slots=base, requested="category"))
    assert slots["category"] == "chieu_sang"
    slots, _ = await validate(make_tracker("giao thong, ha tang duong", "report_issue", slots=base,
                                           requested="category"))
    assert slots["category"] == "giao_thong"


@pytest.mark.parametrize("text, intent, entities", [
    ('/inform{"category":"giao_thong"}', "inform", [{"entity": "category", "value": "giao_thong"}]),
    ('/inform{"address":"Phường Thuận Hóa"}', "inform", [{"entity": "address", "value": "Phường Thuận Hóa"}]),
    ("/affirm", "affirm", []),
    ('/deny{"field":"photos"}', "deny", [{"entity": "field", "value": "photos"}]),
])
async def test_a_button_left_from_a_report_that_is_over_starts_nothing(text, intent, entities):
    # What the form sees when that button's intent starts it by rule: no question asked yet.
    events, said = await run_action(actions.ValidateReportForm(), make_tracker(
        text, intent, entities=entities, slots={"category_guess": "giao_thong"}, requested=None))
    assert responses(said) == ["utter_report_over"]
    assert [e["name"] for e in events if e["event"] == "active_loop"] == [None]  # the form ends at once
    # Nothing of it is kept for the next report (not even the category the button named).
    assert {"event": "slot", "name": "category_guess", "value": None, "timestamp": None} in events


async def test_yes_or_no_without_a_question_old_button_or_typed():
    _, said = await run_action(actions.ActionAnswerWithoutQuestion(),
                               make_tracker("/affirm", "affirm", active_loop=None))
    assert responses(said) == ["utter_report_over"]
    _, said = await run_action(actions.ActionAnswerWithoutQuestion(), make_tracker("ừ", "affirm", active_loop=None))
    assert responses(said) == ["utter_help"]


@pytest.mark.parametrize("typed", ["📍 Gửi vị trí của tôi", "gui vi tri"])
async def test_the_pin_buttons_words_typed_wait_for_the_pin_not_look_them_up(typed):
    slots, said = await validate(make_tracker(typed, "share_location", slots=ASKED_LOCATION, requested="location"))
    assert slots == {"location": None} and said == []  # asked again, with the pin keyboard; no "not found"


# An address in several pieces is read as one.
WARD_THUAN_HOA = {"entity": "address", "value": "phường Thuận Hóa", "start": 22, "end": 38}


@pytest.mark.parametrize("text, entities", [
    # Two spans in one message: the street, then the ward.
    ("kiệt 45 Nguyễn Huệ ở phường Thuận Hóa", [{**ADDRESS_KIET_45, "start": 0, "end": 18}, WARD_THUAN_HOA]),
    ("kiet 45 nguyen hue o phuong thuan hoa", [{"entity": "address", "value": "kiet 45 nguyen hue"},
                                               {"entity": "address", "value": "phuong Thuan Hoa"}]),
    # The NLU found the street only; the message names the ward all the same.
    ("kiệt 45 nguyễn huệ phường thuận hoá", [{"entity": "address", "value": "kiệt 45 Nguyễn Huệ"}]),
])
async def test_an_address_in_two_spans_is_one_address(text, entities):
    slots, said = await validate(make_tracker(text, "inform", entities=entities, slots=ASKED_LOCATION,
                                              requested="location"))
    pending = slots["location_pending"]
    assert pending["unit_name"] == "Phường Thuận Hóa" and not pending.get("choices"), pending
    assert said == [] and not slots.get("location_tries")


async def street_waiting_for_its_ward(typed="45 Nguyễn Huệ"):
    slots, _ = await validate(make_tracker(typed, "inform", entities=[{"entity": "address", "value": typed}],
                                           slots=ASKED_LOCATION, requested="location"))
    assert slots["location_pending"]["choices"]
    return {**ASKED_LOCATION, **slots}


@pytest.mark.parametrize("ward", ["phường Thuận Hóa", "phuong thuan hoa", "P. Thuận Hoá"])
async def test_a_street_then_its_ward_in_the_next_message_is_one_address(ward):
    asked = await street_waiting_for_its_ward()
    slots, said = await validate(make_tracker(ward, "inform", entities=[{"entity": "address", "value": ward}],
                                              slots=asked, requested="location"))
    # The ward typed means its button: nothing left to confirm.
    assert slots["location"]["display"] == "45 Nguyễn Huệ, phường Thuận Hóa"
    assert slots["location"]["unit_name"] == "Phường Thuận Hóa" and slots["location_pending"] is None
    assert said == []


async def test_a_new_address_after_a_street_is_read_on_its_own():
    asked = await street_waiting_for_its_ward()
    slots, _ = await validate(make_tracker("chợ Đông Ba", "inform", slots=asked, requested="location",
                                           entities=[{"entity": "address", "value": "chợ Đông Ba"}]))
    assert slots["location"] is None
    assert slots["location_pending"]["display"] == "chợ Đông Ba, phường Phú Xuân"  # to confirm


async def ask_location(slots):
    _, asked = await run_action(actions.ActionAskLocation(), make_tracker("x", "inform", slots=slots,
                                                                          requested="location"))
    return asked[0]


async def test_the_same_typed_address_never_gets_the_same_question_a_third_time():
    asked = await street_waiting_for_its_ward("kiet 45 nguyen hue")
    assert (await ask_location(asked))["response"] == "utter_ask_location_ward"
    # The same answer again: the question offers other ways (a pin, the street's wards).
    slots, _ = await validate(make_tracker("kiet 45 nguyen hue", "inform", slots=asked, requested="location",
                                           entities=[{"entity": "address", "value": "kiet 45 nguyen hue"}]))
    asked = {**asked, **slots}
    assert asked["location_tries"] == 2
    question = await ask_location(asked)
    assert question["response"] == "utter_ask_location_other"
    assert question["custom"] == {"request_location": True}
    assert "Phường Thuận Hóa" in [b["title"] for b in question["buttons"]]

    # An address nobody can find, twice: the list of every ward of Huế, and a pick needs no confirm.
    asked = dict(ASKED_LOCATION)
    for _ in range(2):
        slots, said = await validate(make_tracker("xyz abc", "out_of_scope", slots=asked, requested="location"))
        assert responses(said) == ["utter_location_not_found"]
        asked = {**asked, **slots}
    question = await ask_location(asked)
    assert question["response"] == "utter_ask_location_other"
    assert len(question["buttons"]) == 40
    pick = question["buttons"][0]
    slots, _ = await validate(make_tracker(pick["payload"], "inform", slots=asked, requested="location",
                                           entities=[{"entity": "address", "value": pick["title"]}]))
    assert slots["location"]["unit_name"] == pick["title"]


# Submitting and status against the real routing backend -------------------------------------
def outbox_entries() -> list:
    return [row["fields"] for row in outbox.pending(Path(get_settings().data_dir) / "outbox.sqlite3")]


def form(opened_at: float = 1764748800.25) -> List[Dict[str, Any]]:
    """The events of a report form opened at `opened_at` (its idempotency key follows from it)."""
    return [{"event": "active_loop", "timestamp": opened_at, "name": "report_form"},
            {"event": "active_loop", "timestamp": opened_at + 60, "name": None}]


async def submit(slots=FILLED, sender=SENDER, before=None):
    tracker = make_tracker("/affirm", "affirm", slots={**slots, "confirmed": True}, active_loop=None,
                           metadata={"channel": "telegram", "user_id": "4242"}, sender=sender,
                           before=form() if before is None else before)
    return await run_action(actions.ActionSubmitReport(), tracker)


def backend_client() -> Open311Client:
    return Open311Client.from_settings(get_settings(), retries=0)


async def test_submit_sends_the_report_and_gives_code_and_agency(routing_backend):
    await routing_backend.start()
    events, said = await submit()
    assert responses(said) == ["utter_report_sent"]
    assert said[0]["custom"] == {"report_ended": True}  # the web chat puts its map away
    code = said[0]["report_id"]
    assert REPORT_CODE.fullmatch(code)
    assert said[0]["agency"] and said[0]["agency"] != "đang phân công"
    # The finished report is forgotten, so the next complaint starts from nothing.
    assert {e["name"]: e["value"] for e in events} == {slot: None for slot in REPORT_SLOTS}

    async with backend_client() as backend:
        stored = await backend.get_request(code)
        assert stored["service_code"] == "chieu_sang"
        assert stored["description"] == COMPLAINT
        assert (stored["lat"], stored["long"]) == pytest.approx(THUAN_HOA)
        assert stored["media_urls"] == FILLED["photos"]
        assert stored["agency_responsible"] == said[0]["agency"]
        mine = await backend.list_requests(account_id=SENDER)
    assert [r["service_request_id"] for r in mine] == [code]


async def test_submit_when_nothing_listens_keeps_the_report_with_its_key(routing_backend):
    events, said = await submit()
    # The truth, not a fake code; and nothing is lost: the outbox worker sends it later.
    assert responses(said) == ["utter_report_queued"]
    assert "report_id" not in said[0]
    [kept] = outbox_entries()
    assert kept["description"] == COMPLAINT and kept["account_id"] == SENDER
    assert kept["idempotency_key"]
    assert {e["name"] for e in events} >= {"description", "location", "confirmed"}


async def test_the_same_report_confirmed_twice_is_filed_once(routing_backend):
    await routing_backend.start()
    _, said = await submit()
    # The same conversation confirms again (a second tap, or again after the Rasa server died
    # before it kept the first confirmation): the same report, not a second one.
    _, again = await submit()
    assert responses(again) == ["utter_report_sent"] and again[0]["report_id"] == said[0]["report_id"]
    # The citizen's next report is a report of its own.
    _, other = await submit(before=form() + form(1764749900.5))
    assert other[0]["report_id"] != said[0]["report_id"]
    async with backend_client() as backend:
        mine = await backend.list_requests(account_id=SENDER)
    assert len(mine) == 2


async def test_submit_refused_by_the_backend_says_why(routing_backend):
    await routing_backend.start()
    _, said = await submit({**FILLED, "category": "bia_hoi"})
    assert responses(said) == ["utter_report_rejected"]
    assert said[0]["reason"]
    assert outbox_entries() == []  # retrying a refused report cannot help


async def check_status(text: str, typed: Optional[str] = None, sender: str = SENDER):
    entities = [{"entity": "report_id", "value": typed}] if typed else []
    return await run_action(actions.ActionCheckStatus(),
                            make_tracker(text, "check_status", entities=entities, active_loop=None, sender=sender))


async def test_status_by_code_in_every_typed_form(routing_backend):
    await routing_backend.start()
    _, said = await submit()
    code, agency = said[0]["report_id"], said[0]["agency"]
    number = int(code[2:])
    for typed in (code, f"pa-{number:06d}", f"PA {number}", f"pa{number}"):
        events, said = await check_status(f"{typed} tới đâu rồi", typed)
        assert responses(said) == ["utter_status"], typed
        assert said[0]["report_id"] == code
        assert said[0]["status_text"] == "đã tiếp nhận, đang chờ phân công"
        assert said[0]["agency"] == agency
        assert said[0]["elapsed"] == "vài giây"
        # The code is not kept: the next question without a code lists the citizen's own.
        assert events == [{"event": "slot", "timestamp": None, "name": "report_id", "value": None}]


async def test_status_unknown_or_malformed_code(routing_backend):
    await routing_backend.start()
    _, said = await check_status("PA 999999 sao rồi", "PA 999999")
    assert responses(said) == ["utter_status_unknown"] and said[0]["report_id"] == "PA999999"
    _, said = await check_status("mã PA0 đâu", "PA0")
    assert responses(said) == ["utter_status_unknown"] and said[0]["report_id"] == "PA0"


async def test_status_without_code_lists_only_the_citizens_own_reports(routing_backend):
    await routing_backend.start()
    _, said = await check_status("phản ánh của tôi sao rồi")
    assert responses(said) == ["utter_status_none"]
    await submit()
    await submit({**FILLED, "description": "cột đèn nghiêng sắp đổ trước trường học"}, before=form(1764749900.5))
    await submit({**FILLED, "description": "rác ùn ứ ở chợ Đông Ba"}, sender="zalo:99")
    _, said = await check_status("phản ánh của tôi sao rồi")
    assert responses(said) == ["utter_my_reports"] and said[0]["count"] == 2
    assert "cột đèn" not in said[0]["lines"] and said[0]["lines"].count("Chiếu sáng công cộng") == 2
    _, said = await check_status("phản ánh của tôi sao rồi", sender="zalo:99")
    assert responses(said) == ["utter_status"]


async def test_status_when_the_backend_is_down_says_so():
    _, said = await check_status("PA000001 sao rồi", "PA000001")
    assert responses(said) == ["utter_backend_down"]
    _, said = await check_status("phản ánh của tôi sao rồi")
    assert responses(said) == ["utter_backend_down"]


# cancel, phone, fallback ---------------------------------------------------------------------
async def test_cancel_mid_report_forgets_it_and_cancel_outside_says_nothing_to_cancel():
    events, said = await run_action(actions.ActionCancelReport(),
                                    make_tracker("hủy", "cancel", slots=FILLED, requested="photos_done"))
    assert responses(said) == ["utter_cancelled"]
    assert said[0]["custom"] == {"report_ended": True}  # the web chat puts its map away
    assert events[0]["event"] == "active_loop" and events[0]["name"] is None
    assert {e["name"]: e["value"] for e in events[1:]} == {s: None for s in REPORT_SLOTS}
    _, said = await run_action(actions.ActionCancelReport(), make_tracker("hủy", "cancel", active_loop=None))
    assert responses(said) == ["utter_nothing_to_cancel"]


async def test_shared_contact_is_stored():
    events, said = await run_action(actions.ActionStorePhone(), make_tracker(
        "/share_contact", "share_contact", metadata={"channel": "telegram", "phone": "0905123456"}))
    assert events == [{"event": "slot", "timestamp": None, "name": "phone", "value": "0905123456"}]
    assert said[0]["phone"] == "0905123456"


async def test_a_typed_phone_number_is_stored_and_a_complaint_beside_it_asked_for_again():
    events, said = await run_action(actions.ActionStorePhone(), make_tracker(
        "sdt của em 0905.123.456 nhé", "share_contact", active_loop=None))
    assert events == [{"event": "slot", "timestamp": None, "name": "phone", "value": "0905123456"}]
    assert responses(said) == ["utter_phone_saved"]
    # The complaint in the same message is not a report yet: the citizen is asked for it.
    _, said = await run_action(actions.ActionStorePhone(), make_tracker(
        "sdt của tôi +84 905123456, đường bể hết rồi", "share_contact", active_loop=None))
    assert responses(said) == ["utter_phone_saved", "utter_describe_separately"]
    # During a report its next question follows instead.
    _, said = await run_action(actions.ActionStorePhone(), make_tracker(
        "sdt của tôi 0905123456, đường bể hết rồi", "share_contact"))
    assert responses(said) == ["utter_phone_saved"]
    # No number at all: never silence.
    events, said = await run_action(actions.ActionStorePhone(), make_tracker(
        "sdt của tôi đây", "share_contact", active_loop=None))
    assert (events, responses(said)) == ([], ["utter_ask_phone"])


def turn(text: str, intent: str, *bot_actions: str) -> List[Dict]:
    """Events of one past turn: the user's message, then the bot's actions and action_listen."""
    events = [{"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}}]
    events += [{"event": "action", "name": name} for name in bot_actions + ("action_listen",)]
    return events


async def test_fallback_rephrase_then_menu_on_the_second_miss_in_a_row():
    first = make_tracker("asdf qwer", "nlu_fallback", active_loop=None, before=turn("chào", "greet", "utter_greet"))
    _, said = await run_action(actions.ActionFallback(), first)
    assert responses(said) == ["utter_default"]

    second = make_tracker("zzz", "nlu_fallback", active_loop=None,
                          before=turn("asdf qwer", "nlu_fallback", "action_fallback"))
    _, said = await run_action(actions.ActionFallback(), second)
    assert responses(said) == ["utter_fallback_menu"]

    # A miss after an understood message starts over with a rephrase prompt.
    third = make_tracker("zzz", "nlu_fallback", active_loop=None,
                         before=turn("asdf", "nlu_fallback", "action_fallback") + turn("giúp", "help", "utter_help"))
    _, said = await run_action(actions.ActionFallback(), third)
    assert responses(said) == ["utter_default"]
