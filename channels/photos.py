"""A citizen's photo, from bytes a channel downloaded to a `bot.messages.Photo` on the backend.

Every channel fetches its photos its own way (Bot API, Zalo's CDN, a web upload) and hands the
bytes here, so that the checks, the EXIF position and storage are the same on all of them.
Photos are stored at once because the platforms' own links expire.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Dict, Optional, Tuple

import aiohttp

from bot import photos
from bot.area import load_area
from bot.messages import Photo
from bot.open311_client import Open311Client
from bot.photos import MAX_PHOTO_BYTES, PhotoError
from bot.settings import Settings

logger = logging.getLogger(__name__)

STORE_FAILED = "Hiện chưa lưu được ảnh, bạn vui lòng gửi lại sau ít phút nhé."
DOWNLOAD_FAILED = "Không tải được ảnh bạn gửi, bạn vui lòng gửi lại nhé."
TOO_BIG = f"Ảnh quá lớn (tối đa {MAX_PHOTO_BYTES // (1024 * 1024)} MB), vui lòng gửi ảnh nhỏ hơn."


def _inspect(data: bytes) -> Tuple[str, Optional[Dict[str, float]]]:
    content_type = photos.check(data)
    gps = photos.gps_from_exif(data)
    # A position outside Huế is more likely the sender's home than the problem: leave it out.
    if gps and load_area().contains(*gps):
        return content_type, {"latitude": gps[0], "longitude": gps[1]}
    return content_type, None


async def store_photo(data: bytes, settings: Settings) -> Photo:
    """Checks the photo and stores it on the backend; PhotoError (Vietnamese) when it fails."""
    # Decoding a 10 MB photo takes a while: keep the event loop (and the webhooks) free.
    content_type, exif_location = await asyncio.get_running_loop().run_in_executor(
        None, _inspect, data
    )
    try:
        async with Open311Client.from_settings(settings) as client:
            url = await client.upload_media(
                data, f"photo.{photos.EXTENSIONS[content_type]}", content_type
            )
    except PhotoError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the backend did, the citizen retries
        logger.error("Storing a photo on the backend failed: %r", exc)
        raise PhotoError(STORE_FAILED) from exc
    return Photo(url=url, exif_location=exif_location)


async def download(session: aiohttp.ClientSession, url: str) -> bytes:
    """The bytes at `url` (a platform's photo link), refusing more than a photo may weigh."""
    try:
        async with session.get(url) as response:
            response.raise_for_status()
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > MAX_PHOTO_BYTES:
                    raise PhotoError(TOO_BIG)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        logger.warning("Downloading a photo failed: %r", exc)
        raise PhotoError(DOWNLOAD_FAILED) from exc
    return bytes(data)
