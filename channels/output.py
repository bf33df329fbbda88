"""What the channels share on the way out: platform ids, text pieces, buttons as numbers.

Rasa's replies are message dicts (`text`, `buttons`, `image`, `custom`); each channel turns them
into its platform's calls with these helpers, so long texts and button lists behave alike.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Sequence

from channels.state import ChannelState

Button = Dict[str, Any]

# What a channel keeps in process (the pace of its own replies to each chat): bounded, so that a
# flood of senders cannot grow it without end. What must survive a restart or be shared by
# replicas (buttons, handled ids, senders' limits) is in `channels.state`.
MEMORY = 10_000
# How long the buttons of a bot message still answer when their title (or number) is typed.
BUTTONS_KEEP_S = 7 * 24 * 3600


class Undelivered(Exception):
    """The platform did not take a message sent unprompted (Rasa's HTTP API, `get_output_channel()`):
    raised so that Rasa answers the caller an error instead of 200. Within a conversation a failed
    reply is only logged, so that the turn goes on."""


def sender_id(channel: str, native_id: Any) -> str:
    """The Rasa conversation id: prefixed, so one person's chats never mix across channels."""
    return f"{channel}:{native_id}"


def native_id(recipient_id: str) -> str:
    """The platform's own id back from a Rasa conversation id."""
    return recipient_id.split(":", 1)[1] if ":" in recipient_id else recipient_id


def _units(text: str) -> int:
    # Telegram counts message length in UTF-16 code units, where an emoji counts twice.
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int) -> List[str]:
    """`text` in pieces of at most `limit` units, cut at line ends, else at spaces, else anywhere."""
    pieces: List[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while _units(line) > limit:
            head = _cut(line, limit)
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
            line = line[len(head):]
        if _units(current + line) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current:
        pieces.append(current)
    return [piece.rstrip() for piece in pieces if piece.strip()]


def _cut(line: str, limit: int) -> str:
    head = line
    while _units(head) > limit:
        head = head[: len(head) - max(1, (_units(head) - limit) // 2)]
    space = head.rfind(" ")
    return head[: space + 1] if space > 0 else head


def numbered(text: str, buttons: Sequence[Button]) -> str:
    """The question followed by its buttons as a numbered list, for channels without buttons."""
    lines = [f"{i}. {b.get('title', '')}" for i, b in enumerate(buttons, start=1)]
    hint = "(Bạn trả lời bằng số thứ tự, ví dụ: 1)"
    return "\n".join(filter(None, [text, "", *lines, hint]))


class ButtonMemory:
    """The buttons of the last bot message to each user, so that typing a button's title (or its
    number, where the channel showed numbers) answers with its payload. Kept in the channels'
    shared state under `namespace`, for BUTTONS_KEEP_S.
    """

    def __init__(self, state: ChannelState, namespace: str, *, by_number: bool) -> None:
        self._state = state
        self._namespace = namespace
        self._by_number = by_number

    def _key(self, user: str) -> str:
        return f"{self._namespace}:buttons:{user}"

    async def remember(self, user: str, buttons: Sequence[Button]) -> None:
        # Every bot message replaces the memory: an old list must not turn a later "1" into a click.
        if buttons:
            await self._state.set(self._key(user), json.dumps(list(buttons)), BUTTONS_KEEP_S)
        else:
            await self._state.delete(self._key(user))

    async def resolve(self, user: str, text: str) -> Optional[str]:
        raw = await self._state.get(self._key(user))
        buttons: List[Button] = json.loads(raw) if raw else []
        typed = text.strip().rstrip(".").casefold()
        if self._by_number and re.fullmatch(r"\d{1,2}", typed) and 1 <= int(typed) <= len(buttons):
            return buttons[int(typed) - 1].get("payload")
        for button in buttons:
            if typed == str(button.get("title", "")).strip().casefold():
                return button.get("payload")
        return None
