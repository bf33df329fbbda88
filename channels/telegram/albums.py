"""Telegram albums: one message to the assistant for several photos sent together.

Telegram delivers an album as one update per photo, sharing a `media_group_id`, and never says
which one is the last: an album is complete once no photo joined it for `quiet_s`. Its photos may
reach different replicas, so open albums live in the channels' state (`channels.state`), changed
under a lock per chat: the replica whose photo opened an album sends it, whole, and a message of
the same chat on any replica sends the chat's open albums before itself. An album whose replica
died is sent with the chat's next message.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import AsyncContextManager, List, Optional

from bot.messages import Photo
from channels.state import ChannelState, hold

# An open album waits this long at most for the chat's next message when its replica died.
KEEP_S = 3600
# Each change of a chat's albums is a few reads and writes of the state.
LOCK_LEASE_S = 10


@dataclass
class Album:
    chat_id: str
    user_id: str
    photos: List[Photo] = field(default_factory=list)
    caption: str = ""
    last_added: float = 0.0  # Unix time: the replicas' clocks agree on it, not their event loops'


class Albums:
    def __init__(self, state: ChannelState, namespace: str, quiet_s: float) -> None:
        """`namespace`: the bot's keys in the state."""
        self.state = state
        self.namespace = namespace
        self.quiet_s = quiet_s

    async def add(self, group_id: str, chat_id: str, user_id: str, photo: Photo, caption: str) -> bool:
        """Adds a photo; True when it opened a new album (whose closing the caller awaits)."""
        async with self._chat(chat_id):
            album = await self._get(group_id)
            opened = album is None
            if album is None:
                album = Album(chat_id, user_id)
                groups = await self._groups(chat_id)
                await self.state.set(self._groups_key(chat_id), json.dumps(groups + [group_id]), KEEP_S)
            album.photos.append(photo)
            album.caption = album.caption or caption  # Telegram puts the caption on one photo only
            album.last_added = time.time()
            await self.state.set(self._album_key(group_id), json.dumps(dataclasses.asdict(album)), KEEP_S)
        return opened

    async def quiet(self, group_id: str) -> None:
        """Returns once the album got no photo for `quiet_s` (or was sent meanwhile)."""
        while (album := await self._get(group_id)) is not None:
            wait = album.last_added + self.quiet_s - time.time()
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def take(self, group_id: str, chat_id: str) -> List[Album]:
        async with self._chat(chat_id):
            groups = await self._groups(chat_id)
            if group_id in groups:
                groups.remove(group_id)
                await self.state.set(self._groups_key(chat_id), json.dumps(groups), KEEP_S)
            return await self._take(group_id)

    async def take_chat(self, chat_id: str) -> List[Album]:
        """The chat's open albums, closed now: a message sent after them must not overtake them."""
        async with self._chat(chat_id):
            groups = await self._groups(chat_id)
            await self.state.delete(self._groups_key(chat_id))
            return [album for group_id in groups for album in await self._take(group_id)]

    async def _take(self, group_id: str) -> List[Album]:
        album = await self._get(group_id)
        await self.state.delete(self._album_key(group_id))
        return [album] if album else []

    async def _get(self, group_id: str) -> Optional[Album]:
        raw = await self.state.get(self._album_key(group_id))
        if raw is None:
            return None
        album = json.loads(raw)
        return Album(**{**album, "photos": [Photo(**photo) for photo in album["photos"]]})

    async def _groups(self, chat_id: str) -> List[str]:
        return json.loads(await self.state.get(self._groups_key(chat_id)) or "[]")

    def _chat(self, chat_id: str) -> AsyncContextManager[None]:
        return hold(self.state, f"{self.namespace}:albums-lock:{chat_id}", LOCK_LEASE_S)

    def _album_key(self, group_id: str) -> str:
        return f"{self.namespace}:album:{group_id}"

    def _groups_key(self, chat_id: str) -> str:
        return f"{self.namespace}:albums:{chat_id}"
