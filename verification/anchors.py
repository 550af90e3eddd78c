"""The operator's trust anchors (stored), and the trust list built from them and Kyso's own root."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from sqlalchemy.orm import Session

from core.clock import display
from core.errors import conflict, malformed, not_found
from store import trust_anchors
from store.models import TrustAnchor
from verification.trust import TrustStore, certificates_from_pem

DEFAULT_LIST = "Kyso"


@dataclass(frozen=True)
class AnchorInfo:
    label: str
    fingerprint: str
    subject: str
    added_at: str
    added_by: str

    @classmethod
    def of(cls, row: TrustAnchor) -> AnchorInfo:
        return cls(row.label, row.fingerprint, row.subject, display(row.added_at), row.added_by)


def add(session: Session, label: str, certificate: bytes, *, now: dt.datetime, actor: str) -> AnchorInfo:
    label = label.strip()
    if not label or len(label) > 100:
        raise malformed("a trust anchor needs a label of 1 to 100 characters")
    ders = certificates_from_pem(certificate)
    if len(ders) != 1:
        raise malformed(f"send exactly one certificate per anchor (found {len(ders)})")
    try:
        parsed = asn1_x509.Certificate.load(ders[0])
        subject = parsed.subject.human_friendly
        is_ca = parsed.ca
    except (ValueError, TypeError) as exc:
        raise malformed(f"not a certificate: {exc}") from None
    if not is_ca:
        raise malformed("a trust anchor must be a CA certificate (basicConstraints cA=true)")
    fingerprint = hashlib.sha256(ders[0]).hexdigest()
    if session.get(TrustAnchor, fingerprint) is not None:
        raise conflict("this certificate is already a trust anchor")
    if trust_anchors.by_label(session, label) is not None:
        raise conflict(f"a trust anchor is already labelled {label!r}")
    row = TrustAnchor(fingerprint=fingerprint, label=label, subject=subject, certificate_der=ders[0],
                      added_at=now, added_by=actor)  # fmt: skip
    session.add(row)
    session.flush()
    return AnchorInfo.of(row)


def remove(session: Session, label_or_fingerprint: str) -> AnchorInfo:
    key = label_or_fingerprint.strip()
    row = trust_anchors.by_label_or_fingerprint(session, key)
    if row is None:
        raise not_found(f"no trust anchor {key!r}")
    info = AnchorInfo.of(row)
    session.delete(row)
    session.flush()
    return info


def listing(session: Session) -> list[AnchorInfo]:
    return [AnchorInfo.of(r) for r in trust_anchors.all_anchors(session)]


def trust_list(session: Session, own_roots_der: list[bytes]) -> TrustStore:
    """Kyso's own root(s) and every stored anchor; the name says what is in it."""
    rows = list(trust_anchors.all_anchors(session, by="label"))
    name = DEFAULT_LIST if not rows else f"{DEFAULT_LIST} + " + ", ".join(r.label for r in rows)
    return TrustStore.from_der(name, [*own_roots_der, *(r.certificate_der for r in rows)])
