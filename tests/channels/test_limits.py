"""The channels' shared limits (channels/limits.py): per sender, told once, forgotten in time."""
from __future__ import annotations

import asyncio

from bot.settings import Settings
from channels.limits import MAX_TEXT_CHARS, TOO_FAST, TOO_LONG, TOO_MANY_PHOTOS, InboundLimits, SenderRate


async def test_a_sender_past_the_limit_is_refused_and_told_once():
    limits = InboundLimits(Settings(sender_messages_per_minute=2), "rest")
    assert await limits.message("telegram:1") is None
    assert await limits.message("telegram:1", "alo") is None
    first, second = await limits.message("telegram:1"), await limits.message("telegram:1")
    assert first is not None and second is not None
    assert (first.text, first.status, first.repeated) == (TOO_FAST, 429, False)
    assert second.repeated  # chat channels stay quiet from here on
    assert await limits.message("telegram:2") is None  # nobody else is held up


async def test_a_text_too_long_is_refused_whoever_sends_it():
    limits = InboundLimits(Settings(), "rest")
    assert await limits.message("zalo:1", "x" * MAX_TEXT_CHARS) is None
    refusal = await limits.message("zalo:1", "x" * (MAX_TEXT_CHARS + 1))
    assert refusal is not None and (refusal.text, refusal.status) == (TOO_LONG, 400)


async def test_photos_are_counted_per_sender_and_an_album_at_once():
    limits = InboundLimits(Settings(sender_photos_per_hour=5), "rest")
    assert await limits.photos("zalo:1", 3) is None
    refusal = await limits.photos("zalo:1", 3)  # 6 > 5: the album is refused whole
    assert refusal is not None and refusal.text == TOO_MANY_PHOTOS
    assert await limits.photos("zalo:1", 2) is None
    assert await limits.photos("zalo:2", 5) is None


async def test_the_limit_frees_up_as_time_passes():
    rate = SenderRate(2, 0.2)
    assert [await rate.take("a") for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.3)
    assert await rate.take("a")
