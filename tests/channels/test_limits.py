"""The channels' shared limits (channels/limits.py): per sender, told once, forgotten in time, the
same whichever replica a message reaches; on both stores of the channels' state (the `state`
fixture: SQLite, Redis)."""
from __future__ import annotations

import asyncio
import uuid

from bot.settings import Settings
from channels.limits import MAX_TEXT_CHARS, TOO_FAST, TOO_LONG, TOO_MANY_PHOTOS, InboundLimits, SenderRate
from channels.state import RedisState, SqliteState
from tests.support.services import REDIS_URL


def senders(count: int):
    """Senders of this test alone (the Redis is shared by the tests)."""
    run = uuid.uuid4().hex[:8]
    return [f"telegram:{run}{i}" for i in range(count)]


async def test_a_sender_past_the_limit_is_refused_and_told_once(state):
    limits = InboundLimits(Settings(sender_messages_per_minute=2), "rest", state)
    one, other = senders(2)
    assert await limits.message(one) is None
    assert await limits.message(one, "alo") is None
    first, second = await limits.message(one), await limits.message(one)
    assert first is not None and second is not None
    assert (first.text, first.status, first.repeated) == (TOO_FAST, 429, False)
    assert second.repeated  # chat channels stay quiet from here on
    assert await limits.message(other) is None  # nobody else is held up


async def test_a_sender_is_limited_across_replicas(state, data_dir):
    """A flood spread over two Rasa servers gets no more through than it would through one."""
    settings = Settings(data_dir=data_dir, sender_messages_per_minute=4)
    other = SqliteState(state.path) if isinstance(state, SqliteState) else RedisState(REDIS_URL)
    replicas = [InboundLimits(settings, "telegram", state), InboundLimits(settings, "telegram", other)]
    [sender] = senders(1)
    refusals = [await replicas[i % 2].message(sender) for i in range(8)]
    await other.close()
    assert [refusal is None for refusal in refusals] == [True] * 4 + [False] * 4
    assert [refusal.repeated for refusal in refusals[4:]] == [False, True, True, True]  # told once, by either


async def test_a_text_too_long_is_refused_whoever_sends_it(state):
    limits = InboundLimits(Settings(), "rest", state)
    assert await limits.message("zalo:1", "x" * MAX_TEXT_CHARS) is None
    refusal = await limits.message("zalo:1", "x" * (MAX_TEXT_CHARS + 1))
    assert refusal is not None and (refusal.text, refusal.status) == (TOO_LONG, 400)


async def test_photos_are_counted_per_sender_and_an_album_at_once(state):
    limits = InboundLimits(Settings(sender_photos_per_hour=5), "rest", state)
    one, other = senders(2)
    assert await limits.photos(one, 3) is None
    refusal = await limits.photos(one, 3)  # 6 > 5: the album is refused whole
    assert refusal is not None and refusal.text == TOO_MANY_PHOTOS
    assert await limits.photos(one, 2) is None
    assert await limits.photos(other, 5) is None


async def test_the_limit_frees_up_as_time_passes(state):
    rate = SenderRate(state, "messages", 2, 0.2)
    [sender] = senders(1)
    assert [await rate.take(sender) for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.3)
    assert await rate.take(sender)
