"""Vietnamese identifiers: the 12-digit citizen identity number (CCCD) and the tax code (MST).

CCCD structure (Circular 07/2016/TT-BCA, art. 7): 3 digits of the province where the birth was
registered, 1 digit of century and sex, 2 digits of the birth year, 6 random digits.
Tax codes (Circular 105/2020/TT-BTC): 10 digits whose last is a check digit, optionally followed by
``-`` and a 3-digit branch number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import malformed

PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hòa Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hóa",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hòa",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}

_CENTURY_BY_DIGIT = {0: 1900, 1: 1900, 2: 2000, 3: 2000, 4: 2100, 5: 2100, 6: 2200, 7: 2200, 8: 2300, 9: 2300}
_TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


@dataclass(frozen=True)
class Cccd:
    number: str
    province: str
    birth_year: int
    sex: str  # "male" | "female"


def parse_cccd(text: str) -> Cccd:
    """Validate a CCCD number and return its parts; raises a MALFORMED ServiceError naming the fault."""
    number = text.strip()
    if not re.fullmatch(r"\d+", number):
        raise malformed(f"CCCD number must contain digits only, got {text!r}")
    if len(number) != 12:
        raise malformed(f"CCCD number must have 12 digits, got {len(number)}")
    province = PROVINCE_CODES.get(number[:3])
    if province is None:
        raise malformed(f"CCCD number starts with {number[:3]}, which is not a province code")
    century_digit = int(number[3])
    return Cccd(
        number=number,
        province=province,
        birth_year=_CENTURY_BY_DIGIT[century_digit] + int(number[4:6]),
        sex="male" if century_digit % 2 == 0 else "female",
    )


def parse_tax_code(text: str) -> str:
    """Validate a tax code (MST), ``0301234562`` or ``0301234562-001``; returns it normalised."""
    code = text.strip()
    match = re.fullmatch(r"(\d{10})(?:-(\d{3}))?", code)
    if not match:
        raise malformed(f"tax code must be 10 digits, optionally followed by -NNN, got {text!r}")
    digits = [int(c) for c in match.group(1)]
    check = 10 - sum(w * d for w, d in zip(_TAX_WEIGHTS, digits, strict=False)) % 11
    if check != digits[9]:
        raise malformed(f"tax code {match.group(1)} fails its check digit")
    return code
