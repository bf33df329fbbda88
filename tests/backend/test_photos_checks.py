"""Photos are recognised by their content, read for a position and stripped of their EXIF."""
import io

import pytest
from PIL import Image

from bot import photos
from tests.support.images import image, phone_photo
from tests.support.places import PHU_XUAN


@pytest.mark.parametrize(
    "fmt, content_type", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_sniff_knows_the_three_formats_by_content(fmt, content_type):
    assert photos.sniff(image(fmt)) == content_type


def test_sniff_refuses_what_only_looks_like_an_image():
    assert photos.sniff(b"hello, this is a text file") is None
    assert photos.sniff(b"\xff\xd8\xff" + b"not really a jpeg" * 10) is None
    assert photos.sniff(image("GIF")) is None
    assert photos.sniff(b"") is None


def test_check_refuses_empty_and_too_big_with_vietnamese_messages():
    with pytest.raises(photos.PhotoError, match="Ảnh trống"):
        photos.check(b"")
    with pytest.raises(photos.PhotoError, match="quá lớn"):
        photos.check(b"\xff\xd8\xff" + bytes(photos.MAX_PHOTO_BYTES))


def test_gps_from_exif_reads_a_phone_photo():
    assert photos.gps_from_exif(phone_photo()) == pytest.approx(PHU_XUAN, abs=1e-5)
    assert photos.gps_from_exif(phone_photo(-33.86, -70.65)) == pytest.approx((-33.86, -70.65), abs=1e-5)
    assert photos.gps_from_exif(image("JPEG")) is None
    assert photos.gps_from_exif(b"garbage") is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_strip_exif_removes_metadata_keeps_format_and_applies_orientation(fmt):
    # Rotated 90°: the upright picture is 10 wide and 20 high.
    original = image(fmt, (20, 10), mode="RGBA" if fmt == "PNG" else "RGB",
                     gps=PHU_XUAN, orientation=6, maker="PhoneMaker")

    stripped = photos.strip_exif(original)

    assert photos.sniff(stripped) == photos.sniff(original)
    with Image.open(io.BytesIO(stripped)) as picture:
        assert picture.size == (10, 20)
        assert not dict(picture.getexif())
        assert "exif" not in picture.info


def test_strip_exif_drops_the_position_of_a_phone_photo():
    stripped = photos.strip_exif(phone_photo())
    assert photos.gps_from_exif(stripped) is None
    assert b"PhoneMaker" not in stripped


def test_strip_exif_refuses_non_images():
    with pytest.raises(photos.PhotoError):
        photos.strip_exif(b"plain text renamed photo.jpg")
