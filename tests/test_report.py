"""bot/report.py (what the summary, the status answer and the Open311 request contain) and
bot/outbox.py (a confirmed report survives a backend outage)."""
from __future__ import annotations

import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime, timedelta, timezone

import pytest

from bot import outbox, report
from bot.categories import category_names
from bot.text import strip_marks
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
    # Another place or category means looking again for the same problem reported nearby.
    nearby = {"duplicate", "duplicate_offer"}
    assert set(report.fix_slots("location")) == {"location", "location_pending", "location_tries"} | nearby
    assert set(report.fix_slots("photos")) == {"photos", "photos_done"}
    assert set(report.fix_slots("category")) == {"category", "category_guess"} | nearby
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


# idempotency key: the same report however often it is confirmed, a new one per report ---------
def form_events(opened_at: float, *, more=()):
    """A conversation whose report form opened at `opened_at`, was interrupted, and finished."""
    return [
        {"event": "user", "timestamp": opened_at - 0.1, "text": COMPLAINT},
        {"event": "active_loop", "timestamp": opened_at, "name": "report_form"},
        {"event": "user", "timestamp": opened_at + 5, "text": "/help"},
        {"event": "active_loop", "timestamp": opened_at + 6, "name": "report_form"},  # carries on
        {"event": "user", "timestamp": opened_at + 9, "text": "/affirm"},
        {"event": "active_loop", "timestamp": opened_at + 10, "name": None},
        *more,
    ]


def test_the_key_is_the_same_for_the_same_report_and_new_for_the_next():
    first = form_events(1764748800.123456)
    key = report.idempotency_key("telegram:42", first)
    assert key and len(key) <= 64 and "telegram" not in key
    # Confirmed again (after a crash the events before the confirmation are the same).
    assert report.idempotency_key("telegram:42", first + first[-2:]) == key
    assert report.idempotency_key("telegram:42", json.loads(json.dumps(first))) == key
    # Another citizen, or the next report of the same citizen.
    assert report.idempotency_key("zalo:42", first) != key
    assert report.idempotency_key("telegram:42", first + form_events(1764749900.5)) not in (key, None)


def test_no_report_form_no_key():
    assert report.idempotency_key("web:1", [{"event": "user", "timestamp": 1.0, "text": "/affirm"}]) is None


def test_request_fields_carry_the_key():
    assert report.request_fields(SLOTS, "web:1", "web", "abc")["idempotency_key"] == "abc"


# outbox: claims, failures and their schedule, on SQLite and on PostgreSQL ---------------------
def saved(count=1):
    return [outbox.save({**report.request_fields(SLOTS, "web:1", "web", f"key-{i}")}) for i in range(count)]


@pytest.mark.usefixtures("assistant_store")
def test_a_claimed_row_is_nobody_else_s_until_its_lease_runs_out():
    [row] = saved()
    now = time.time()
    entry = outbox.claim(60, now=now)
    assert entry is not None and entry.id == row and entry.code is None and entry.sender_id == "web:1"
    assert outbox.claim(60, now=now + 59) is None
    # Its worker died: the lease runs out and another worker takes the row.
    again = outbox.claim(60, now=now + 61)
    assert again is not None and again.id == row
    # The first worker's late write changes nothing.
    assert outbox.delivered(entry, "PA000009", None) is False
    assert outbox.done(entry) is False
    assert outbox.delivered(again, "PA000001", "UBND phường Thuận Hóa") is True
    [kept] = outbox.pending()
    assert (kept["code"], kept["agency"]) == ("PA000001", "UBND phường Thuận Hóa")


@pytest.mark.usefixtures("assistant_store")
def test_many_claimers_at_once_get_each_row_once():
    rows = saved(20)

    def claim_all():
        claimed = []
        while (entry := outbox.claim(60)) is not None:
            claimed.append(entry.id)
        return claimed

    with ThreadPoolExecutor(4) as pool:
        claimed = [row for part in pool.map(lambda _: claim_all(), range(4)) for row in part]
    assert sorted(claimed) == rows


@pytest.mark.usefixtures("assistant_store")
def test_failures_are_counted_and_retried_at_once_then_after_5_then_every_30_minutes():
    saved()
    delays = (300.0, 1800.0)
    now = time.time()
    waits = []
    for _ in range(4):
        entry = outbox.claim(60, now=now)
        assert entry is not None  # due: at once the first time, then when the last wait is over
        retry_at = outbox.failed(entry, "POST requests.json: cannot connect (ClientConnectorError)", delays,
                                 now=now)
        assert outbox.claim(60, now=retry_at - 1) is None
        waits.append(retry_at - now)
        now = retry_at
    assert waits == [300, 1800, 1800, 1800]
    [kept] = outbox.pending()
    assert kept["failures"] == 4 and "ClientConnectorError" in kept["last_error"] and kept["code"] is None


@pytest.mark.usefixtures("assistant_store")
def test_a_row_leaves_only_when_done_and_a_released_one_is_due_again():
    saved()
    entry = outbox.claim(60)
    assert entry is not None and outbox.release(entry)
    entry = outbox.claim(60)
    assert entry is not None and outbox.done(entry)
    assert outbox.pending() == [] and outbox.claim(60) is None


def test_an_outbox_of_the_previous_version_keeps_its_rows(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, fields TEXT NOT NULL, "
                   "created_at TEXT DEFAULT CURRENT_TIMESTAMP)")  # the first version's
        db.execute("INSERT INTO outbox (fields) VALUES (?)", (json.dumps({"service_code": "khac"}),))
    entry = outbox.claim(60, path)
    assert entry is not None and entry.fields == {"service_code": "khac"} and entry.failures == 0
    assert outbox.failed(entry, "503", (300.0,), path) and outbox.pending(path)[0]["failures"] == 1


