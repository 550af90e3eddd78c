"""The operator's trust anchors (stored), the trust profiles they choose, and the trust list built from the
profiles in force: Kyso's own root (``kyso-test``), the bundled public roots (``vn-public``, ``vn-gov``) and
the anchors operators added (``operator``)."""

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
from verification import profiles
from verification.trust import TrustStore, certificates_from_pem, subject_line

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


@dataclass(frozen=True)
class ProfileAnchor:
    subject: str
    fingerprint: str
    role: str  # anchor | intermediate (offered to path building, not trusted)


@dataclass(frozen=True)
class ProfileInfo:
    name: str
    title: str
    enabled: bool
    default: bool
    changed_at: str | None  # when an operator last switched it; None: never (the default holds)
    changed_by: str | None
    anchors: list[ProfileAnchor]

    def as_json(self) -> dict[str, object]:
        return {**self.__dict__, "anchors": [a.__dict__ for a in self.anchors]}


def enabled_profiles(session: Session) -> list[str]:
    settings = trust_anchors.profile_settings(session)
    return [
        name
        for name, p in profiles.PROFILES.items()
        if (settings[name].enabled if name in settings else p.default)
    ]


def profile_listing(session: Session, own_roots_der: list[bytes]) -> list[ProfileInfo]:
    """Every profile, whether it is on, and its anchors with their fingerprints (bundled ones checked
    against their pins)."""
    settings = trust_anchors.profile_settings(session)
    listing = []
    for name, p in profiles.PROFILES.items():
        row = settings.get(name)
        listing.append(
            ProfileInfo(
                name,
                p.title,
                row.enabled if row is not None else p.default,
                p.default,
                display(row.changed_at) if row is not None else None,
                row.changed_by if row is not None else None,
                _anchors_of(session, name, own_roots_der),
            )
        )
    return listing


def set_profile(
    session: Session, name: str, enabled: bool, own_roots_der: list[bytes], *, now: dt.datetime, actor: str
) -> tuple[ProfileInfo, bool]:
    """Switch a profile on or off; also says whether that changed anything. A bundled profile whose files
    do not match their pins cannot be switched on."""
    chosen = profiles.profile(name)
    before = chosen.name in enabled_profiles(session)
    if enabled:
        profiles.bundled(chosen.name)  # refuses a damaged installation before it is trusted
    trust_anchors.set_profile(session, chosen.name, enabled, now=now, actor=actor)
    info = next(p for p in profile_listing(session, own_roots_der) if p.name == chosen.name)
    return info, before != enabled


def _anchors_of(session: Session, name: str, own_roots_der: list[bytes]) -> list[ProfileAnchor]:
    if name == profiles.KYSO_TEST:
        roots = [asn1_x509.Certificate.load(der) for der in own_roots_der]
        return [ProfileAnchor(subject_line(c), hashlib.sha256(c.dump()).hexdigest(), "anchor") for c in roots]
    if name == profiles.OPERATOR:
        return [ProfileAnchor(r.subject, r.fingerprint, "anchor") for r in trust_anchors.all_anchors(session)]
    return [
        ProfileAnchor(b.subject, b.sha256, "intermediate" if b.intermediate else "anchor")
        for b in profiles.bundled(name)
    ]


def trust_list(session: Session, own_roots_der: list[bytes]) -> TrustStore:
    """The anchors of every profile in force; the name says what is in it (``Kyso`` for Kyso's own root,
    then the public profiles and the labels of the operators' anchors)."""
    enabled = enabled_profiles(session)
    ders: list[bytes] = []
    origins: list[tuple[str, str]] = []
    intermediates: list[asn1_x509.Certificate] = []
    parts: list[str] = []

    def add(der: bytes, profile: str) -> None:
        ders.append(der)
        origins.append((hashlib.sha256(der).hexdigest(), profile))

    for name in enabled:
        if name == profiles.KYSO_TEST:
            parts.append(DEFAULT_LIST)
            for der in own_roots_der:
                add(der, name)
        elif name == profiles.OPERATOR:
            rows = list(trust_anchors.all_anchors(session, by="label"))
            parts.extend(r.label for r in rows)
            for r in rows:
                add(r.certificate_der, name)
        else:
            parts.append(name)
            for item in profiles.bundled(name):
                if item.intermediate:
                    intermediates.append(item.certificate)
                else:
                    add(item.certificate.dump(), name)
    if not parts:
        label = "(empty)"
    elif parts[0] == DEFAULT_LIST and len(parts) > 1:
        label = f"{DEFAULT_LIST} + " + ", ".join(parts[1:])
    else:
        label = ", ".join(parts)
    return TrustStore.from_der(label, ders, profiles=enabled, intermediates=intermediates, origins=origins)
