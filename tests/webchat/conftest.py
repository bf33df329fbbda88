"""A real Sanic server (Rasa's own app factory) with the web chat channel and a scripted assistant.

The server runs in a thread with its own event loop, so that plain HTTP clients and Selenium can
talk to it exactly as a browser would.
"""
from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Dict, List

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.run import configure_app
from sanic import Sanic

from channels.webchat import WebChatInput

REPORT_CODE = "PA000123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScriptedAssistant:
    """Stands in for Rasa's Agent: records what it is given and walks the documented report flow
    (category -> place -> photos -> summary -> code) with the real assistant's button titles."""

    def __init__(self) -> None:
        self.received: List[UserMessage] = []
        self.asked: Dict[str, str] = {}

    def received_from(self, sender: str) -> List[UserMessage]:
        return [m for m in self.received if m.sender_id == f"web:{sender}"]

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        out, to, text = message.output_channel, message.sender_id, message.text
        asked = self.asked.get(to)
        if text == "boom":
            raise RuntimeError("the assistant crashed")
        if text == "/share_location":
            self.asked[to] = "photos"
            await out.send_text_with_buttons(
                to, "Bạn có ảnh hiện trường không? Gửi ảnh hoặc bấm \"Bỏ qua\".",
                [{"title": "⏭️ Bỏ qua", "payload": "/deny"}],
            )
        elif text == "/send_photo":
            self.asked[to] = "photos"
            await out.send_text_with_buttons(
                to, "Đã nhận 1 ảnh. Gửi thêm hoặc bấm \"Xong\".", [{"title": "✅ Xong", "payload": "/affirm"}]
            )
        elif asked == "photos" and text in ("/affirm", "/deny"):
            self.asked[to] = "summary"
            await out.send_text_with_buttons(
                to,
                "Bạn kiểm tra lại phản ánh:\n• Loại: Chiếu sáng công cộng\n• Ảnh: 1\nGửi phản ánh này nhé?",
                [{"title": "✅ Gửi", "payload": "/affirm"}, {"title": "❌ Hủy", "payload": "/cancel"}],
            )
        elif asked == "category" and text == "/affirm":
            self.asked[to] = "location"
            await out.send_text_message(to, "Vấn đề ở đâu ạ? Bạn gửi vị trí hoặc gõ địa chỉ.")
            await out.send_custom_json(to, {"request_location": True})
        elif asked == "summary" and text == "/affirm":
            self.asked.pop(to)
            await out.send_text_message(to, f"✅ Đã gửi phản ánh. Mã phản ánh của bạn: {REPORT_CODE}.")
        else:
            self.asked[to] = "category"
            await out.send_text_with_buttons(
                to,
                "Mình hiểu đây là phản ánh về: Chiếu sáng công cộng. Đúng không ạ?",
                [
                    {"title": "✅ Đúng", "payload": "/affirm"},
                    {"title": "Giao thông, hạ tầng đường", "payload": '/inform{"category":"giao_thong"}'},
                ],
            )
            await out.send_image_url(to, "static/vendor/leaflet/images/marker-icon.png")


class ServerThread:
    def __init__(self, app: Sanic, port: int) -> None:
        self.app, self.port = app, port
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            self.app.create_server(host="127.0.0.1", port=self.port, return_asyncio_server=True)
        )
        self.loop.run_until_complete(server.startup())
        self.ready.set()
        self.loop.run_forever()
        server.close()

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        assert self.ready.wait(30), "the web chat server did not start"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session")
def webchat():
    """(base URL of the page, the scripted assistant) on a real server."""
    Sanic.test_mode = True  # lets Rasa's factory build more apps in one process
    app = configure_app(input_channels=[WebChatInput()], enable_api=False, use_uvloop=False)
    assistant = ScriptedAssistant()
    app.ctx.agent = assistant
    port = free_port()
    with ServerThread(app, port):
        yield f"http://127.0.0.1:{port}/webhooks/web/", assistant


@pytest.fixture
def fake_backend(monkeypatch):
    """Photos go through the real `channels.photos` step; only the backend upload is faked."""
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
