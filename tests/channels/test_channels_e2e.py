"""Whole conversations through the real stack (`python -m bot.cli run`: backend, actions, Rasa
with credentials.yml), one per channel, with the Telegram and Zalo APIs replaced by stand-ins:
a complaint, the category confirmed with the bot's button, a pin in Huế, a photo, the summary
confirmed; then the report and its photo are read back from the backend."""
from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
import urllib.request
from typing import Any, Awaitable, Callable, Dict, Iterator, List

import aiohttp
import pytest
from channel_helpers import jpeg
from standins import TelegramStandin, ZaloStandin

from bot.area import load_area
from bot.settings import DEV_API_KEY
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.slow

COMPLAINT = "đèn đường kiệt 45 Nguyễn Huệ hỏng cả tuần nay"
PIN = (16.4627, 107.5890)  # Nguyễn Huệ street, phường Thuận Hóa
REPORT_CODE = re.compile(r"PA\d{6}")
TOKEN = "555:E2E-token"
SECRET = "e2e-secret"
ZALO = {"app_id": "42", "oa_secret": "oa-secret", "app_secret": "app-secret", "user": "9001"}


class StandinThread:
    """The API stand-ins on their own event loop, so they outlive each test's loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.telegram = self.run(TelegramStandin(TOKEN).start())
        self.zalo = self.run(ZaloStandin("za-1", "zr-1", ZALO["app_id"], ZALO["app_secret"]).start())

    def run(self, work: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(30)

    def close(self) -> None:
        self.run(self.telegram.stop())
        self.run(self.zalo.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)


def channel_env(standins: StandinThread) -> Dict[str, str]:
    return {
        "TELEGRAM_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE_URL": standins.telegram.base_url,
        "ZALO_APP_ID": ZALO["app_id"], "ZALO_OA_SECRET_KEY": ZALO["oa_secret"],
        "ZALO_ACCESS_TOKEN": "za-1", "ZALO_REFRESH_TOKEN": "zr-1",
        "ZALO_APP_SECRET": ZALO["app_secret"], "ZALO_API_BASE_URL": standins.zalo.url,
        "ZALO_OAUTH_URL": standins.zalo.oauth_url,
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    assert load_area().contains(*PIN)
    standins = StandinThread()
    try:
        data_dir = tmp_path_factory.mktemp("stack") / "data"
        with running_stack(data_dir, env=channel_env(standins)) as running:
            for channel in ("telegram", "zalo"):
                with urllib.request.urlopen(f"{running.rasa_url}/webhooks/{channel}/") as response:
                    assert json.load(response)["status"] == "ok", f"{channel} is off"
            running.standins = standins  # type: ignore[attr-defined]
            yield running
    finally:
        standins.close()


class Conversation:
    """Drives the report flow from what the bot last said, as a citizen would: a pin when asked
    for the place, a photo when asked for photos, otherwise the bot's own "yes" button."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.transcript: List[str] = []
        self.pin_sent = self.photo_sent = False

    async def run(self) -> str:
        await self.say(COMPLAINT)
        for _ in range(12):
            text = self.last_text()
            if REPORT_CODE.search(text):
                return REPORT_CODE.search(text).group(0)
            lowered = text.lower()
            if not self.pin_sent and ("vị trí" in lowered or "ở đâu" in lowered):
                self.pin_sent = True
                await self.pin(*PIN)
            elif not self.photo_sent and "ảnh" in lowered:
                self.photo_sent = True
                await self.photo(jpeg("orange"))
            else:
                await self.yes()
        pytest.fail("no report code; conversation:\n" + "\n".join(self.transcript))

    async def check_report(self, code: str) -> None:
        assert self.pin_sent and self.photo_sent, self.transcript
        async with aiohttp.ClientSession() as http:
            url = f"{self.stack.backend_url}/requests/{code}.json"
            async with http.get(url, params={"api_key": DEV_API_KEY}) as response:
                assert response.status == 200, await response.text()
                [report] = await response.json()
            assert report["lat"] == pytest.approx(PIN[0], abs=1e-4)
            assert report["long"] == pytest.approx(PIN[1], abs=1e-4)
            assert report["media_url"]
            async with http.get(report["media_url"]) as response:
                assert response.status == 200
                assert (await response.read()).startswith(b"\xff\xd8")

    def last_text(self) -> str:
        raise NotImplementedError

    async def say(self, text: str) -> None:
        raise NotImplementedError

    async def pin(self, lat: float, lon: float) -> None:
        raise NotImplementedError

    async def photo(self, data: bytes) -> None:
        raise NotImplementedError

    async def yes(self) -> None:
        raise NotImplementedError


