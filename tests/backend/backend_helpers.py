"""Helpers of the routing backend's tests (a module of its own: conftest cannot be imported)."""
from __future__ import annotations

import io

from PIL import Image

from bot.settings import DEV_API_KEY

API = "/open311/v2"
PHU_XUAN = (16.4785, 107.577)  # label point of Phường Phú Xuân, beside the Citadel
DA_NANG = (16.0544, 108.2022)  # outside Huế


async def create(client, **fields):
    """POST requests.json with the development key; a field given as None is left out."""
    form = {"api_key": DEV_API_KEY, "service_code": "moi_truong", "description": "Rác ùn ứ", **fields}
    return await client.post(
        f"{API}/requests.json", data={k: v for k, v in form.items() if v is not None}
    )


async def create_at_phu_xuan(client, **fields) -> str:
    response = await create(client, lat=str(PHU_XUAN[0]), long=str(PHU_XUAN[1]), **fields)
    assert response.status == 201, await response.text()
    return (await response.json())[0]["service_request_id"]


def jpeg_with_gps(lat: float = PHU_XUAN[0], lon: float = PHU_XUAN[1], orientation: int = 6) -> bytes:
    """A real JPEG as a phone writes it: GPS position, camera make and a rotation flag."""
    def dms(value: float):
        degrees = int(value)
        minutes = int((value - degrees) * 60)
        return (float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4))

    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = ("N" if lat >= 0 else "S"), dms(abs(lat))
    gps[3], gps[4] = ("E" if lon >= 0 else "W"), dms(abs(lon))
    out = io.BytesIO()
    Image.new("RGB", (64, 32), (30, 120, 200)).save(out, "JPEG", exif=exif)
    return out.getvalue()
