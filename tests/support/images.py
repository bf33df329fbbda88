"""Small real photos for the tests, with the EXIF a phone writes when asked."""
from __future__ import annotations

import io
from typing import Optional, Tuple

from PIL import Image

from tests.support.places import PHU_XUAN

LatLon = Tuple[float, float]


def image(fmt: str = "JPEG", size: Tuple[int, int] = (64, 48), color=(200, 120, 40), *,
          mode: str = "RGB", gps: Optional[LatLon] = None, orientation: Optional[int] = None,
          maker: Optional[str] = None) -> bytes:
    """An image encoded as `fmt` (JPEG, PNG, WEBP, GIF); EXIF only with a position, a rotation
    flag (6: the upright picture is turned a quarter) or a camera maker."""
    out = io.BytesIO()
    picture = Image.new(mode, size, color)
    exif = _exif(gps, orientation, maker)
    if exif is None:
        picture.save(out, fmt)
    else:
        picture.save(out, fmt, exif=exif)
    return out.getvalue()


def jpeg(color=(200, 120, 40), size: Tuple[int, int] = (64, 48), *, gps: Optional[LatLon] = None) -> bytes:
    """A JPEG, with an EXIF position (latitude, longitude) when asked."""
    return image("JPEG", size, color, gps=gps)


def phone_photo(lat: float = PHU_XUAN[0], lon: float = PHU_XUAN[1]) -> bytes:
    """A JPEG as a phone writes it: 64x32 pixels turned upright to 32x64 by its rotation flag,
    the camera's maker ("PhoneMaker") and where it was taken."""
    return image("JPEG", (64, 32), (30, 120, 200), gps=(lat, lon), orientation=6, maker="PhoneMaker")


def _exif(gps: Optional[LatLon], orientation: Optional[int], maker: Optional[str]) -> Optional[Image.Exif]:
    if gps is None and orientation is None and maker is None:
        return None
    exif = Image.Exif()
    if maker is not None:
        exif[0x010F] = maker
    if orientation is not None:
        exif[0x0112] = orientation
    if gps is not None:
        lat, lon = gps
        fields = exif.get_ifd(0x8825)
        fields[1], fields[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        fields[3], fields[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
    return exif


def _dms(value: float) -> Tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)
