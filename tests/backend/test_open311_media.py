"""Photo upload round trip: checked by content, EXIF stripped, served under a stable URL."""
import io
from urllib.parse import urlsplit

import aiohttp
from PIL import Image

from bot import photos
from bot.settings import DEV_API_KEY
from tests.support.images import image, phone_photo
from tests.support.open311 import API, create_at_phu_xuan, show


def _upload_form(data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg",
                 api_key: str = DEV_API_KEY) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if api_key:
        form.add_field("api_key", api_key)
    form.add_field("file", data, filename=filename, content_type=content_type)
    return form


async def test_upload_strips_exif_and_serves_the_photo(client, settings):
    original = phone_photo()
    response = await client.post(f"{API}/media.json", data=_upload_form(original))
    assert response.status == 201, await response.text()
    url = (await response.json())["media_url"]
    assert url.startswith(f"{settings.effective_backend_public_url}/media/") and url.endswith(".jpg")

    served = await client.get(urlsplit(url).path)
    assert served.status == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    body = await served.read()
    assert photos.sniff(body) == "image/jpeg"
    assert photos.gps_from_exif(body) is None and b"PhoneMaker" not in body
    with Image.open(io.BytesIO(body)) as picture:
        assert picture.size == (32, 64)  # orientation 6 applied, then dropped with the EXIF
        assert not dict(picture.getexif())

    # The URL goes into a report like any other media_url.
    code = await create_at_phu_xuan(client, media_url=url)
    assert (await show(client, code))["media_url"] == url


async def test_upload_accepts_png_and_webp_with_their_extension(client):
    for fmt, ext in (("PNG", ".png"), ("WEBP", ".webp")):
        response = await client.post(
            f"{API}/media.json", data=_upload_form(image(fmt), f"x{ext}", "application/octet-stream")
        )
        assert response.status == 201
        assert (await response.json())["media_url"].endswith(ext)


async def test_text_renamed_jpg_is_refused(client, settings):
    response = await client.post(
        f"{API}/media.json", data=_upload_form(b"just some text\n" * 20, "photo.jpg", "image/jpeg")
    )
    assert response.status == 400
    [error] = await response.json()
    assert error["code"] == 400 and "JPEG" in error["description"]
    assert not settings.media_dir.exists() or not any(settings.media_dir.iterdir())


async def test_upload_refusals(client):
    photo = phone_photo()
    response = await client.post(f"{API}/media.json", data=_upload_form(photo, api_key="wrong"))
    assert response.status == 403
    response = await client.post(f"{API}/media.json", data=_upload_form(photo, api_key=""))
    assert response.status == 403
    response = await client.post(f"{API}/media.json", data={"api_key": DEV_API_KEY})
    assert response.status == 400
    form = aiohttp.FormData()
    form.add_field("api_key", DEV_API_KEY)
    form.add_field("other", b"x", filename="x.bin")
    response = await client.post(f"{API}/media.json", data=form)
    assert response.status == 400
    assert (await response.json())[0]["code"] == 400


async def test_too_big_upload_is_413(client):
    huge = b"\xff\xd8\xff" + bytes(photos.MAX_PHOTO_BYTES)
    response = await client.post(f"{API}/media.json", data=_upload_form(huge))
    assert response.status == 413
    assert (await response.json())[0]["code"] == 413


async def test_unknown_or_unsafe_media_names_are_404(client):
    for path in ("/media/AAAAAAAAAAAAAAAAAAAAAA.jpg", "/media/..%2Fbackend.sqlite3", "/media/x.txt"):
        response = await client.get(path)
        assert response.status == 404
        assert (await response.json())[0]["code"] == 404
