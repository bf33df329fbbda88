"""Only for tests/backend/test_open311_client.py until it imports tests.support itself: the
helpers live in tests/support/ (places, images, open311). Delete this file then."""
from tests.support.images import phone_photo as jpeg_with_gps
from tests.support.places import PHU_XUAN

__all__ = ["PHU_XUAN", "jpeg_with_gps"]
