"""The validation policy "Kyso TT15/2025 v1": each check's level and result (the FAIL/WARN table of
docs/verification.md), the date rule for SHA-1 and short RSA keys, revocation freshness, and a legacy
signature (SHA-1, RSA-1024, PKCS#1 v1.5, adbe.pkcs7.detached) answered with findings, never a traceback."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from dataclasses import replace

import pytest
from asn1crypto import algos
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

from tests.support.pdfs import sample_pdf
from verification import etsi_report, policy, render
from verification.policy import KYSO_TT15, Facts, evaluate
from verification.report import Indication, Revocation, SignatureReport
from verification.trust import TrustStore
from verification.validate import Verifier

UTC = dt.UTC
BEFORE = dt.datetime(2013, 6, 1, tzinfo=UTC)  # before the policy's cut-off (2014-01-01)
AFTER = dt.datetime(2020, 6, 1, tzinfo=UTC)
GOOD = Facts("sha256", "ecdsa", "ec", 256, "sha256", "/ETSI.CAdES.detached")


def results(facts: Facts, *, trusted_time=None, revocation_time=None, validated_at=AFTER) -> dict[str, tuple]:
    found = evaluate(KYSO_TT15, facts, trusted_time=trusted_time, revocation_time=revocation_time,
                     validated_at=validated_at)  # fmt: skip
    assert [r.id for r in found] == [c.id for c in policy.CONSTRAINTS]
    return {r.id: (r.level, r.result) for r in found}


def test_a_modern_signature_meets_every_check() -> None:
    fresh = AFTER - dt.timedelta(hours=2)
    assert set(results(GOOD, trusted_time=AFTER, revocation_time=fresh).values()) == {
        ("FAIL", "passed"), ("INFORM", "passed"), ("WARN", "passed"),
    }  # fmt: skip
    rsa_pss = Facts("sha3_256", "rsassa_pss", "rsa", 3072, "sha512", "/ETSI.RFC3161")
    assert all(r == "passed" for _, r in results(rsa_pss, revocation_time=AFTER).values())


@pytest.mark.parametrize(
    ("facts", "trusted_time", "check", "expected"),
    [
        # SHA-1: a warning only when a trusted timestamp proves it older than the cut-off
        (replace(GOOD, digest="sha1"), BEFORE, "signature.digest-algorithm", ("WARN", "warning")),
        (replace(GOOD, digest="sha1"), AFTER, "signature.digest-algorithm", ("FAIL", "failed")),
        (replace(GOOD, digest="sha1"), None, "signature.digest-algorithm", ("FAIL", "failed")),
        (replace(GOOD, digest="md5"), BEFORE, "signature.digest-algorithm", ("FAIL", "failed")),
        # RSA under 2048 bits: the same date rule; under 1024 never
        (
            Facts("sha256", "rsassa_pkcs1v15", "rsa", 1024, "sha256", None),
            BEFORE,
            "signature.public-key",
            ("WARN", "warning"),
        ),
        (
            Facts("sha256", "rsassa_pkcs1v15", "rsa", 1024, "sha256", None),
            AFTER,
            "signature.public-key",
            ("FAIL", "failed"),
        ),
        (
            Facts("sha256", "rsassa_pkcs1v15", "rsa", 512, "sha256", None),
            BEFORE,
            "signature.public-key",
            ("FAIL", "failed"),
        ),
        (
            Facts("sha256", "rsassa_pkcs1v15", "rsa", 2048, "sha256", None),
            None,
            "signature.public-key",
            ("FAIL", "passed"),
        ),
        (replace(GOOD, key_bits=224), None, "signature.public-key", ("FAIL", "failed")),
        (replace(GOOD, key_algorithm="dsa"), None, "signature.public-key", ("FAIL", "failed")),
        # informational and warning-level checks
        (
            Facts("sha256", "rsassa_pkcs1v15", "rsa", 2048, "sha256", None),
            None,
            "signature.scheme",
            ("INFORM", "information"),
        ),
        (
            replace(GOOD, certificate_digest="sha1"),
            None,
            "signer-certificate.digest-algorithm",
            ("WARN", "warning"),
        ),
        (replace(GOOD, sub_filter="/adbe.pkcs7.sha1"), None, "signature.format", ("INFORM", "information")),
        (
            replace(GOOD, sub_filter="/adbe.pkcs7.detached"),
            None,
            "signature.format",
            ("INFORM", "information"),
        ),
    ],
)
def test_the_table_of_levels(facts: Facts, trusted_time, check: str, expected: tuple[str, str]) -> None:
    assert results(facts, trusted_time=trusted_time)[check] == expected


def test_revocation_freshness_counts_from_the_trusted_time_or_the_validation() -> None:
    day = dt.timedelta(hours=24)
    check = "revocation.freshness"
    assert results(GOOD, trusted_time=AFTER, revocation_time=AFTER - day)[check] == ("WARN", "passed")
    assert results(GOOD, trusted_time=AFTER, revocation_time=AFTER - day - dt.timedelta(minutes=1))[check] == (
        "WARN", "warning",
    )  # fmt: skip
    assert results(GOOD, trusted_time=AFTER, revocation_time=AFTER + 30 * day)[check] == ("WARN", "passed")
    # without a trusted time the reference is the validation time
    assert results(GOOD, revocation_time=AFTER - 3 * day, validated_at=AFTER)[check] == ("WARN", "warning")
    assert results(GOOD, revocation_time=AFTER - dt.timedelta(hours=1), validated_at=AFTER)[check] == (
        "WARN", "passed",
    )  # fmt: skip
    assert results(GOOD)[check] == ("WARN", "warning")  # no revocation data at all


class Stub:
    """What the policy reads of pyHanko's EmbeddedPdfSignature."""

    def __init__(
        self, digest: str, mechanism: str, certificate: asn1_x509.Certificate, sub_filter: str
    ) -> None:
        self.signer_info = {
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest}),
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": mechanism}),
        }
        self.signer_cert = certificate
        self.sig_object = {"/SubFilter": sub_filter}


