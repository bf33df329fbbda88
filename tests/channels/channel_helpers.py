"""Helpers of the channel tests: test photos, free ports, and a Rasa app (Rasa's own factory)
serving one channel in the test's event loop with a scripted assistant."""
from __future__ import annotations

import io
import socket
from typing import Any, Callable, List, Optional

from PIL import Image
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.run import configure_app
from sanic import Sanic


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jpeg(color: str = "red", gps: Optional[tuple] = None) -> bytes:
    """A small real JPEG, with EXIF GPS (lat, lon) when asked."""
    image = Image.new("RGB", (64, 48), color)
    out = io.BytesIO()
    if gps is None:
        image.save(out, format="JPEG")
    else:
        exif = Image.Exif()
        lat, lon = gps
        exif.get_ifd(0x8825).update({
            1: "N", 2: _dms(lat), 3: "E", 4: _dms(lon),
        })
        image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def _dms(value: float) -> tuple:
    degrees, minutes = int(value), int(value * 60) % 60
    return (float(degrees), float(minutes), round((value * 3600) % 60, 3))


class ScriptedAssistant:
    """Stands in for Rasa's Agent: records what it is given, answers with `reply(message)`."""

    def __init__(self) -> None:
        self.received: List[UserMessage] = []
        self.reply: Callable[[UserMessage], Any] = lambda message: None

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        for answer in self.reply(message) or []:
            await message.output_channel.send_response(message.sender_id, dict(answer))


class RasaApp:
    """Rasa's app factory with one input channel, served in the test's event loop."""

    def __init__(self, channel: InputChannel) -> None:
        Sanic.test_mode = True  # lets Rasa's factory build more apps in one process
        # use_uvloop=False would reset the event loop policy, and with it the test's loop.
        self.app = configure_app(input_channels=[channel], enable_api=False)
        self.assistant = ScriptedAssistant()
        self.app.ctx.agent = self.assistant
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None

    async def __aenter__(self) -> "RasaApp":
        self._server = await self.app.create_server(
            host="127.0.0.1", port=self.port, return_asyncio_server=True
        )
        await self._server.startup()
        await self._server.before_start()
        await self._server.after_start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._server.before_stop()
        self._server.close()
        await self._server.wait_closed()
        await self._server.after_stop()
