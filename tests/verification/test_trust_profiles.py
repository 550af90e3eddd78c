"""Trust profiles: the bundled public roots are checked against their pins (a tampered copy is refused),
pyHanko's path building ends at the bundled NEAC root through the real VNPT-CA intermediate only when the
profile is on, and switching profiles is stored, audited once per change and named in every report."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

from core.errors import Kind, ServiceError
from identity import audit
from services import verification
from services.audit import Actor
from services.root import Kyso
from signing.pades import Level
from signing.service import Appearance, DocumentIn, SignRequest
from tests.conftest import Instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import issue_in_custody, signing_service
from verification import profiles
from verification.trust import TrustStore

DATA = Path(profiles.__file__).parent / "anchors_data"
NEAC = "bac8bf609ab420a8ee1780d74f4de5c7f7184959d2a7375b0a75e4c29f0908e7"
VNPT = "7d6ba5245317f9ed5d8bc765a4634d26ac6340d36b9f584df3b52d9c4a81a306"
G2 = "f04ba4b459a7c9a1b971ad9b1cb833e695a80c79aea63b174b66a70edfe2fdb8"
# inside every bundled certificate's validity (VNPT-CA SHA2: 2024-08-30 … 2029-08-30); not the clock's time
MOMENT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
OPERATOR = Actor("alice", "203.0.113.5", 3, "ca-operator")


def der_of(file: str) -> bytes:
    [(_, _, der)] = pem.unarmor((DATA / file).read_bytes(), multiple=True)
    return der


# --- the bundled files and their pins ---------------------------------------------------------------
def test_every_bundled_file_matches_its_pin_and_the_sources_note() -> None:
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    seen = set()
    for name in (profiles.VN_PUBLIC, profiles.VN_GOV):
        for item in profiles.bundled(name):
            assert hashlib.sha256(der_of(item.file)).hexdigest() == item.sha256
            assert item.sha256 in sources and item.file in sources
            seen.add(item.sha256)
    assert {NEAC, VNPT, G2} <= seen and len(seen) == 4
    [neac] = [b for b in profiles.bundled(profiles.VN_PUBLIC) if not b.intermediate]
    assert neac.sha256 == NEAC and "Vietnam National Root CA" in neac.subject


def tampered(tmp_path: Path, file: str, data: bytes | None) -> Path:
    copy = tmp_path / "anchors_data"
    shutil.copytree(DATA, copy)
    target = copy / file
    target.chmod(0o644)
    if data is None:
        target.unlink()
    else:
        target.write_bytes(data)
    return copy


def test_a_tampered_copy_refuses_to_load(tmp_path: Path) -> None:
    # another genuine certificate in the NEAC root's place: parses fine, does not match the pin
    swapped = tampered(tmp_path / "swapped", "vnrca256.pem", (DATA / "rootcag2.pem").read_bytes())
    with pytest.raises(ServiceError) as refused:
        profiles.bundled(profiles.VN_PUBLIC, swapped)
    assert refused.value.kind is Kind.UNAVAILABLE
    assert "vnrca256.pem does not match its pinned SHA-256" in refused.value.message
    assert NEAC in refused.value.message and G2 in refused.value.message
    # one character of the base64 changed
    text = (DATA / "vnpt-ca-sha2.pem").read_bytes()
    middle = len(text) // 2
    flipped = text[:middle] + (b"A" if text[middle : middle + 1] != b"A" else b"B") + text[middle + 1 :]
    with pytest.raises(ServiceError) as changed:
        profiles.bundled(profiles.VN_PUBLIC, tampered(tmp_path / "flipped", "vnpt-ca-sha2.pem", flipped))
    assert "vnpt-ca-sha2.pem" in changed.value.message and "damaged" in changed.value.message
    with pytest.raises(ServiceError) as missing:
        profiles.bundled(profiles.VN_GOV, tampered(tmp_path / "missing", "cpcag2.pem", None))
    assert "cpcag2.pem cannot be read" in missing.value.message
    assert profiles.bundled(profiles.VN_GOV)  # the installed files are untouched


# --- path building ------------------------------------------------------------------------------------
def vn_public_store() -> TrustStore:
    items = profiles.bundled(profiles.VN_PUBLIC)
    return TrustStore.from_der(
        "vn-public",
        [b.certificate.dump() for b in items if not b.intermediate],
        profiles=[profiles.VN_PUBLIC],
        intermediates=[b.certificate for b in items if b.intermediate],
        origins=[(b.sha256, profiles.VN_PUBLIC) for b in items if not b.intermediate],
    )


def leaf_named_under_vnpt() -> asn1_x509.Certificate:
    """A certificate that names VNPT-CA SHA2 as its issuer (and its key id): path building follows names
    and key ids; it cannot be signed by VNPT's key, so its signature does not verify."""
    vnpt = x509.load_der_x509_certificate(der_of("vnpt-ca-sha2.pem"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # VNPT-CA's is RSA
    ski = vnpt.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nguyễn Văn An")]))
        .issuer_name(vnpt.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(MOMENT - dt.timedelta(days=30)).not_valid_after(MOMENT + dt.timedelta(days=30))
        .add_extension(x509.AuthorityKeyIdentifier(ski.digest, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def context(store: TrustStore) -> ValidationContext:
    return ValidationContext(
        trust_roots=list(store.roots), other_certs=list(store.intermediates), moment=MOMENT,
        allow_fetching=False, revocation_mode="soft-fail",
    )  # fmt: skip


def test_path_building_ends_at_the_bundled_neac_root_only_with_the_profile() -> None:
    store = vn_public_store()
    vnpt = next(b.certificate for b in profiles.bundled(profiles.VN_PUBLIC) if b.intermediate)
    # the real VNPT-CA SHA2 certificate validates (signature, validity, CA constraints) up to NEAC's root
    path = asyncio.run(
        CertificateValidator(vnpt, validation_context=context(store)).async_validate_usage(set())
    )
    assert store.anchor_of(path, vnpt) == store.anchor_facts(store.roots[0])
    assert store.anchor_of(path, vnpt).sha256 == NEAC and store.anchor_of(path, vnpt).profile == "vn-public"
    # a leaf naming VNPT-CA as issuer: the path pyHanko builds goes leaf → VNPT-CA SHA2 → NEAC root …
    leaf = leaf_named_under_vnpt()
    [built] = asyncio.run(context(store).path_builder.async_build_paths(leaf))
    assert [hashlib.sha256(c.dump()).hexdigest() for c in built.iter_certs(include_root=True)][:2] == [
        NEAC,
        VNPT,
    ]
    assert store.anchor_of(None, leaf).sha256 == NEAC  # the same anchor by issuer names
    # … and validating it fails on the signature VNPT's key never made
    with pytest.raises(PathValidationError):
        asyncio.run(CertificateValidator(leaf, validation_context=context(store)).async_validate_usage(set()))
    # without the profile (Kyso's own root only) there is no path at all
    other = TrustStore.from_der("Kyso", [another_root_der()])
    with pytest.raises(PathBuildingError):
        asyncio.run(CertificateValidator(vnpt, validation_context=context(other)).async_validate_usage(set()))
    assert other.anchor_of(None, leaf) is None


def another_root_der() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Another test root")])
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(MOMENT - dt.timedelta(days=1))
        .not_valid_after(MOMENT + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    )  # fmt: skip


# --- switching profiles on an instance ------------------------------------------------------------------
@pytest.fixture(scope="module")
def kyso(shared_instance: Instance) -> Iterator[Kyso]:
    yield Kyso(shared_instance.settings, shared_instance.ca.clock, shared_instance.runtime)


@pytest.fixture(scope="module")
def signed(shared_instance: Instance) -> bytes:
    service = signing_service(shared_instance)
    key = service.keys.signing_key(issue_in_custody(shared_instance, "official"))
    request = SignRequest(level=Level.B_LT, appearance=Appearance.INVISIBLE)
    [out] = asyncio.run(service.sign(key, [DocumentIn("d.pdf", io.BytesIO(sample_pdf(1)))], request))
    return out.output.read()


def entries_after(kyso: Kyso, seq: int) -> list[tuple[str, str | None, dict | None]]:
    with kyso.db.reading() as session:
        return [(e.action, e.target, e.details) for e in audit.entries(session, after=seq)]


def head(kyso: Kyso) -> int:
    with kyso.db.reading() as session:
        return audit.current_head(session)[0]


def state(kyso: Kyso) -> dict[str, bool]:
    return {p.name: p.enabled for p in verification.profiles_listing(kyso)}


def test_profiles_default_switch_and_audit(kyso: Kyso, signed: bytes) -> None:
    assert state(kyso) == {"kyso-test": True, "vn-public": False, "vn-gov": False, "operator": True}
    with kyso.db.reading() as session:
        default = verification.trust_list(session, kyso)
    assert (
        default.name == "Kyso" and default.profiles == ("kyso-test", "operator") and not default.intermediates
    )
    report = verification.verify(kyso, signed)
    [signature] = report.signatures
    assert report.trust_profiles == ["kyso-test", "operator"]
    assert signature.indication.value == "TOTAL-PASSED" and signature.trust_anchor is not None
    assert signature.trust_anchor.profile == "kyso-test"
    assert signature.trust_anchor.sha256 == default.fingerprints[0]

    before = head(kyso)
    info = verification.set_profile(kyso, OPERATOR, "vn-public", True)
    assert (
        info.enabled and info.changed_by == "alice" and [a.fingerprint for a in info.anchors] == [NEAC, VNPT]
    )
    verification.set_profile(kyso, OPERATOR, "VN-PUBLIC", True)  # already on: stored, nothing to audit
    assert entries_after(kyso, before) == [
        ("trust.profile.enable", "vn-public", {"fingerprints": f"{NEAC},{VNPT}"}),
    ]
    try:
        with kyso.db.reading() as session:
            store = verification.trust_list(session, kyso)
        assert (
            store.name == "Kyso + vn-public" and NEAC in store.fingerprints and VNPT not in store.fingerprints
        )
        assert [hashlib.sha256(c.dump()).hexdigest() for c in store.intermediates] == [VNPT]
        assert verification.verify(kyso, signed).trust_profiles == ["kyso-test", "vn-public", "operator"]

        verification.set_profile(kyso, OPERATOR, "kyso-test", False)
        untrusted = verification.verify(kyso, signed)
        [signature] = untrusted.signatures
        assert (
            untrusted.trust_list == "vn-public" and not signature.trusted and signature.trust_anchor is None
        )
        assert signature.indication.value == "INDETERMINATE"
    finally:
        verification.set_profile(kyso, OPERATOR, "kyso-test", True)
        verification.set_profile(kyso, OPERATOR, "vn-public", False)
    assert [a for a, _, _ in entries_after(kyso, before)] == [
        "trust.profile.enable", "trust.profile.disable", "trust.profile.enable", "trust.profile.disable",
    ]  # fmt: skip
    assert state(kyso)["vn-public"] is False
    with pytest.raises(ServiceError) as unknown:
        verification.set_profile(kyso, OPERATOR, "eu-lotl", True)
    assert unknown.value.kind is Kind.NOT_FOUND and "vn-public" in unknown.value.message


def test_a_damaged_installation_is_refused_not_trusted(
    kyso: Kyso, signed: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundled files replaced behind Kyso's back (here: every file reads as the G2 root): switching a
    public profile on is refused, and so is every verification while one is on, with the pin's message."""
    genuine = profiles._read
    verification.set_profile(kyso, OPERATOR, "vn-public", True)
    try:
        monkeypatch.setattr(profiles, "_read", lambda file, directory: genuine("rootcag2.pem", directory))
        profiles._load.cache_clear()
        with pytest.raises(ServiceError) as switching:
            verification.set_profile(kyso, OPERATOR, "vn-gov", True)
        assert (
            switching.value.kind is Kind.UNAVAILABLE
            and "cpcag2.pem does not match" in switching.value.message
        )
        with pytest.raises(ServiceError) as checking:
            verification.verify(kyso, signed)
        assert (
            checking.value.kind is Kind.UNAVAILABLE
            and "vnrca256.pem does not match" in checking.value.message
        )
        with pytest.raises(ServiceError):  # the listing says so too
            verification.profiles_listing(kyso)
    finally:
        monkeypatch.undo()
        profiles._load.cache_clear()
        verification.set_profile(kyso, OPERATOR, "vn-public", False)
    assert state(kyso)["vn-gov"] is False  # the refused switch changed nothing
    assert verification.verify(kyso, signed).signatures[0].indication.value == "TOTAL-PASSED"


def test_every_rendering_names_the_profiles_the_anchor_and_the_policy(
    kyso: Kyso, signed: bytes, tmp_path
) -> None:
    import subprocess

    from verification import render
    from verification.pdf_report import report_pdf

    report = verification.verify(kyso, signed)
    anchor = report.signatures[0].trust_anchor
    assert anchor is not None
    for rendered in (render.text(report), render.html(report)):
        assert "Trust profiles: kyso-test, operator" in rendered and "Kyso TT15/2025 v1" in rendered
        assert anchor.sha256 in rendered
    (tmp_path / "r.pdf").write_bytes(report_pdf(report))
    printed = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    assert "Trust profiles: kyso-test, operator" in printed and "Kyso TT15/2025 v1" in printed
