"""The people and the agency the tests issue certificates to (valid CCCD and tax-code check digits)."""

from __future__ import annotations

from ca.subjects import SubjectFields

CITIZEN = SubjectFields(
    surname="Nguyễn",
    given_name="Văn An",
    cccd="079203001234",
    province="Thành phố Hồ Chí Minh",
    locality="Phường Bến Thành",
)
OFFICIAL = SubjectFields(
    surname="Trần",
    given_name="Thị Bình",
    cccd="079185001235",
    organization="UBND Phường Bến Thành",
    organizational_unit="Văn phòng",
    title="Phó Chủ tịch",
    province="Thành phố Hồ Chí Minh",
)
AGENCY = SubjectFields(
    organization="UBND Phường Bến Thành", tax_code="0300588569", province="Thành phố Hồ Chí Minh"
)
SUBJECTS = {"citizen": CITIZEN, "official": OFFICIAL, "agency-seal": AGENCY}
