"""Citizens talking to the running assistant (tests/support/stack.py), for end-to-end tests.

    citizen = Citizen(stack, "reporter")   # Rasa's REST channel, one message at a time
    replies = citizen.say(COMPLAINT)
    assert "Chiếu sáng công cộng" in text(replies)

    code = await TelegramCitizen(stack, api, SECRET).file_report()   # a whole report, driven
    code = await WebChatCitizen(stack).file_report()                 # the same through the web chat's routes
"""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import aiohttp
import pytest
import requests

from tests.support import telegram, zalo
from tests.support.images import jpeg
from tests.support.places import THUAN_HOA
from tests.support.servers import eventually
from tests.support.stack import Stack

COMPLAINT = "đèn đường kiệt 45 Nguyễn Huệ hỏng cả tuần nay"
REPORT_CODE = re.compile(r"PA\d{6}")
Replies = List[Dict[str, Any]]


class Citizen:
    """One sender talking to the assistant through the REST channel, as the web chat does.
    `sender` is the conversation (and account) id the REST channel gives it: `rest:<name>-<hex>`."""

    def __init__(self, stack: Stack, name: str) -> None:
        self.stack = stack
        self.name = f"{name}-{uuid.uuid4().hex[:8]}"
        self.sender = f"rest:{self.name}"

    def say(self, message: str, metadata: Optional[Dict[str, Any]] = None) -> Replies:
        body: Dict[str, Any] = {"sender": self.name, "message": message, "metadata": metadata or {}}
        response = requests.post(self.stack.rest_webhook, json=body, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def pin(self, lat_lon: Tuple[float, float]) -> Replies:
        return self.say("/share_location", {"location": {"latitude": lat_lon[0], "longitude": lat_lon[1]}})

    def pin_anew(self, lat_lon: Tuple[float, float]) -> Replies:
        """A pin; where the assistant offers a report nearby to follow, this one is sent anyway,
        typed as people do."""
        replies = self.pin(lat_lon)
        return self.say("gửi mới") if offers_to_follow(replies) else replies

    def file_report(self) -> str:
        """The straight way through a report (COMPLAINT, its category, a pin in Phường Thuận Hóa, no
        photo, send); the code the assistant gave."""
        for message in (COMPLAINT, "/affirm"):
            self.say(message)
        if offers_to_follow(self.pin(THUAN_HOA)):
            self.say("/affirm")  # the same street light reported before: this one is sent all the same
        self.say("/deny")
        replies = self.say("/affirm")
        code = REPORT_CODE.search(text(replies))
        assert code, replies
        return code.group(0)


def text(replies: Replies) -> str:
    """Everything the bot wrote, one reply a line."""
    return "\n".join(r.get("text") or "" for r in replies)


def payloads(replies: Replies) -> List[str]:
    """The payloads of every button offered."""
    return [b["payload"] for r in replies for b in r.get("buttons") or []]


def offers_to_follow(replies: Replies) -> List[str]:
    """The codes of the nearby reports the assistant offers to follow (bot/duplicates.py)."""
    return [match.group(1) for payload in payloads(replies)
            if (match := re.match(r'^/inform\{"report_id":"(PA\d{6})"\}$', payload))]


class ChatCitizen:
    """Files a report over a chat channel, answering what the bot last said as a citizen would:
    the complaint, a pin in Phường Thuận Hóa when asked where, a photo when asked for photos,
    otherwise the bot's own "yes" button. A subclass says how each is sent on its channel."""

    def __init__(self, stack: Stack, secret: str) -> None:
        self.stack = stack
        self.secret = secret  # what the platform signs its webhook calls with
        self.transcript: List[str] = []
        self.pin_sent = self.photo_sent = False
        self.messages_sent = 0

    async def file_report(self, answer: "re.Pattern[str]" = REPORT_CODE) -> str:
        """The code of the report, once the bot gave one (or what matched `answer`, the bot's
        last words to the confirmation, e.g. that the report was queued)."""
        await self.say(COMPLAINT)
        for _ in range(12):
            said = self.last_text()
            if "vẫn gửi phản ánh mới" in said:  # the same problem reported nearby: this one is sent all the same
                await self.yes()
                continue
            code = answer.search(said)
            if code:
                assert self.pin_sent and self.photo_sent, self.transcript
                return code.group(0)
            lowered = said.lower()
            if not self.pin_sent and ("vị trí" in lowered or "ở đâu" in lowered):
                self.pin_sent = True
                await self.pin(*THUAN_HOA)
            elif not self.photo_sent and "ảnh" in lowered:
                self.photo_sent = True
                await self.photo(jpeg("orange"))
            else:
                await self.yes()
        pytest.fail("no report code; conversation:\n" + "\n".join(self.transcript))

    async def _exchange(self, what: str, send: Callable[[int], Awaitable[int]]) -> None:
        """`send(n)` posts the citizen's n-th message; then waits until the bot answered and
        stayed quiet for a moment (it may send several messages). Both sides go into the
        transcript."""
        before = len(self.bot_texts())
        self.messages_sent += 1
        status = await send(self.messages_sent)
        assert status == 200, f"the webhook answered {status} to {what}"
        await eventually(lambda: len(self.bot_texts()) > before, f"an answer to {what}", timeout_s=60)
        await asyncio.sleep(1.0)
        self.transcript += [f"> {what}"] + [f"< {t}" for t in self.bot_texts()[before:]]

    def last_text(self) -> str:
        return self.bot_texts()[-1]

    def bot_texts(self) -> List[str]:
        raise NotImplementedError

    async def say(self, words: str) -> None:
        raise NotImplementedError

    async def pin(self, lat: float, lon: float) -> None:
        raise NotImplementedError

    async def photo(self, data: bytes) -> None:
        raise NotImplementedError

    async def yes(self) -> None:
        raise NotImplementedError


class TelegramCitizen(ChatCitizen):
    CHAT = 31337

    def __init__(self, stack: Stack, api: telegram.TelegramStandin, secret: str) -> None:
        super().__init__(stack, secret)
        self.api = api

    def bot_texts(self) -> List[str]:
        return self.api.texts(self.CHAT)

    async def _post(self, make_update: Callable[[int], Dict[str, Any]], what: str) -> None:
        await self._exchange(what, lambda n: telegram.post_update(self.stack.rasa_url, make_update(n), self.secret))

    async def say(self, words: str) -> None:
        await self._post(lambda n: telegram.message_update(n, chat_id=self.CHAT, text=words), words)

    async def pin(self, lat: float, lon: float) -> None:
        keyboard = self.api.messages(self.CHAT)[-1]["reply_markup"]["keyboard"]
        assert keyboard[0][0]["request_location"] is True  # the "send my location" button
        location = {"latitude": lat, "longitude": lon}
        await self._post(lambda n: telegram.message_update(n, chat_id=self.CHAT, location=location), "(pin)")

    async def photo(self, data: bytes) -> None:
        self.api.files["e2e-photo"] = data
        sizes = telegram.photo_sizes("e2e-photo")
        await self._post(lambda n: telegram.message_update(n, chat_id=self.CHAT, photo=sizes), "(photo)")

    async def yes(self) -> None:
        markup = self.api.messages(self.CHAT)[-1].get("reply_markup") or {}
        buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
        [button] = [b for b in buttons if b["callback_data"] == "/affirm"]
        await self._post(lambda n: telegram.callback_update(n, button["callback_data"], chat_id=self.CHAT),
                         f"[{button['text']}]")


class ZaloCitizen(ChatCitizen):
    USER = "9001"

    def __init__(self, stack: Stack, api: zalo.ZaloStandin, oa_secret: str) -> None:
        super().__init__(stack, oa_secret)
        self.api = api

    def bot_texts(self) -> List[str]:
        return self.api.texts(self.USER)

    async def _post(self, name: str, what: str, **message: Any) -> None:
        def event(n: int) -> Dict[str, Any]:
            return zalo.event(name, f"e2e-{n}", app_id=self.api.app_id, user=self.USER, **message)

        await self._exchange(what, lambda n: zalo.post_event(self.stack.rasa_url, event(n), self.secret))

    async def say(self, words: str) -> None:
        await self._post("user_send_text", words, text=words)

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


class WebChatCitizen(ChatCitizen):
    """The web chat page, through its own routes (`/webhooks/web/`): what it shows is the replies
    to its requests, then what it fetched from its inbox (messages sent unprompted, each handed
    out once)."""

    INBOX_EVERY_S = 0.5  # the page asks every 5 s; a test need not wait that long, nor ask 50 times a second

    def __init__(self, stack: Stack) -> None:
        super().__init__(stack, secret="")  # the page signs nothing
        self.sender = uuid.uuid4().hex  # the shape of the page's own id (app.js)
        self.shown: Replies = []
        self.inbox_read_at = 0.0

    def replies(self) -> Replies:
        """Everything the page shows, its inbox read again (at most every INBOX_EVERY_S)."""
        if time.monotonic() - self.inbox_read_at >= self.INBOX_EVERY_S:
            self.inbox_read_at = time.monotonic()
            answer = requests.get(f"{self.stack.webchat_url}inbox", params={"sender": self.sender}, timeout=10)
            assert answer.status_code == 200, answer.text
            self.shown += answer.json()
        return self.shown

    def bot_texts(self) -> List[str]:
        return [reply["text"] for reply in self.replies() if reply.get("text")]

    async def _post(self, what: str, route: str, **body: Any) -> None:
        async def send(n: int) -> int:
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{self.stack.webchat_url}{route}", **body) as response:
                    if response.status == 200:
                        self.shown += await response.json()
                    return response.status

        await self._exchange(what, send)

    async def say(self, words: str) -> None:
        await self._post(words, "webhook", json={"sender": self.sender, "message": words})

    async def pin(self, lat: float, lon: float) -> None:
        location = {"latitude": lat, "longitude": lon}
        await self._post("(pin)", "webhook", json={"sender": self.sender, "location": location})

    async def photo(self, data: bytes) -> None:
        form = aiohttp.FormData({"sender": self.sender})
        form.add_field("file", data, filename="e2e.jpg", content_type="image/jpeg")
        await self._post("(photo)", "photo", data=form)

    async def yes(self) -> None:
        # A chip sends its payload as the message (app.js).
        offered = next(reply["buttons"] for reply in reversed(self.shown) if reply.get("buttons"))
        [button] = [b for b in offered if b["payload"] == "/affirm"]
        await self._post(f"[{button['title']}]", "webhook", json={"sender": self.sender, "message": "/affirm"})
