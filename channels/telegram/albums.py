"""Telegram albums: one message to the assistant for several photos sent together.

Telegram delivers an album as one update per photo, sharing a `media_group_id`, and never says
which one is the last: an album is complete once no photo joined it for `quiet_s`.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Dict, List

from bot.messages import Photo


@dataclass
class Album:
    chat_id: str
    user_id: str
    photos: List[Photo] = field(default_factory=list)
    caption: str = ""
    last_added: float = 0.0


class Albums:
    def __init__(self, quiet_s: float) -> None:
        self.quiet_s = quiet_s
        self._open: Dict[str, Album] = {}

    def add(self, group_id: str, chat_id: str, user_id: str, photo: Photo, caption: str) -> bool:
        """Adds a photo; True when it opened a new album (whose closing the caller awaits)."""
        album = self._open.get(group_id)
        opened = album is None
        if album is None:
            album = self._open[group_id] = Album(chat_id, user_id)
        album.photos.append(photo)
        album.caption = album.caption or caption  # Telegram puts the caption on one photo only
        album.last_added = asyncio.get_running_loop().time()
        return opened

    async def quiet(self, group_id: str) -> None:
        """Returns once the album got no photo for `quiet_s`."""
        loop = asyncio.get_running_loop()
        while group_id in self._open:
            wait = self._open[group_id].last_added + self.quiet_s - loop.time()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    def take(self, group_id: str) -> List[Album]:
        album = self._open.pop(group_id, None)
        return [album] if album else []

    def take_chat(self, chat_id: str) -> List[Album]:
        """The chat's open albums, closed now: a message sent after them must not overtake them."""
        ids = [gid for gid, album in self._open.items() if album.chat_id == chat_id]
        return [self._open.pop(gid) for gid in ids]
