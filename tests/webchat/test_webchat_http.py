"""The web chat's HTTP surface, on a real Rasa/Sanic server with a scripted assistant."""
from __future__ import annotations

import uuid

import aiohttp
import pytest
import requests
from rasa.core.run import create_http_input_channels

import channels.webchat as webchat_module
from bot.settings import PROJECT_ROOT, get_settings
from channels.webchat import INBOX_LIMIT, WebChatInput
from tests.support.images import jpeg
from tests.support.rasa_app import RasaApp


def new_sender() -> str:
    return uuid.uuid4().hex


def received(webchat, sender: str):
    """What the assistant was given from the page's `sender`."""
    return webchat.assistant.received_from(f"web:{sender}")


def test_make_run_serves_the_web_chat():
    # `make run` starts Rasa with the project's credentials.yml: the page is at /webhooks/web/.
    channels = create_http_input_channels(None, str(PROJECT_ROOT / "credentials.yml"))
    assert "web" in [channel.url_prefix() for channel in channels]


def test_text_reaches_the_assistant_and_replies_come_back(webchat, page_url):
    sender = new_sender()
    res = requests.post(page_url + "webhook", json={"sender": sender, "message": "đèn đường hỏng"})
    assert res.status_code == 200
    replies = res.json()
    assert replies[0]["text"].startswith("Mình hiểu đây là phản ánh về")
    assert [b["payload"] for b in replies[0]["buttons"]][0] == "/affirm"
    assert "image" in replies[1]

    (message,) = received(webchat, sender)
    assert message.text == "đèn đường hỏng"
    assert message.input_channel == "web"
    assert message.metadata == {"channel": "web", "user_id": sender}


def test_location_becomes_a_share_location_event(webchat, page_url):
    sender = new_sender()
    res = requests.post(
        page_url + "webhook", json={"sender": sender, "location": {"latitude": 16.4637, "longitude": 107.5909}}
    )
    assert res.status_code == 200 and res.json()[0]["buttons"]
    (message,) = received(webchat, sender)
    assert message.text == "/share_location"
    assert message.metadata["location"] == {"latitude": 16.4637, "longitude": 107.5909}


def test_custom_request_location_is_passed_through(page_url):
    sender = new_sender()
    requests.post(page_url + "webhook", json={"sender": sender, "message": "ổ gà"})
    replies = requests.post(page_url + "webhook", json={"sender": sender, "message": "/affirm"}).json()
    assert {"request_location": True} in [r.get("custom") for r in replies]


@pytest.mark.parametrize(
    "body",
    [
        {"message": "xin chào"},  # no sender
        {"sender": "../../etc", "message": "xin chào"},
        {"sender": new_sender(), "message": "   "},
        {"sender": new_sender(), "message": "x" * 2001},
        {"sender": new_sender(), "location": {"latitude": "16.4", "longitude": 107.5}},
        {"sender": new_sender(), "location": {"latitude": 123, "longitude": 107.5}},
        {"sender": new_sender(), "location": {"latitude": True, "longitude": 107.5}},
    ],
)
def test_bad_requests_are_refused_in_vietnamese(webchat, page_url, body):
    assistant = webchat.assistant
    before = len(assistant.received)
    res = requests.post(page_url + "webhook", json=body)
    assert res.status_code == 400
    assert "vui lòng" in res.json()["error"]
    assert len(assistant.received) == before