class TelegramConversation(Conversation):
    CHAT = 31337

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack)
        self.api: TelegramStandin = stack.standins.telegram  # type: ignore[attr-defined]
        self.update_id = 100

    def _bot_messages(self) -> List[Dict[str, Any]]:
        return [p for m, p in self.api.calls if m == "sendMessage" and p["chat_id"] == str(self.CHAT)]

    def last_text(self) -> str:
        return self._bot_messages()[-1]["text"]

    async def _post(self, update: Dict[str, Any], what: str) -> None:
        before = len(self._bot_messages())
        self.update_id += 1
        update["update_id"] = self.update_id
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.stack.rasa_url}/webhooks/telegram/webhook", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
                assert response.status == 200
        await _settle(lambda: len(self._bot_messages()) > before)
        self.transcript += [f"> {what}"] + [f"< {m['text']}" for m in self._bot_messages()[before:]]

    def _message(self, **content: Any) -> Dict[str, Any]:
        user = {"id": self.CHAT, "is_bot": False, "first_name": "Lan"}
        return {"message": {"message_id": self.update_id, "date": int(time.time()), "from": user,
                            "chat": {"id": self.CHAT, "type": "private"}, **content}}

    async def say(self, text: str) -> None:
        await self._post(self._message(text=text), text)

    async def pin(self, lat: float, lon: float) -> None:
        keyboard = self._bot_messages()[-1]["reply_markup"]["keyboard"]
        assert keyboard[0][0]["request_location"] is True  # the "send my location" button
        await self._post(self._message(location={"latitude": lat, "longitude": lon}), "(pin)")

    async def photo(self, data: bytes) -> None:
        self.api.files["e2e-photo"] = data
        sizes = [{"file_id": "e2e-photo", "file_unique_id": "e", "width": 64, "height": 48}]
        await self._post(self._message(photo=sizes), "(photo)")

    async def yes(self) -> None:
        markup = self._bot_messages()[-1].get("reply_markup") or {}
        buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
        [button] = [b for b in buttons if b["callback_data"] == "/affirm"]
        user = {"id": self.CHAT, "is_bot": False, "first_name": "Lan"}
        query = {"id": f"q{self.update_id}", "from": user, "chat_instance": "c",
                 "data": button["callback_data"],
                 "message": {"message_id": 1, "date": 0, "chat": {"id": self.CHAT, "type": "private"}}}
        await self._post({"callback_query": query}, f"[{button['text']}]")


class ZaloConversation(Conversation):
    def __init__(self, stack: Stack) -> None:
        super().__init__(stack)
        self.api: ZaloStandin = stack.standins.zalo  # type: ignore[attr-defined]
        self.count = 0

    def last_text(self) -> str:
        return self.api.texts(ZALO["user"])[-1]

    async def _post(self, name: str, what: str, **message: Any) -> None:
        before = len(self.api.texts(ZALO["user"]))
        self.count += 1
        event = {"app_id": ZALO["app_id"], "event_name": name, "timestamp": str(int(time.time() * 1000)),
                 "sender": {"id": ZALO["user"]}, "recipient": {"id": "oa"},
                 "message": {"msg_id": f"e2e-{self.count}", **message}}
        body = json.dumps(event).encode()
        mac = hashlib.sha256(ZALO["app_id"].encode() + body + event["timestamp"].encode()
                             + ZALO["oa_secret"].encode()).hexdigest()
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.stack.rasa_url}/webhooks/zalo/webhook", data=body,
                                 headers={"X-ZEvent-Signature": f"mac={mac}",
                                          "Content-Type": "application/json"}) as response:
                assert response.status == 200
        await _settle(lambda: len(self.api.texts(ZALO["user"])) > before)
        self.transcript += [f"> {what}"] + [f"< {t}" for t in self.api.texts(ZALO["user"])[before:]]

    async def say(self, text: str) -> None:
        await self._post("user_send_text", text, text=text)

    async def pin(self, lat: float, lon: float) -> None:
        coordinates = {"latitude": str(lat), "longitude": str(lon)}
        await self._post("user_send_location", "(pin)",
                         attachments=[{"type": "location", "payload": {"coordinates": coordinates}}])

    async def photo(self, data: bytes) -> None:
        self.api.files["e2e.jpg"] = data
        await self._post("user_send_image", "(photo)", attachments=[
            {"type": "image", "payload": {"url": self.api.file_url("e2e.jpg")}}])

    async def yes(self) -> None:
        [number] = re.findall(r"^(\d+)\. ✅", self.last_text(), flags=re.M)
        await self._post("user_send_text", number, text=number)


async def _settle(answered: Callable[[], bool], timeout_s: float = 60) -> None:
    """Returns once the bot answered and then stayed quiet for a moment (it may send several)."""
    deadline = time.monotonic() + timeout_s
    while not answered():
        assert time.monotonic() < deadline, "the bot did not answer"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)


@pytest.mark.parametrize("conversation", [TelegramConversation, ZaloConversation])
async def test_a_whole_report(stack, conversation):
    talk: Conversation = conversation(stack)
    code = await talk.run()
    await talk.check_report(code)
    assert TOKEN.split(":")[1] not in stack.output()
