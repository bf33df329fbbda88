"""Photo checks shared by the backend and the channels: type by content, size, EXIF.

A photo is trusted only after its bytes are recognised *and* Pillow can decode them: a file name
or a declared content type says nothing. What is stored and served is re-encoded without EXIF,
because phone photos carry the citizen's GPS position and device details.
"""
from __future__ import annotations

import io
from typing import Any, Dict, Optional, Tuple

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTOS_PER_REPORT = 5
# Far above any phone camera; stops a small file that decompresses into gigabytes.
MAX_PIXELS = 50_000_000

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# Pillow format names per content type; phones write multi-picture JPEGs that Pillow calls MPO.
_PILLOW_FORMATS = {"image/jpeg": ("JPEG", "MPO"), "image/png": ("PNG",), "image/webp": ("WEBP",)}
_SAVE_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}

_GPS_IFD = 0x8825


class PhotoError(ValueError):
    """A photo we cannot accept; the message is Vietnamese and can be shown to the citizen."""


def _magic_type(data: bytes) -> Optional[str]:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def sniff(data: bytes) -> Optional[str]:
    """The content type (JPEG, PNG or WebP) if the bytes really are such an image, else None."""
    content_type = _magic_type(data)
    if content_type is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in _PILLOW_FORMATS[content_type]:
                return None
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return content_type


def check(data: bytes) -> str:
    """The content type of an acceptable photo; PhotoError says why one is not."""
    if not data:
        raise PhotoError("Ảnh trống, vui lòng gửi lại ảnh khác.")
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(
            f"Ảnh quá lớn (tối đa {MAX_PHOTO_BYTES // (1024 * 1024)} MB), vui lòng gửi ảnh nhỏ hơn."
        )
    content_type = sniff(data)
    if content_type is None:
        raise PhotoError("Tệp này không phải ảnh JPEG, PNG hoặc WebP hợp lệ.")
    return content_type


def _rational(value) -> float:
    return float(value[0]) / float(value[1]) if isinstance(value, tuple) else float(value)


def _degrees(dms, ref) -> float:
    degrees, minutes, seconds = (_rational(part) for part in dms)
    value = degrees + minutes / 60 + seconds / 3600
    return -value if str(ref).upper() in ("S", "W") else value


def gps_from_exif(data: bytes) -> Optional[Tuple[float, float]]:
    """(lat, lon) from a photo's EXIF GPS tags, or None when absent or unreadable."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            gps = image.getexif().get_ifd(_GPS_IFD)
        if not all(tag in gps for tag in (1, 2, 3, 4)):
            return None
        lat, lon = _degrees(gps[2], gps[1]), _degrees(gps[4], gps[3])
    except Exception:  # noqa: BLE001 - EXIF in the wild is malformed in every possible way
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return lat, lon


def strip_exif(data: bytes) -> bytes:
    """The photo re-encoded in its own format without EXIF/XMP/comments, orientation applied."""
    content_type = check(data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise PhotoError("Ảnh có kích thước quá lớn, vui lòng gửi ảnh nhỏ hơn.")
            upright = ImageOps.exif_transpose(image)
            # Pillow writes only the metadata passed to save(); keep just what changes the pixels.
            params: Dict[str, Any] = {k: upright.info[k] for k in ("icc_profile", "transparency") if k in upright.info}
            if content_type == "image/jpeg":
                if upright.mode not in ("RGB", "L", "CMYK"):
                    upright = upright.convert("RGB")
                params.pop("transparency", None)
                params["quality"] = 90
            out = io.BytesIO()
            upright.save(out, format=_SAVE_FORMAT[content_type], **params)
    except PhotoError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PhotoError("Không đọc được ảnh này, vui lòng gửi ảnh khác.") from exc
    return out.getvalue()
