"""Trust lists: named sets of trust anchors, parsed once and reused for every document.

A list is built from the trust profiles in force (``verification/profiles.py``): each anchor remembers the
profile that brought it, and bundled intermediates help path building without being trusted themselves.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

from core.errors import malformed
from verification.report import AnchorFacts

_MAX_ANCHORS = 200
_MAX_PATH = 8


@dataclass(frozen=True)
class TrustStore:
    """The anchors a verification trusts, and the name every report carries."""

    name: str
    roots: tuple[asn1_x509.Certificate, ...]
    profiles: tuple[str, ...] = ()  # the trust profiles in force, in order
    intermediates: tuple[asn1_x509.Certificate, ...] = ()  # offered to path building, not trusted
    origins: tuple[tuple[str, str], ...] = ()  # (anchor SHA-256, profile name)

    @classmethod
    def from_der(
        cls,
        name: str,
        ders: Iterable[bytes],
        *,
        profiles: Iterable[str] = (),
        intermediates: Iterable[asn1_x509.Certificate] = (),
        origins: Iterable[tuple[str, str]] = (),
    ) -> TrustStore:
        roots = []
        for der in ders:
            try:
                roots.append(_parsed(bytes(der)))
            except (ValueError, TypeError) as exc:
                raise malformed(f"a trust anchor is not a DER certificate: {exc}") from None
        if len(roots) > _MAX_ANCHORS:
            raise malformed(f"a trust list holds at most {_MAX_ANCHORS} anchors")
        return cls(name, tuple(roots), tuple(profiles), tuple(intermediates), tuple(origins))

    @classmethod
    def from_pem(cls, name: str, data: bytes) -> TrustStore:
        return cls.from_der(name, certificates_from_pem(data))

    @property
    def fingerprints(self) -> list[str]:
        return [hashlib.sha256(root.dump()).hexdigest() for root in self.roots]

    def anchor_facts(self, root: asn1_x509.Certificate) -> AnchorFacts:
        fingerprint = hashlib.sha256(root.dump()).hexdigest()
        profile = next((name for fp, name in self.origins if fp == fingerprint), None)
        return AnchorFacts(subject_line(root), fingerprint, profile)

    def anchor_of(
        self,
        path: object | None,
        certificate: asn1_x509.Certificate,
        others: Iterable[asn1_x509.Certificate] = (),
    ) -> AnchorFacts | None:
        """The anchor a validated chain ended in: pyHanko's validation path when it has one, else the
        anchor reached by issuer names from ``certificate`` through ``others`` and the intermediates (for
        a chain validated again at a timestamp's time). None when no anchor of this list is reached."""
        found = getattr(getattr(path, "trust_anchor", None), "certificate", None)
        if isinstance(found, asn1_x509.Certificate):
            return self.anchor_facts(found)
        by_subject: dict[bytes, asn1_x509.Certificate] = {}
        for candidate in (*others, *self.intermediates):
            by_subject.setdefault(candidate.subject.dump(), candidate)
        roots = {root.subject.dump(): root for root in self.roots}
        current = certificate
        for _ in range(_MAX_PATH):
            issuer = current.issuer.dump()
            if issuer in roots and roots[issuer].dump() != current.dump():
                return self.anchor_facts(roots[issuer])
            if current.dump() in {root.dump() for root in self.roots}:
                return self.anchor_facts(current)
            following = by_subject.get(issuer)
            if following is None or following.dump() == current.dump():
                return None
            current = following
        return None


@functools.lru_cache(maxsize=256)
def _parsed(der: bytes) -> asn1_x509.Certificate:
    """An anchor parsed fully once per process (trust lists are rebuilt for every document)."""
    certificate = asn1_x509.Certificate.load(der)
    certificate.native  # noqa: B018 - parse it fully now, not in the middle of a validation
    return certificate


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
