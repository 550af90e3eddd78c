"""Subjects following Vietnamese CA practice and ETSI EN 319 412-2/-3.

People: ``CN`` full name with diacritics, ``SN``/``GN``, ``serialNumber=PNOVN-<CCCD>`` (the ETSI semantic
identifier for a national personal number), ``UID=CCCD:<12 digits>``. Organisations:
``organizationIdentifier=NTRVN-<tax code>`` and ``UID=MST:<tax code>``. ``ST`` province, ``L`` ward.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, fields, replace

from cryptography import x509
from cryptography.x509.oid import NameOID

from core.errors import malformed
from core.vn_ids import parse_cccd, parse_tax_code

_UPPER_BOUNDS = {
    "common_name": 64,
    "surname": 64,
    "given_name": 64,
    "organization": 64,
    "organizational_unit": 64,
    "title": 64,
    "province": 128,
    "locality": 128,
}
_LABELS = {
    "common_name": "name (CN)",
    "surname": "surname",
    "given_name": "given name",
    "cccd": "CCCD",
    "organization": "organization",
    "organizational_unit": "organizational unit",
    "title": "title",
    "tax_code": "tax code",
    "province": "province",
    "locality": "locality",
}
_REQUIRED = {
    "natural-person": ("common_name", "surname", "given_name", "cccd"),
    "natural-person-in-organisation": ("common_name", "surname", "given_name", "cccd", "organization"),
    "legal-person": ("common_name", "organization", "tax_code"),
    "authority": ("common_name", "organization"),
    "service": ("common_name", "organization"),
}
_ALLOWED = {
    "natural-person": {"common_name", "surname", "given_name", "cccd", "province", "locality"},
    "natural-person-in-organisation": {
        "common_name",
        "surname",
        "given_name",
        "cccd",
        "organization",
        "organizational_unit",
        "title",
        "province",
        "locality",
    },
    "legal-person": {
        "common_name",
        "organization",
        "organizational_unit",
        "tax_code",
        "province",
        "locality",
    },
    "authority": {"common_name", "organization", "organizational_unit"},
    "service": {"common_name", "organization", "organizational_unit"},
}


@dataclass(frozen=True)
class SubjectFields:
    common_name: str | None = None
    surname: str | None = None
    given_name: str | None = None
    cccd: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    title: str | None = None
    tax_code: str | None = None
    province: str | None = None
    locality: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, str | None]) -> SubjectFields:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _clean_text(label: str, value: str, bound: int | None) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise malformed(f"{label} must not be empty")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise malformed(f"{label} contains control characters")
    if bound is not None and len(text) > bound:
        raise malformed(f"{label} is {len(text)} characters long; at most {bound} are allowed")
    return text


def normalise(subject_kind: str, requested: SubjectFields) -> SubjectFields:
    """Check the fields a profile needs, fill the derived ones, normalise text to NFC."""
    given = {k: v for k, v in requested.as_dict().items()}
    if "common_name" not in given:
        if subject_kind.startswith("natural-person") and given.get("surname") and given.get("given_name"):
            given["common_name"] = f"{given['surname']} {given['given_name']}"
        elif subject_kind == "legal-person" and given.get("organization"):
            given["common_name"] = given["organization"]
    extra = set(given) - _ALLOWED[subject_kind]
    if extra:
        raise malformed(
            f"{', '.join(sorted(_LABELS[e] for e in extra))} not allowed in a {subject_kind} subject"
        )
    for name in _REQUIRED[subject_kind]:
        if not str(given.get(name) or "").strip():
            raise malformed(f"{_LABELS[name]} is required for a {subject_kind} certificate")
    cleaned: dict[str, str] = {}
    for name, value in given.items():
        if name == "cccd":
            cleaned[name] = parse_cccd(value).number
        elif name == "tax_code":
            cleaned[name] = parse_tax_code(value)
        else:
            cleaned[name] = _clean_text(_LABELS[name], value, _UPPER_BOUNDS.get(name))
    return replace(SubjectFields(), **cleaned)


_RFC4514_NAMES = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.SURNAME: "SN",
    NameOID.GIVEN_NAME: "GN",
    NameOID.TITLE: "title",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
}


def rfc4514(name: x509.Name) -> str:
    """RFC 4514 text with readable names for the attributes Vietnamese subjects use."""
    return name.rfc4514_string(_RFC4514_NAMES)


def build_name(fields_: SubjectFields) -> x509.Name:
    """The distinguished name, most general attribute first."""
    attributes: list[x509.NameAttribute] = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]

    def add(oid: x509.ObjectIdentifier, value: str | None) -> None:
        if value:
            attributes.append(x509.NameAttribute(oid, value))

    add(NameOID.STATE_OR_PROVINCE_NAME, fields_.province)
    add(NameOID.LOCALITY_NAME, fields_.locality)
    add(NameOID.ORGANIZATION_NAME, fields_.organization)
    add(NameOID.ORGANIZATIONAL_UNIT_NAME, fields_.organizational_unit)
    add(NameOID.TITLE, fields_.title)
    add(NameOID.SURNAME, fields_.surname)
    add(NameOID.GIVEN_NAME, fields_.given_name)
    if fields_.cccd:
        add(NameOID.SERIAL_NUMBER, f"PNOVN-{fields_.cccd}")
    if fields_.tax_code:
        add(NameOID.ORGANIZATION_IDENTIFIER, f"NTRVN-{fields_.tax_code}")
        add(NameOID.USER_ID, f"MST:{fields_.tax_code}")
    if fields_.cccd:
        add(NameOID.USER_ID, f"CCCD:{fields_.cccd}")
    add(NameOID.COMMON_NAME, fields_.common_name)
    return x509.Name(attributes)
