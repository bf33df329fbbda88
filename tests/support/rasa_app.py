"""Rasa's own app factory serving one input channel, with a scripted assistant in place of Rasa's
Agent: the channel's real code over real HTTP, without a model.

    async with RasaApp(TelegramInput(settings)) as app:   # served in the test's event loop
        app.assistant.reply = lambda message: [{"text": "Dạ"}]
        ...post to f"{app.url}/webhooks/telegram/webhook"...

    with RasaApp(WebChatInput()) as app:   # served in a thread: for requests and Selenium
        ...
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, List, Optional

import rasa.core.run
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Sanic

from tests.support.servers import BackgroundLoop, free_port

Reply = Callable[[UserMessage], Optional[Iterable[dict]]]
# The category question's buttons as the assistant sends them: confirm, or another category.
CATEGORY_BUTTONS = [
    {"title": "✅ Đúng", "payload": "/affirm"},
    {"title": "Giao thông", "payload": '/inform{"category":"giao_thong"}'},
]


class ScriptedAssistant:
    """Stands in for Rasa's Agent: records every message and answers with `reply(message)`,
    a list of responses as Rasa's are (`text`, `buttons`, `image`, `custom`)."""

    def __init__(self, reply: Optional[Reply] = None) -> None:
        self.received: List[UserMessage] = []
        self.reply: Reply = reply or (lambda message: None)

    def received_from(self, sender_id: str) -> List[UserMessage]:
        return [m for m in self.received if m.sender_id == sender_id]

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        for answer in self.reply(message) or []:
            await message.output_channel.send_response(message.sender_id, dict(answer))


class RasaApp:
    """Rasa's app with one input channel on a free port; `async with` serves it in the running
    event loop, `with` in a thread of its own. `enable_api` adds Rasa's HTTP API (routes that need
    no model answer, such as /version); the app is built by `rasa.core.run.configure_app` as it
    stands, with tools/rasa_server.py's fences once installed."""

    def __init__(self, channel: InputChannel, reply: Optional[Reply] = None, enable_api: bool = False) -> None:
        Sanic.test_mode = True  # lets Rasa's factory build more apps in one process
        # use_uvloop=False would reset the event loop policy, and with it the test's loop.
        self.app = rasa.core.run.configure_app(input_channels=[channel], enable_api=enable_api)
        self.channel = channel
        self.assistant = ScriptedAssistant(reply)
        self.app.ctx.agent = self.assistant
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: Optional[BackgroundLoop] = None

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

    def __enter__(self) -> "RasaApp":
        self._thread = BackgroundLoop()
        self._thread.run(self.__aenter__(), timeout_s=30)
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._thread is not None
        try:
            self._thread.run(self.__aexit__(), timeout_s=30)
        finally:
            self._thread.close()