def test_outbox_file_is_created_under_a_missing_folder(tmp_path):
    path = tmp_path / "new" / "folder" / "outbox.sqlite3"
    outbox.save({"service_code": "khac", "description": "chưa rõ loại"}, path)
    assert path.exists() and len(outbox.pending(path)) == 1


def test_a_description_with_markup_or_too_long_is_cleaned_not_lost():
    assert report.clean_description("<b>Đèn</b> đường &amp; cột điện hỏng") == "Đèn đường & cột điện hỏng"
    assert report.clean_description("nhiệt độ < 30 mà đèn vẫn <3 cháy") == "nhiệt độ < 30 mà đèn vẫn <3 cháy"
    assert report.clean_description("&lt;script&gt;alert(1)&lt;/script&gt; cống tắc") == "alert(1) cống tắc"
    assert len(report.clean_description("ổ gà " * 2000)) <= report.MAX_DESCRIPTION_CHARS


# A button's word typed by hand means the button ----------------------------------------------
PENDING_STREET = {"display": "kiệt 45 Nguyễn Huệ", "latitude": None, "query": "kiệt 45 Nguyễn Huệ",
                  "choices": ["Phường Thuận Hóa", "Phường Phú Xuân"]}
PENDING_PLACE = {"display": "chợ Đông Ba, phường Phú Xuân", "latitude": 16.47, "longitude": 107.58}
EVERY_QUESTION = [
    ("category", {"category_guess": "chieu_sang"}),
    ("category", {}),
    ("location", {"location_pending": PENDING_STREET}),
    ("location", {"location_pending": PENDING_PLACE}),
    ("photos_done", {}),
    ("photos_done", {"photos": ["u1"]}),
    ("confirmed", {}),
]


def _without_emoji(title: str) -> str:
    return "".join(c for c in title if c.isalnum() or c in " ,.").strip()


@pytest.mark.parametrize("slot, slots", EVERY_QUESTION)
def test_every_button_typed_with_or_without_diacritics_is_that_button(slot, slots):
    buttons = report.question_buttons(slot, slots, NAMES)
    assert buttons
    for button in buttons:
        word = _without_emoji(button["title"])
        for typed in (word, word.lower(), strip_marks(word), f"{strip_marks(word).lower()} nhé", f"{word} ạ"):
            assert report.typed_button(typed, buttons) == button["payload"], typed


def test_photo_step_takes_skip_and_done_whatever_it_shows():
    for photos in ([], ["u1"]):
        buttons = report.answer_buttons("photos_done", {"photos": photos}, NAMES)
        assert report.typed_button("bo qua", buttons) == "/deny"
        assert report.typed_button("Xong", buttons) == "/affirm"


def test_a_ward_typed_without_its_kind_or_with_it_shortened_is_its_button():
    buttons = report.ward_buttons(["Phường Thuận Hóa", "Phường Vỹ Dạ", "Xã A Lưới 2"])
    thuan_hoa, vy_da, a_luoi = (button["payload"] for button in buttons)
    for typed, payload in (("thuan hoa", thuan_hoa), ("Thuận Hóa", thuan_hoa), ("p thuan hoa", thuan_hoa),
                           ("P.Vỹ Dạ", vy_da), ("vy da nhé", vy_da), ("a luoi 2", a_luoi), ("xa a luoi 2", a_luoi)):
        assert report.typed_button(typed, buttons) == payload, typed
    assert report.typed_button("thuan", buttons) is None


def test_other_words_are_not_a_button():
    buttons = report.summary_buttons()
    for typed in ("gửi cho ai", "sửa", "không gửi", "/affirm", "", "ạ"):
        assert report.typed_button(typed, buttons) is None, typed


def test_a_typed_button_reads_as_the_pressed_payload():
    typed = {"text": "sua anh", "intent": {"name": "check_status", "confidence": 0.6}, "entities": [],
             "metadata": {"channel": "web"}}
    pressed = report.pressed(typed, '/deny{"field":"photos"}')
    assert pressed["intent"]["name"] == "deny" and pressed["entities"] == [{"entity": "field", "value": "photos"}]
    assert pressed["metadata"] == {"channel": "web"}
    assert report.pressed(typed, "/affirm")["entities"] == []


def test_an_old_button_is_a_payload_of_a_question_not_typed_words():
    def message(text, intent):
        return {"text": text, "intent": {"name": intent}}
    assert report.is_old_button(message('/inform{"category":"giao_thong"}', "inform"))
    assert report.is_old_button(message("/affirm", "affirm"))
    assert not report.is_old_button(message("rác ở kiệt 5 Lê Lợi", "inform"))
    assert not report.is_old_button(message("/share_location", "share_location"))
    assert not report.is_old_button(message("/report_issue", "report_issue"))


def test_address_pieces():
    assert report.joined_address(["kiệt 45 Nguyễn Huệ", "phường Thuận Hóa"]) == "kiệt 45 Nguyễn Huệ, phường Thuận Hóa"
    assert report.joined_address(["Lê Lợi", "Lê Lợi"]) == "Lê Lợi"
    assert report.joined_address([]) is None
    assert report.with_street("phường Thuận Hóa", PENDING_STREET) == "kiệt 45 Nguyễn Huệ, phường Thuận Hóa"
    assert report.with_street("12 Lê Lợi", PENDING_STREET) is None  # a new address
    assert report.with_street("phường Thuận Hóa", PENDING_PLACE) is None  # no street waiting
