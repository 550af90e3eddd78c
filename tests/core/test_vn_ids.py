import pytest

from core.errors import Kind, ServiceError
from core.vn_ids import parse_cccd, parse_tax_code


def test_cccd_parts_are_read() -> None:
    cccd = parse_cccd(" 079203001234 ")
    assert (cccd.number, cccd.province, cccd.birth_year, cccd.sex) == (
        "079203001234",
        "Hồ Chí Minh",
        2003,
        "male",
    )
    assert parse_cccd("001185000001").sex == "female"
    assert parse_cccd("001185000001").birth_year == 1985


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("07920300123", "12 digits, got 11"),
        ("0792030012345", "12 digits, got 13"),
        ("999203001234", "999, which is not a province code"),
        ("003203001234", "003, which is not a province code"),
        ("07920300123a", "digits only"),
        ("", "digits only"),
    ],
)
def test_bad_cccd_is_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ServiceError) as caught:
        parse_cccd(text)
    assert caught.value.kind is Kind.MALFORMED
    assert problem in caught.value.message


@pytest.mark.parametrize("code", ["0300588569", "0100109106", "0100109106-001"])
def test_real_tax_codes_pass_their_check_digit(code: str) -> None:
    assert parse_tax_code(code) == code


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("0301234567", "check digit"),
        ("030123456", "10 digits"),
        ("0300588569-01", "10 digits"),
        ("abc", "10 digits"),
    ],
)
def test_bad_tax_codes_are_refused(code: str, problem: str) -> None:
    with pytest.raises(ServiceError) as caught:
        parse_tax_code(code)
    assert problem in caught.value.message
