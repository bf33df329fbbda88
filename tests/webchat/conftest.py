"""The web chat channel on a real server (Rasa's own app factory, tests/support/rasa_app.py) in a
thread of its own, so that plain HTTP clients and Selenium talk to it exactly as a browser would,
with a scripted assistant that walks the report flow."""
from __future__ import annotations

from typing import Dict, Iterator, List

import pytest
from rasa.core.channels.channel import UserMessage

from channels.webchat import WebChatInput
from tests.support.rasa_app import RasaApp

REPORT_CODE = "PA000123"  # the code the scripted assistant gives


class ReportScript:
    """Answers as the real assistant does along the documented report flow (category -> place ->
    photos -> summary -> code), with its button titles; "boom" makes the assistant crash."""

    def __init__(self) -> None:
        self.asked: Dict[str, str] = {}  # sender -> the question last asked

    def __call__(self, message: UserMessage) -> List[dict]:
        to, text = message.sender_id, message.text
        asked = self.asked.get(to)
        if text == "boom":
            raise RuntimeError("the assistant crashed")
        if text == "hủy":
            self.asked.pop(to, None)
            return [{"text": "Đã hủy, phản ánh chưa được gửi. Khi cần, bạn cứ nhắn mình.",
                     "custom": {"report_ended": True}}]
        if text == "cháy":
            return [{"text": "⚠️ Bạn hãy gọi ngay:\n• 113 — Công an\n• 114 — Cứu hỏa\n• 115 — Cấp cứu y tế"}]
        if text == "/share_location":
            self.asked[to] = "photos"
            return [{"text": "Bạn có ảnh hiện trường không? Gửi ảnh hoặc bấm \"Bỏ qua\".",
                     "buttons": [{"title": "⏭️ Bỏ qua", "payload": "/deny"}]}]
        if text == "/send_photo":
            self.asked[to] = "photos"
            return [{"text": "Đã nhận 1 ảnh. Gửi thêm hoặc bấm \"Xong\".",
                     "buttons": [{"title": "✅ Xong", "payload": "/affirm"}]}]
        if asked == "photos" and text in ("/affirm", "/deny"):
            self.asked[to] = "summary"
            return [{"text": "Bạn kiểm tra lại phản ánh:\n• Loại: Chiếu sáng công cộng\n• Ảnh: 1\n"
                             "Gửi phản ánh này nhé?",
                     "buttons": [{"title": "✅ Gửi", "payload": "/affirm"},
                                 {"title": "❌ Hủy", "payload": "/cancel"}]}]
        if asked == "category" and text == "/affirm":
            self.asked[to] = "location"
            return [{"text": "Vấn đề ở đâu ạ? Bạn gửi vị trí hoặc gõ địa chỉ.", "custom": {"request_location": True}}]
        if asked == "summary" and text == "/affirm":
            self.asked.pop(to)
            return [{"text": f"✅ Đã gửi phản ánh. Mã phản ánh của bạn: {REPORT_CODE}.",
                     "custom": {"report_ended": True}}]
        self.asked[to] = "category"
        return [{"text": "Mình hiểu đây là phản ánh về: Chiếu sáng công cộng. Đúng không ạ?",
                 "buttons": [{"title": "✅ Đúng", "payload": "/affirm"},
                             {"title": "Giao thông, hạ tầng đường", "payload": '/inform{"category":"giao_thong"}'}]},
                {"image": "static/vendor/leaflet/images/marker-icon.png"}]


@pytest.fixture(scope="session")
def webchat() -> Iterator[RasaApp]:
    """The web chat on a real server; `webchat.url` is Rasa's base, the page is at
    `{url}/webhooks/web/`, `webchat.assistant` the scripted assistant."""
    with RasaApp(WebChatInput(), reply=ReportScript()) as app:
        yield app


@pytest.fixture
def page_url(webchat) -> str:
    return f"{webchat.url}/webhooks/web/"


@pytest.fixture
def fake_backend(monkeypatch) -> List[bytes]:
    """Photos go through the real `channels.photos` step; only the backend upload is faked.
    The photos uploaded, in order (the n-th is served at .../media/n.jpg)."""
    import channels.photos

    stored: List[bytes] = []

    class FakeClient:
        @classmethod
        def from_settings(cls, settings):
            return cls()

        async def __aenter__(self):
            return self

        async def __aexit__(self, *exc):
            return None

        async def upload_media(self, data, filename, content_type):
            stored.append(data)
            return f"http://127.0.0.1:8000/media/{len(stored)}.jpg"

    monkeypatch.setattr(channels.photos, "Open311Client", FakeClient)
    return stored
