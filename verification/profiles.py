"""Named trust profiles: which anchors a verification trusts.

``kyso-test`` is this instance's own (test) root, ``operator`` the anchors operators added
(``verification/anchors.py``); ``vn-public`` and ``vn-gov`` are public Vietnamese roots bundled with Kyso
(``verification/anchors_data/``, origins in its SOURCES.md). Each bundled file is pinned here by the SHA-256
of its DER certificate: a file that does not match its pin is refused, never trusted. The pins live in code,
apart from the data, so that replacing a file in an installation cannot change what it is checked against.

Which profiles are on is stored in the database (``store.trust_anchors``); a profile never switched keeps
its default (``kyso-test`` and ``operator`` on, the public ones off).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from asn1crypto import x509 as asn1_x509

from core.errors import Kind, ServiceError, not_found
from verification.trust import certificates_from_pem, subject_line

KYSO_TEST = "kyso-test"
VN_PUBLIC = "vn-public"
VN_GOV = "vn-gov"
OPERATOR = "operator"


@dataclass(frozen=True)
class Bundled:
    """A certificate file shipped with Kyso and the SHA-256 of its DER form."""

    file: str
    sha256: str
    intermediate: bool = False  # offered to path building only; the anchor is the profile's root


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    default: bool  # on until an operator switches it
    bundled: tuple[Bundled, ...] = ()


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(KYSO_TEST, "Kyso's own test root (this instance's CA)", True),
        Profile(
            VN_PUBLIC,
            "Vietnamese public CAs under the Vietnam National Root CA (NEAC)",
            False,
            (
                Bundled("vnrca256.pem", "bac8bf609ab420a8ee1780d74f4de5c7f7184959d2a7375b0a75e4c29f0908e7"),
                Bundled(
                    "vnpt-ca-sha2.pem",
                    "7d6ba5245317f9ed5d8bc765a4634d26ac6340d36b9f584df3b52d9c4a81a306",
                    intermediate=True,
                ),
            ),
        ),
        Profile(
            VN_GOV,
            "public-duty CAs under the Government Cipher Committee's RootCA G2 (Ban Cơ yếu Chính phủ)",
            False,
            (
                Bundled("rootcag2.pem", "f04ba4b459a7c9a1b971ad9b1cb833e695a80c79aea63b174b66a70edfe2fdb8"),
                Bundled(
                    "cpcag2.pem",
                    "d8cab7a4aef92e6bb2509d7c61cee7b44f3731b2d21074963530277b366fae4b",
                    intermediate=True,
                ),
            ),
        ),
        Profile(OPERATOR, "the anchors operators added (kyso trust add)", True),
    )
}


@dataclass(frozen=True)
class BundledCertificate:
    file: str
    subject: str
    sha256: str
    intermediate: bool
    certificate: asn1_x509.Certificate


def profile(name: str) -> Profile:
    found = PROFILES.get(name.strip().lower())
    if found is None:
        raise not_found(f"no trust profile {name!r}; the profiles are {', '.join(PROFILES)}")
    return found


def bundled(name: str, directory: Path | None = None) -> tuple[BundledCertificate, ...]:
    """The certificates a profile ships with, each checked against its pin (``directory`` replaces the
    package's data directory, for tests). Raises UNAVAILABLE when a file is missing or does not match."""
    return _load(profile(name).name, str(directory) if directory is not None else None)


@functools.lru_cache(maxsize=16)
def _load(name: str, directory: str | None) -> tuple[BundledCertificate, ...]:
    loaded = []
    for item in PROFILES[name].bundled:
        data = _read(item.file, directory)
        try:
            ders = certificates_from_pem(data)
        except ServiceError:
            ders = []
        if len(ders) != 1:
            raise _damaged(f"the bundled trust anchor {item.file} is not one certificate")
        found = hashlib.sha256(ders[0]).hexdigest()
        if found != item.sha256:
            raise _damaged(
                f"the bundled trust anchor {item.file} does not match its pinned SHA-256 fingerprint "
                f"(pinned {item.sha256}, found {found})"
            )
        certificate = asn1_x509.Certificate.load(ders[0])
        loaded.append(BundledCertificate(item.file, subject_line(certificate), found, item.intermediate,
                                         certificate))  # fmt: skip
    return tuple(loaded)


def _read(file: str, directory: str | None) -> bytes:
    try:
        if directory is not None:
            return (Path(directory) / file).read_bytes()
        return (resources.files("verification") / "anchors_data" / file).read_bytes()
    except OSError as exc:
        raise _damaged(f"the bundled trust anchor {file} cannot be read ({exc.strerror or exc})") from None


def _damaged(message: str) -> ServiceError:
    return ServiceError(
        Kind.UNAVAILABLE, f"{message}: this installation of Kyso is damaged; reinstall it (not trusted)"
    )
