"""Trust lists: named sets of trust anchors, parsed once and reused for every document."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

from core.errors import malformed

_MAX_ANCHORS = 200


@dataclass(frozen=True)
class TrustStore:
    """The anchors a verification trusts, and the name every report carries."""

    name: str
    roots: tuple[asn1_x509.Certificate, ...]

    @classmethod
    def from_der(cls, name: str, ders: Iterable[bytes]) -> TrustStore:
        roots = []
        for der in ders:
            try:
                certificate = asn1_x509.Certificate.load(der)
                certificate.native  # noqa: B018 - parse it fully now, not in the middle of a validation
            except (ValueError, TypeError) as exc:
                raise malformed(f"a trust anchor is not a DER certificate: {exc}") from None
            roots.append(certificate)
        if len(roots) > _MAX_ANCHORS:
            raise malformed(f"a trust list holds at most {_MAX_ANCHORS} anchors")
        return cls(name, tuple(roots))

    @classmethod
    def from_pem(cls, name: str, data: bytes) -> TrustStore:
        return cls.from_der(name, certificates_from_pem(data))

    @property
    def fingerprints(self) -> list[str]:
        return [hashlib.sha256(root.dump()).hexdigest() for root in self.roots]


def certificates_from_pem(data: bytes) -> list[bytes]:
    """Every certificate of a PEM bundle (or one DER certificate), as DER."""
    if not data.lstrip().startswith(b"-----"):
        return [data] if data else []
    try:
        found = [der for kind, _, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
    except ValueError as exc:
        raise malformed(f"not a PEM certificate bundle: {exc}") from None
    if not found:
        raise malformed("the file holds no PEM certificate")
    return found


def subject_line(certificate: asn1_x509.Certificate) -> str:
    return certificate.subject.human_friendly
