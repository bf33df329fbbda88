"""The web chat's HTTP surface, on a real Rasa/Sanic server with a scripted assistant."""
from __future__ import annotations

import io
import uuid

import pytest
import requests
from PIL import Image
from rasa.core.run import create_http_input_channels

import channels.webchat as webchat_module
from channels.webchat import WebChatInput


def new_sender() -> str:
    return uuid.uuid4().hex


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, format="JPEG")
    return out.getvalue()


def test_loaded_from_credentials_file(tmp_path):
    credentials = tmp_path / "credentials.yml"
    credentials.write_text("channels.webchat.WebChatInput:\n", encoding="utf-8")
    (channel,) = create_http_input_channels(None, str(credentials))
    assert isinstance(channel, WebChatInput) and channel.url_prefix() == "web"


def test_text_reaches_the_assistant_and_replies_come_back(webchat):
    url, assistant = webchat
    sender = new_sender()
    res = requests.post(url + "webhook", json={"sender": sender, "message": "đèn đường hỏng"})
    assert res.status_code == 200
    replies = res.json()
    assert replies[0]["text"].startswith("Mình hiểu đây là phản ánh về")
    assert [b["payload"] for b in replies[0]["buttons"]][0] == "/affirm"
    assert "image" in replies[1]

    (message,) = assistant.received_from(sender)
    assert message.text == "đèn đường hỏng"
    assert message.input_channel == "web"
    assert message.metadata == {"channel": "web", "user_id": sender}


def test_location_becomes_a_share_location_event(webchat):
    url, assistant = webchat
    sender = new_sender()
    res = requests.post(
        url + "webhook", json={"sender": sender, "location": {"latitude": 16.4637, "longitude": 107.5909}}
    )
    assert res.status_code == 200 and res.json()[0]["buttons"]
    (message,) = assistant.received_from(sender)
    assert message.text == "/share_location"
    assert message.metadata["location"] == {"latitude": 16.4637, "longitude": 107.5909}


def test_custom_request_location_is_passed_through(webchat):
    url, _ = webchat
    sender = new_sender()
    requests.post(url + "webhook", json={"sender": sender, "message": "ổ gà"})
    replies = requests.post(url + "webhook", json={"sender": sender, "message": "/affirm"}).json()
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
def test_bad_requests_are_refused_in_vietnamese(webchat, body):
    url, assistant = webchat
    before = len(assistant.received)
    res = requests.post(url + "webhook", json=body)
    assert res.status_code == 400
    assert "vui lòng" in res.json()["error"]
    assert len(assistant.received) == before


def test_broken_json_is_a_400(webchat):
    url, _ = webchat
    res = requests.post(url + "webhook", data=b"{not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 400 and "error" in res.json()


def test_assistant_failure_is_reported_not_swallowed(webchat):
    url, _ = webchat
    res = requests.post(url + "webhook", json={"sender": new_sender(), "message": "boom"})
    assert res.status_code == 503
    assert "thử lại" in res.json()["error"]


def test_photo_is_checked_stored_and_sent_as_send_photo(webchat, fake_backend):
    url, assistant = webchat
    sender = new_sender()
    photo = jpeg_bytes()
    res = requests.post(
        url + "photo", data={"sender": sender}, files={"file": ("hien-truong.jpg", photo, "image/jpeg")}
    )
    assert res.status_code == 200, res.text
    assert res.json()[0]["text"].startswith("Đã nhận 1 ảnh")
    assert len(fake_backend) == 1
    (message,) = assistant.received_from(sender)
    assert message.text == "/send_photo"
    assert message.metadata["photos"] == [{"url": "http://127.0.0.1:8000/media/1.jpg"}]
    assert message.metadata["user_id"] == sender


def test_text_file_named_jpg_is_refused(webchat, fake_backend):
    url, assistant = webchat
    sender = new_sender()
    res = requests.post(
        url + "photo",
        data={"sender": sender},
        files={"file": ("anh.jpg", b"day khong phai la anh\n", "image/jpeg")},
    )
    assert res.status_code == 400
    assert "JPEG" in res.json()["error"]
    assert fake_backend == [] and assistant.received_from(sender) == []


def test_photo_without_file_is_refused(webchat):
    url, _ = webchat
    res = requests.post(url + "photo", data={"sender": new_sender()})
    assert res.status_code == 400 and res.json()["error"]


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
def test_page_and_assets_are_served_with_their_types(webchat, path, content_type):
    url, _ = webchat
    res = requests.get(url + path)
    assert res.status_code == 200
    assert res.headers["Content-Type"].startswith(content_type)
    assert res.headers["X-Content-Type-Options"] == "nosniff"


def test_page_works_without_a_cdn(webchat):
    url, _ = webchat
    html = requests.get(url).text
    assert 'lang="vi"' in html
    assert "http://" not in html and "https://" not in html


def test_page_without_trailing_slash_redirects(webchat):
    url, _ = webchat
    res = requests.get(url.rstrip("/"), allow_redirects=False)
    assert res.status_code in (301, 302) and res.headers["Location"].endswith("/webhooks/web/")


def test_units_map_has_the_40_units(webchat):
    url, _ = webchat
    units = requests.get(url + "static/hue_units.geojson").json()
    assert len(units["features"]) == 40
    assert all(f["properties"]["name"].startswith(("Phường ", "Xã ")) for f in units["features"])


@pytest.mark.parametrize("path", ["static/vendor/leaflet/LICENSE", "static/nope.js", "static/%2e%2e/%2e%2e/webchat.py"])
def test_nothing_else_is_served(webchat, path):
    url, _ = webchat
    assert requests.get(url + path).status_code == 404


async def test_no_way_out_of_the_static_folder(tmp_path, monkeypatch):
    (tmp_path / "static").mkdir()
    (tmp_path / "secret.js").write_text("secret")
    monkeypatch.setattr(webchat_module, "STATIC_DIR", tmp_path / "static")
    res = await webchat_module._static_file("../secret.js")
    assert res.status == 404