def passed_report() -> SignatureReport:
    return SignatureReport(
        field="Sig", kind="signature", indication=Indication.TOTAL_PASSED, sub_indication=None, signer=None,
        issuer=None, signing_time=None, signing_time_source="none", timestamp=None,
        revocation=Revocation.EMBEDDED, revocation_checked_at=None, revoked_at=None,
        certificate_valid_from=None, certificate_valid_until=None, integrity=True, trusted=True,
        coverage="entire-file", modification="none", pades_level=None, certification=None, classic_valid=True,
    )  # fmt: skip


def test_a_fail_turns_passed_into_indeterminate_and_a_warn_only_warns() -> None:
    certificate = legacy_pki()[1]
    sha1 = Stub("sha1", "sha1_rsa", certificate, "/adbe.pkcs7.sha1")
    late = policy.apply(KYSO_TT15, passed_report(), sha1, trusted_time=AFTER, revocation_time=AFTER,
                        validated_at=AFTER)  # fmt: skip
    assert late.indication is Indication.INDETERMINATE
    assert late.sub_indication == "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    assert any("SHA-1" in r and "Kyso TT15/2025 v1" in r for r in late.reasons)
    early = policy.apply(KYSO_TT15, passed_report(), sha1, trusted_time=BEFORE, revocation_time=BEFORE,
                         validated_at=AFTER)  # fmt: skip
    assert early.indication is Indication.TOTAL_PASSED and early.reasons == []
    assert any("SHA-1, made before 2014-01-01" in w for w in early.warnings)
    # an already failed signature keeps its verdict; the finding is one more reason
    failed = replace(passed_report(), indication=Indication.TOTAL_FAILED, sub_indication="HASH_FAILURE")
    kept = policy.apply(KYSO_TT15, failed, sha1, trusted_time=None, revocation_time=None, validated_at=AFTER)
    assert (kept.indication, kept.sub_indication) == (Indication.TOTAL_FAILED, "HASH_FAILURE")
    # unreadable algorithms are a finding, not an exception
    broken = policy.apply(KYSO_TT15, passed_report(), object(), trusted_time=None, revocation_time=None,
                          validated_at=AFTER)  # fmt: skip
    assert [(r.id, r.result) for r in broken.policy_results] == [("signature.algorithms", "warning")]


