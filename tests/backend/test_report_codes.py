import pytest

from bot.report_codes import format_report_code, normalize_report_code, report_number


@pytest.mark.parametrize(
    "typed", ["PA000123", "pa000123", "pa-000123", "PA 123", "Pa.123", " pa_0123 ", "PA123"]
)
def test_typed_forms_normalize_to_one_code(typed):
    assert normalize_report_code(typed) == "PA000123"


@pytest.mark.parametrize(
    "typed", ["", None, "PA", "123", "PA0000123", "PB000123", "PA000000", "PA 12a", "xin chào"]
)
def test_non_codes_give_none(typed):
    assert normalize_report_code(typed) is None


def test_number_and_format_are_inverse():
    assert format_report_code(7) == "PA000007"
    assert report_number("pa-000007") == 7
    assert report_number("hello") is None