def test_broken_json_is_a_400(page_url):
    res = requests.post(page_url + "webhook", data=b"{not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 400 and "error" in res.json()


def test_assistant_failure_is_reported_not_swallowed(page_url):
    res = requests.post(page_url + "webhook", json={"sender": new_sender(), "message": "boom"})
    assert res.status_code == 503
    assert "thử lại" in res.json()["error"]


def test_photo_is_checked_stored_and_sent_as_send_photo(webchat, page_url, fake_backend):
    sender = new_sender()
    photo = jpeg()
    res = requests.post(
        page_url + "photo", data={"sender": sender}, files={"file": ("hien-truong.jpg", photo, "image/jpeg")}
    )
    assert res.status_code == 200, res.text
    assert res.json()[0]["text"].startswith("Đã nhận 1 ảnh")
    assert len(fake_backend) == 1
    (message,) = received(webchat, sender)
    assert message.text == "/send_photo"
    assert message.metadata["photos"] == [{"url": "http://127.0.0.1:8000/media/1.jpg"}]
    assert message.metadata["user_id"] == sender


def test_text_file_named_jpg_is_refused(webchat, page_url, fake_backend):
    sender = new_sender()
    res = requests.post(
        page_url + "photo",
        data={"sender": sender},
        files={"file": ("anh.jpg", b"day khong phai la anh\n", "image/jpeg")},
    )
    assert res.status_code == 400
    assert "JPEG" in res.json()["error"]
    assert fake_backend == [] and received(webchat, sender) == []


def test_photo_without_file_is_refused(page_url):
    res = requests.post(page_url + "photo", data={"sender": new_sender()})
    assert res.status_code == 400 and "chọn một ảnh" in res.json()["error"]


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("", "text/html"),
        ("static/app.js", "text/javascript"),
        ("static/style.css", "text/css"),
        ("static/hue_units.geojson", "application/geo+json"),
        ("static/vendor/leaflet/leaflet.js", "text/javascript"),
        ("static/vendor/leaflet/leaflet.css", "text/css"),
        ("static/vendor/leaflet/images/marker-icon.png", "image/png"),
    ],
)
def test_page_and_assets_are_served_with_their_types(page_url, path, content_type):
    res = requests.get(page_url + path)
    assert res.status_code == 200
    assert res.headers["Content-Type"].startswith(content_type)
    assert res.headers["X-Content-Type-Options"] == "nosniff"


def test_page_works_without_a_cdn(page_url):
    html = requests.get(page_url).text
    assert 'lang="vi"' in html
    assert "http://" not in html and "https://" not in html


def test_page_without_trailing_slash_redirects(page_url):
    res = requests.get(page_url.rstrip("/"), allow_redirects=False)
    assert res.status_code in (301, 302) and res.headers["Location"].endswith("/webhooks/web/")


def test_units_map_has_the_40_units(page_url):
    units = requests.get(page_url + "static/hue_units.geojson").json()
    assert len(units["features"]) == 40
    assert all(f["properties"]["name"].startswith(("Phường ", "Xã ")) for f in units["features"])


def test_the_page_gets_its_base_map_from_map_tile_url(page_url, monkeypatch):
    assert requests.get(page_url + "map.json").json() == {
        "tiles": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "© OpenStreetMap contributors"}
    monkeypatch.setenv("MAP_TILE_URL", "https://{s}.tiles.example.vn/hue/{z}/{x}/{y}.png")
    monkeypatch.setenv("MAP_TILE_ATTRIBUTION", "© Sở Xây dựng Huế")
    get_settings.cache_clear()
    assert requests.get(page_url + "map.json").json() == {
        "tiles": "https://{s}.tiles.example.vn/hue/{z}/{x}/{y}.png", "attribution": "© Sở Xây dựng Huế"}
    # The tile host may serve the page images, and nothing else: the page talks to its own origin.
    policy = dict(part.strip().split(" ", 1) for part in
                  requests.get(page_url).headers["Content-Security-Policy"].split(";"))
    assert "https://*.tiles.example.vn" in policy["img-src"].split()
    assert "tile.openstreetmap.org" not in policy["img-src"] and "https:" not in policy["img-src"].split()
    assert policy["connect-src"] == "'self'" and policy["default-src"] == "'self'"
    monkeypatch.setenv("MAP_TILE_URL", "off")
    get_settings.cache_clear()
    assert requests.get(page_url + "map.json").json()["tiles"] is None