# --- a legacy signature end to end -------------------------------------------------------------------
def legacy_pki() -> tuple[x509.Certificate, asn1_x509.Certificate, rsa.RSAPrivateKey]:
    """A root (RSA-2048) and a signer with a 1024-bit RSA key, valid around the real clock's today."""
    now = dt.datetime.now(UTC)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Legacy test root")])

    def issue(subject: x509.Name, public_key, ca: bool) -> x509.Certificate:
        usage = (False, False, False, False, False, True, True, False, False) if ca else (
            True, True, False, False, False, False, False, False, False)  # fmt: skip
        return (
            x509.CertificateBuilder().subject_name(subject).issuer_name(root_name).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(*usage), critical=True)
            .sign(root_key, hashes.SHA256())
        )  # fmt: skip

    root = issue(root_name, root_key.public_key(), True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    signer = issue(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Người ký cũ")]), key.public_key(), False
    )
    return root, asn1_x509.Certificate.load(signer.public_bytes(serialization.Encoding.DER)), key


def test_a_legacy_sha1_rsa1024_signature_gets_findings_never_a_traceback() -> None:
    root, certificate, key = legacy_pki()
    signer = signers.SimpleSigner(
        signing_cert=certificate,
        signing_key=asn1_keys.PrivateKeyInfo.load(key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
        cert_registry=None,
    )  # fmt: skip
    meta = signers.PdfSignatureMetadata(field_name="Sig", md_algorithm="sha1",
                                        subfilter=SigSeedSubFilter.ADOBE_PKCS7_DETACHED)  # fmt: skip
    data = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(sample_pdf(1))), meta, signer=signer
    ).getvalue()
    trust = TrustStore.from_der("legacy", [root.public_bytes(serialization.Encoding.DER)])
    report = asyncio.run(Verifier(trust).verify(data))
    [s] = report.signatures
    assert report.policy == "Kyso TT15/2025" and report.policy_version == "1"
    assert s.indication is not Indication.TOTAL_PASSED
    found = {r.id: r.result for r in s.policy_results}
    assert found["signature.digest-algorithm"] == "failed" and found["signature.public-key"] == "failed"
    assert found["signature.scheme"] == "information" and found["signature.format"] == "information"
    assert any("SHA-1" in r for r in s.reasons) and any("1024 bits" in r for r in s.reasons)
    rendered = render.text(report) + render.html(report) + etsi_report.xml_report(report).decode()
    assert "Traceback" not in rendered and "signature.digest-algorithm (FAIL)" in render.text(report)
    assert "Kyso TT15/2025 v1" in render.text(report)


def test_kyso_like_ecdsa_p256_sha256_passes_the_policy() -> None:
    now = dt.datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "P-256")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    stub = Stub("sha256", "sha256_ecdsa", asn1_x509.Certificate.load(certificate.public_bytes(
        serialization.Encoding.DER)), "/ETSI.CAdES.detached")  # fmt: skip
    checked = policy.apply(KYSO_TT15, passed_report(), stub, trusted_time=now, revocation_time=now,
                           validated_at=now)  # fmt: skip
    assert checked.indication is Indication.TOTAL_PASSED and checked.warnings == []
    assert {r.result for r in checked.policy_results} == {"passed"}


def test_sha3_with_rsa_is_read_though_asn1crypto_does_not_name_it() -> None:
    """RSA PKCS#1 v1.5 with SHA3-256 (2.16.840.1.101.3.4.3.14; EU DSS has such files): every check reads it."""
    _, certificate, _ = legacy_pki()
    stub = Stub("sha3_256", "2.16.840.1.101.3.4.3.14", certificate, "/ETSI.CAdES.detached")
    found = {r.id: r for r in policy.apply(KYSO_TT15, passed_report(), stub, trusted_time=None,
                                           revocation_time=None, validated_at=AFTER).policy_results}  # fmt: skip
    assert found["signature.digest-algorithm"].result == "passed"
    assert found["signature.scheme"].detail.startswith("RSA PKCS#1 v1.5")
    assert found["signature.public-key"].result == "failed"  # the test signer's key has 1024 bits


def test_a_legacy_adbe_pkcs7_sha1_signature_gets_the_policys_findings() -> None:
    """EU DSS's pkcs7_sha1.pdf (the real-world corpus, when on this machine): its adbe.pkcs7.sha1 signature
    is validated (intact, as pdfsig says), and the policy says what its algorithms are."""
    from tests.verification.test_real_world_corpus import corpus_dir

    path = corpus_dir() / "dss" / "pkcs7_sha1.pdf"
    if not path.is_file():
        pytest.skip(f"the corpus files are not on this machine ({corpus_dir()}; see corpus/SOURCES.md)")
    report = asyncio.run(Verifier(TrustStore.from_der("none", [])).verify(path.read_bytes()))
    [legacy] = [s for s in report.signatures if any("adbe.pkcs7.sha1" in r.detail for r in s.policy_results)]
    assert legacy.integrity
    found = {r.id: r for r in legacy.policy_results}
    assert found["signature.digest-algorithm"].result == "failed"
    assert found["signature.format"].detail == "legacy PDF signature format adbe.pkcs7.sha1"
    assert legacy.indication is Indication.INDETERMINATE
