"""bot/report.py (what the summary, the status answer and the Open311 request contain) and
bot/outbox.py (a confirmed report survives a backend outage)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from bot import outbox, report
from bot.categories import category_names
from bot.open311_client import BackendRejected, BackendUnavailable
from tests.support.conversation import COMPLAINT
from tests.support.places import THUAN_HOA
from tests.support.trackers import PIN_LOCATION

# The categories as the bundled backend's services.json gives them; another server's are below.
NAMES = category_names()

SLOTS = {
    "description": COMPLAINT,
    "category": "chieu_sang",
    "location": PIN_LOCATION,
    "photos": ["http://127.0.0.1:8000/media/a.jpg", "http://127.0.0.1:8000/media/b.jpg"],
    "photos_done": True,
    "confirmed": True,
    "phone": None,
}


# elapsed_vi: "time since sending" in the status answer -------------------------------------
@pytest.mark.parametrize("delta, said", [
    (timedelta(seconds=5), "vài giây"),
    (timedelta(minutes=1), "1 phút"),
    (timedelta(minutes=59, seconds=59), "59 phút"),
    (timedelta(hours=1), "1 giờ"),
    (timedelta(hours=47), "47 giờ"),  # "1 ngày" would hide that it is almost two
    (timedelta(days=2), "2 ngày"),
    (timedelta(days=10, hours=23), "10 ngày"),
    (timedelta(seconds=-30), "vài giây"),  # clocks of two machines disagree a little
])
def test_elapsed_is_said_in_vietnamese_units(delta, said):
    assert report.elapsed_vi(delta) == said


# status_params: what the citizen reads about a report ----------------------------------------
def backend_request(**overrides):
    request = {
        "service_request_id": "PA000123", "service_code": "chieu_sang", "status": "open",
        "state": "received", "status_notes": "", "agency_responsible": "UBND phường Thuận Hóa",
        "requested_datetime": "2025-08-01T01:30:00Z",
    }
    return {**request, **overrides}


def test_status_gives_code_category_agency_and_time_in_hue():
    now = datetime(2025, 8, 2, 3, 30, tzinfo=timezone.utc)
    params = report.status_params(backend_request(), NAMES, now=now)
    assert params["report_id"] == "PA000123"
    assert params["category_name"] == "Chiếu sáng công cộng"
    assert params["agency"] == "UBND phường Thuận Hóa"
    assert params["status_text"] == "đã tiếp nhận, đang chờ phân công"
    # 01:30 UTC is 08:30 in Huế (UTC+7): the citizen sees local time.
    assert params["requested"] == "08:30 01/08/2025"
    assert params["elapsed"] == "26 giờ"
    assert params["notes"] == ""


@pytest.mark.parametrize("fields, text", [
    ({"state": "in_progress"}, "đang xử lý"),
    ({"state": "resolved", "status": "closed"}, "đã xử lý xong"),
    ({"state": "rejected", "status": "closed"}, "đã đóng, không xử lý"),
    # Another Open311 server knows only the standard status.
    ({"state": None, "status": "closed"}, "đã đóng"),
    ({"state": None, "status": "open"}, "đang xử lý"),
])
def test_status_text_follows_state_then_open311_status(fields, text):
    assert report.status_params(backend_request(**fields), NAMES)["status_text"] == text


def test_status_notes_and_missing_fields():
    params = report.status_params(backend_request(
        status_notes="  Đã thay bóng đèn.  ", agency_responsible=None, requested_datetime=None,
        service_code="not_a_code"), NAMES)
    assert params["notes"] == "\nGhi chú: Đã thay bóng đèn."
    assert params["agency"] == "đang phân công"
    assert params["requested"] == params["elapsed"] == "?"
    assert params["category_name"] == "Chưa rõ"


def test_status_accepts_timestamps_with_offset_or_without_zone():
    now = datetime(2025, 8, 1, 2, 0, tzinfo=timezone.utc)
    with_offset = report.status_params(backend_request(requested_datetime="2025-08-01T08:30:00+07:00"), NAMES, now=now)
    naive = report.status_params(backend_request(requested_datetime="2025-08-01T01:30:00"), NAMES, now=now)
    assert with_offset["elapsed"] == naive["elapsed"] == "30 phút"
    garbage = report.status_params(backend_request(requested_datetime="hôm qua"), NAMES, now=now)
    assert garbage["elapsed"] == "?"


# request_fields: the Open311 request built from the confirmed report ---------------------------
def test_request_fields_carry_everything_the_agency_needs():
    fields = report.request_fields(SLOTS, "telegram:42", "telegram")
    assert fields["service_code"] == "chieu_sang"
    assert fields["description"] == SLOTS["description"]
    assert (fields["lat"], fields["long"]) == THUAN_HOA
    assert fields["media_urls"] == tuple(SLOTS["photos"])
    assert fields["account_id"] == "telegram:42" and fields["channel"] == "telegram"
    # The ward is already in the display text: not repeated.
    assert fields["address_string"] == PIN_LOCATION["display"]


def test_request_fields_add_the_ward_so_any_server_can_route_without_coordinates():
    typed = {**PIN_LOCATION, "display": "kiệt 45 Nguyễn Huệ", "source": "typed"}
    fields = report.request_fields({**SLOTS, "location": typed, "photos": None}, "web:1", None)
    assert fields["address_string"] == "kiệt 45 Nguyễn Huệ, Phường Thuận Hóa"
    assert fields["media_urls"] == ()


def test_request_fields_are_plain_json_so_the_outbox_can_keep_them():
    fields = report.request_fields(SLOTS, "zalo:7", "zalo")
    again = json.loads(json.dumps(fields, ensure_ascii=False))
    assert again == {**fields, "media_urls": list(fields["media_urls"])}


# Buttons and other helpers of the conversation -----------------------------------------------
def test_payloads_are_rasa_intents_with_json_entities():
    assert report.payload("affirm") == "/affirm"
    assert report.payload("inform", category="cây") == '/inform{"category":"cây"}'


def test_category_buttons_offer_every_category_but_the_guess():
    buttons = report.confirm_category_buttons("chieu_sang", NAMES)
    assert buttons[0] == {"title": "✅ Đúng", "payload": "/affirm"}
    assert buttons[1:] == [{"title": name, "payload": f'/inform{{"category":"{code}"}}'}
                           for code, name in NAMES.items() if code != "chieu_sang"]


# Another Open311 server's categories, as ServiceCatalogue.categories() would give them.
OTHER_SERVER = {"pothole": "Ổ gà, mặt đường hư", "graffiti": "Vẽ bậy", "chieu_sang": "Đèn đường"}


def test_category_buttons_names_and_summary_follow_the_servers_list():
    assert report.category_buttons(OTHER_SERVER) == [
        {"title": "Ổ gà, mặt đường hư", "payload": '/inform{"category":"pothole"}'},
        {"title": "Vẽ bậy", "payload": '/inform{"category":"graffiti"}'},
        {"title": "Đèn đường", "payload": '/inform{"category":"chieu_sang"}'},
    ]
    assert report.summary_params(SLOTS, OTHER_SERVER)["category_name"] == "Đèn đường"
    assert report.status_params(backend_request(service_code="graffiti"), OTHER_SERVER)["category_name"] == "Vẽ bậy"
    # A spec code the server does not offer has no name there.
    assert report.category_name("moi_truong", OTHER_SERVER) == "Chưa rõ"


@pytest.mark.parametrize("typed, names, code", [
    ("không phải, cái này là giao thông", NAMES, "giao_thong"),
    ("cay xanh", NAMES, "cay_xanh"),
    ("loại khác", NAMES, "khac"),
    ("khác gì đâu", NAMES, None),  # "khác" alone is an everyday word
    ("là chuyện mat duong hu", OTHER_SERVER, "pothole"),
    ("ve bay tren tuong", OTHER_SERVER, "graffiti"),
    ("cay xanh", OTHER_SERVER, None),
])
def test_a_category_typed_by_its_name(typed, names, code):
    assert report.category_named_in(typed, names) == code


def test_summary_buttons_and_the_slots_each_fix_clears():
    payloads = [b["payload"] for b in report.summary_buttons()]
    assert payloads[0] == "/affirm" and payloads[-1] == "/cancel"
    for field in ("description", "category", "location", "photos"):
        assert f'/deny{{"field":"{field}"}}' in payloads
    assert set(report.fix_slots("location")) == {"location", "location_pending"}
    assert set(report.fix_slots("photos")) == {"photos", "photos_done"}
    assert set(report.fix_slots("category")) == {"category", "category_guess"}
    assert tuple(report.fix_slots("nonsense")) == tuple(report.fix_slots(None)) == ()


def test_photo_buttons_skip_before_any_photo_then_done():
    assert report.photo_buttons(0) == [{"title": "⏭️ Bỏ qua", "payload": "/deny"}]
    assert report.photo_buttons(2) == [{"title": "✅ Xong", "payload": "/affirm"}]


@pytest.mark.parametrize("text, ok", [
    ("đèn đường hỏng", True), ("  rác  ", False), ("/affirm", False), ("", False), (None, False),
])
def test_is_description(text, ok):
    assert report.is_description(text) is ok


def test_add_photos_skips_repeats_and_keeps_the_first_five():
    photos = report.add_photos(["u1"], [{"url": "u1"}, {"url": "u2"}])
    assert photos == ["u1", "u2"]
    photos = report.add_photos(photos, [{"url": f"n{i}"} for i in range(6)])
    assert photos == ["u1", "u2", "n0", "n1", "n2"]


def test_summary_params_show_what_will_be_sent():
    params = report.summary_params(SLOTS, NAMES)
    assert params == {"category_name": "Chiếu sáng công cộng", "description": SLOTS["description"],
                      "place": PIN_LOCATION["display"], "photo_count": 2}


# outbox ------------------------------------------------------------------------------------
class FakeBackend:
    """Open311Client stand-in: answers with codes, or fails as told per call."""

    def __init__(self, failures=()):
        self.failures = list(failures)
        self.received = []

    async def create_request(self, **fields):
        failure = self.failures.pop(0) if self.failures else None
        if failure:
            raise failure
        self.received.append(fields)
        return {"service_request_id": f"PA{len(self.received):06d}"}


async def test_outbox_sends_oldest_first_and_empties(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    first = report.request_fields(SLOTS, "web:1", "web")
    second = {**first, "description": "rác ùn ứ ở chợ Đông Ba"}
    outbox.save(first, path)
    outbox.save(second, path)
    assert [fields["description"] for _, fields in outbox.pending(path)] == [
        first["description"], second["description"]]
    backend = FakeBackend()
    assert await outbox.flush(backend, path) == ["PA000001", "PA000002"]
    assert [f["description"] for f in backend.received] == [first["description"], second["description"]]
    assert outbox.pending(path) == []
    assert await outbox.flush(backend, path) == []  # nothing is sent twice


async def test_outbox_keeps_everything_while_the_backend_is_down(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    outbox.save({"service_code": "moi_truong", "description": "rác ùn ứ"}, path)
    outbox.save({"service_code": "giao_thong", "description": "ổ gà"}, path)
    assert await outbox.flush(FakeBackend([BackendUnavailable("down")]), path) == []
    assert len(outbox.pending(path)) == 2


async def test_outbox_drops_what_the_backend_refuses_but_sends_the_rest(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    outbox.save({"service_code": "not_a_code", "description": "x"}, path)
    outbox.save({"service_code": "giao_thong", "description": "ổ gà"}, path)
    backend = FakeBackend([BackendRejected(400, "Loại không hợp lệ / bad service_code")])
    assert await outbox.flush(backend, path) == ["PA000001"]
    assert backend.received == [{"service_code": "giao_thong", "description": "ổ gà"}]
    assert outbox.pending(path) == []


def test_outbox_file_is_created_under_a_missing_folder(tmp_path):
    path = tmp_path / "new" / "folder" / "outbox.sqlite3"
    outbox.save({"service_code": "khac", "description": "chưa rõ loại"}, path)
    assert path.exists() and len(outbox.pending(path)) == 1


def test_a_description_with_markup_or_too_long_is_cleaned_not_lost():
    assert report.clean_description("<b>Đèn</b> đường &amp; cột điện hỏng") == "Đèn đường & cột điện hỏng"
    assert report.clean_description("nhiệt độ < 30 mà đèn vẫn <3 cháy") == "nhiệt độ < 30 mà đèn vẫn <3 cháy"
    assert report.clean_description("&lt;script&gt;alert(1)&lt;/script&gt; cống tắc") == "alert(1) cống tắc"
    assert len(report.clean_description("ổ gà " * 2000)) <= report.MAX_DESCRIPTION_CHARS
