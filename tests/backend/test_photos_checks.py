import io

import pytest
from backend_helpers import PHU_XUAN, jpeg_with_gps
from PIL import Image

from bot import photos


def _encoded(fmt: str, **params) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA" if fmt == "PNG" else "RGB", (20, 10), (1, 2, 3)).save(out, fmt, **params)
    return out.getvalue()


@pytest.mark.parametrize(
    "fmt, content_type", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_sniff_knows_the_three_formats_by_content(fmt, content_type):
    assert photos.sniff(_encoded(fmt)) == content_type


def test_sniff_refuses_what_only_looks_like_an_image():
    assert photos.sniff(b"hello, this is a text file") is None
    assert photos.sniff(b"\xff\xd8\xff" + b"not really a jpeg" * 10) is None
    assert photos.sniff(_encoded("GIF")) is None
    assert photos.sniff(b"") is None


def test_check_refuses_empty_and_too_big_with_vietnamese_messages():
    with pytest.raises(photos.PhotoError, match="Ảnh trống"):
        photos.check(b"")
    with pytest.raises(photos.PhotoError, match="quá lớn"):
        photos.check(b"\xff\xd8\xff" + bytes(photos.MAX_PHOTO_BYTES))
    assert isinstance(photos.PhotoError("x"), ValueError)


def test_gps_from_exif_reads_a_phone_photo():
    lat, lon = photos.gps_from_exif(jpeg_with_gps())
    assert lat == pytest.approx(PHU_XUAN[0], abs=1e-5)
    assert lon == pytest.approx(PHU_XUAN[1], abs=1e-5)
    assert photos.gps_from_exif(jpeg_with_gps(-33.86, -70.65)) == pytest.approx((-33.86, -70.65), abs=1e-5)
    assert photos.gps_from_exif(_encoded("JPEG")) is None
    assert photos.gps_from_exif(b"garbage") is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_strip_exif_removes_metadata_keeps_format_and_applies_orientation(fmt):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°: the upright picture is 10 wide and 20 high
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825)[1] = "N"
    original = _encoded(fmt, exif=exif)

    stripped = photos.strip_exif(original)

    assert photos.sniff(stripped) == photos.sniff(original)
    with Image.open(io.BytesIO(stripped)) as image:
        assert image.size == (10, 20)
        assert not dict(image.getexif())
        assert "exif" not in image.info


def test_strip_exif_drops_the_position_of_a_phone_photo():
    stripped = photos.strip_exif(jpeg_with_gps())
    assert photos.gps_from_exif(stripped) is None
    assert b"PhoneMaker" not in stripped


def test_strip_exif_refuses_non_images():
    with pytest.raises(photos.PhotoError):
        photos.strip_exif(b"plain text renamed photo.jpg")