def test_landmarks_for_a_map_without_tiles(page_url):
    res = requests.get(page_url + "landmarks.geojson")
    assert res.headers["Content-Type"].startswith("application/geo+json")
    places = {f["properties"]["name"]: f["geometry"]["coordinates"] for f in res.json()["features"]}
    assert places["chợ Đông Ba"] == [107.5885, 16.4725]  # GeoJSON: longitude first
    assert "ga Huế" in places


@pytest.mark.parametrize("path", ["static/vendor/leaflet/LICENSE", "static/nope.js", "static/%2e%2e/%2e%2e/webchat.py"])
def test_nothing_else_is_served(page_url, path):
    assert requests.get(page_url + path).status_code == 404


async def test_no_way_out_of_the_static_folder(tmp_path, monkeypatch):
    (tmp_path / "static").mkdir()
    (tmp_path / "secret.js").write_text("secret")
    monkeypatch.setattr(webchat_module, "STATIC_DIR", tmp_path / "static")
    res = await webchat_module._static_file("../secret.js")
    assert res.status == 404


@pytest.mark.parametrize("body", [b"[]", b"[" * 100_000 + b"]" * 100_000, b"\xff\xfe"])
def test_a_body_that_is_no_message_gets_a_clear_refusal(page_url, body):
    res = requests.post(page_url + "webhook", data=body, headers={"Content-Type": "application/json"})
    assert res.status_code in (400, 413)  # 413: larger than any message (channels/limits.py)
    assert res.json()["error"]


async def test_a_message_sent_unprompted_waits_for_the_page_and_is_shown_once():
    # Rasa's proactive messages (output_channel=web) go to the channel's output channel.
    channel = WebChatInput()
    sender, other = new_sender(), new_sender()
    async with RasaApp(channel) as app, aiohttp.ClientSession() as http:
        inbox = f"{app.url}/webhooks/web/inbox"

        async def waiting(who: str):
            async with http.get(inbox, params={"sender": who}) as res:
                assert res.status == 200
                return await res.json()

        assert await waiting(sender) == []
        await channel.get_output_channel().send_response(
            f"web:{sender}", {"text": "Phản ánh của bạn đã được gửi. Mã phản ánh: PA000042.",
                              "buttons": [{"title": "Xem tình trạng", "payload": "/status"}]}
        )
        assert await waiting(other) == []
        assert await waiting(sender) == [{"text": "Phản ánh của bạn đã được gửi. Mã phản ánh: PA000042.",
                                          "buttons": [{"title": "Xem tình trạng", "payload": "/status"}]}]
        assert await waiting(sender) == []
        # A page closed for long keeps only the newest messages.
        for i in range(INBOX_LIMIT + 5):
            await channel.get_output_channel().send_text_message(f"web:{sender}", f"tin {i}")
        kept = await waiting(sender)
        assert len(kept) == INBOX_LIMIT and kept[-1] == {"text": f"tin {INBOX_LIMIT + 4}"}
        async with http.get(inbox, params={"sender": "../x"}) as res:
            assert res.status == 400


def test_a_megabyte_message_is_refused_at_once(webchat, page_url):
    sender = new_sender()
    res = requests.post(page_url + "webhook", json={"sender": sender, "message": "x" * 1_000_000}, timeout=10)
    assert res.status_code == 413 and "quá lớn" in res.json()["error"]
    assert received(webchat, sender) == []


def test_a_sender_past_the_rate_limit_is_asked_to_slow_down(webchat, page_url):
    sender = new_sender()
    limit = get_settings().sender_messages_per_minute
    answers = [requests.post(page_url + "webhook", json={"sender": sender, "message": "alo"}, timeout=10)
               for _ in range(limit + 1)]
    assert [res.status_code for res in answers] == [200] * limit + [429]
    assert "quá nhanh" in answers[-1].json()["error"]
    assert len(received(webchat, sender)) == limit
    # Another citizen is not held up by this one.
    other = requests.post(page_url + "webhook", json={"sender": new_sender(), "message": "alo"}, timeout=10)
    assert other.status_code == 200

