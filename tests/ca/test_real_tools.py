"""Issued certificates, as PEM files, through the real `openssl` and pkilint command-line tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ca import lifecycle
from ca.issuance import IssueRequest
from tests.conftest import VENV_BIN, Instance, make_instance, run_tool
from tests.support.subjects import AGENCY, CITIZEN, OFFICIAL, SUBJECTS  # noqa: F401 - used below

ETSI_TYPES = {
    "citizen": "NCP-NATURAL-PERSON-CERTIFICATE",
    "official": "NCP-NATURAL-PERSON-CERTIFICATE",
    "agency-seal": "NCP-LEGAL-PERSON-CERTIFICATE",
}


def csr_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")])
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


# pkilint 0.13's SubjectSignatureVerificationValidator verifies every RSA signature as PKCS#1 v1.5 (it does
# not pass the RSASSA-PSS parameters on), so it reports PSS-signed certificates as mismatched. Where the
# signature is PSS, that one finding is set aside; `openssl verify` has checked the signature already.
PKILINT_PSS_BUG = "pkix.signature_verification_failed (ERROR)"


def assert_lint_clean(result_text: str, tool: str, *, pss_signed: bool = False) -> None:
    blocking = [line for line in result_text.splitlines() if "(ERROR)" in line or "(FATAL)" in line]
    if pss_signed:
        blocking = [line for line in blocking if line.strip() != PKILINT_PSS_BUG]
    assert not blocking, f"{tool} reported:\n{result_text}"


def check_with_tools(instance: Instance, tmp_path: Path, serial: str, profile: str) -> None:
    with instance.db.transaction() as session:
        info_pem = instance.ca.chain_pem(session, instance.ca.profiles[profile].issuer)
        leaf_pem = lifecycle.show(instance.ca, session, serial).certificate_pem
    chain = x509.load_pem_x509_certificates(info_pem.encode())
    leaf = tmp_path / f"{profile}.pem"
    leaf.write_text(leaf_pem)
    issuing = tmp_path / "issuing.pem"
    issuing.write_bytes(chain[0].public_bytes(serialization.Encoding.PEM))
    root = tmp_path / "root.pem"
    root.write_bytes(chain[-1].public_bytes(serialization.Encoding.PEM))

    verify = run_tool("openssl", "verify", "-x509_strict", "-CAfile", root, "-untrusted", issuing, leaf)
    assert verify.stdout.strip().endswith(": OK")
    etsi = run_tool(VENV_BIN / "lint_etsi_cert", "lint", "-t", ETSI_TYPES[profile], leaf, check=False)
    assert_lint_clean(etsi.stdout + etsi.stderr, "lint_etsi_cert")
    pkix = run_tool(VENV_BIN / "lint_pkix_cert", "lint", leaf, check=False)
    assert_lint_clean(pkix.stdout + pkix.stderr, "lint_pkix_cert")
    pair = run_tool(VENV_BIN / "lint_pkix_signer_signee_cert_chain", "lint", issuing, leaf, check=False)
    pss_signed = (
        x509.load_pem_x509_certificate(leaf_pem.encode()).signature_algorithm_oid
        == x509.oid.SignatureAlgorithmOID.RSASSA_PSS
    )
    assert_lint_clean(pair.stdout + pair.stderr, "lint_pkix_signer_signee_cert_chain", pss_signed=pss_signed)


@pytest.mark.parametrize("profile", ["citizen", "official", "agency-seal"])
@pytest.mark.parametrize("key_source", ["keygen-ec-p256", "csr-rsa-3072", "csr-ec-p384"])
def test_every_profile_passes_openssl_and_pkilint(
    shared_instance: Instance, tmp_path: Path, profile: str, key_source: str
) -> None:
    if key_source == "keygen-ec-p256":
        request = IssueRequest(profile, SUBJECTS[profile], keygen="ec-p256")
    elif key_source == "csr-rsa-3072":
        request = IssueRequest(profile, SUBJECTS[profile], csr=csr_pem(rsa.generate_private_key(65537, 3072)))
    else:
        request = IssueRequest(
            profile, SUBJECTS[profile], csr=csr_pem(ec.generate_private_key(ec.SECP384R1()))
        )
    with shared_instance.db.transaction() as session:
        issued = shared_instance.ca.issue(session, request)
    check_with_tools(shared_instance, tmp_path, issued.certificate.serial, profile)


def test_hierarchy_and_service_certificates_pass_tools(shared_instance: Instance, tmp_path: Path) -> None:
    from store import repositories

    with shared_instance.db.transaction() as session:
        ders = {a.id: a.certificate_der for a in repositories.authorities(session)}
        signers = {
            s.id: (s.authority_id, repositories.certificate_by_serial(session, s.certificate_serial).der)
            for s in repositories.service_signers(session)
        }
    files = {}
    for name, der in ders.items():
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
    for name in ("citizen", "government"):
        run_tool("openssl", "verify", "-x509_strict", "-CAfile", files["root"], files[name])
    for name, path in files.items():
        result = run_tool(VENV_BIN / "lint_pkix_cert", "lint", path, check=False)
        assert_lint_clean(result.stdout, f"lint_pkix_cert {name}")
    for signer_id, (authority_id, der) in signers.items():
        path = tmp_path / f"{signer_id}.pem"
        certificate = x509.load_der_x509_certificate(der)
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        purposes = {"tsa": "timestampsign", "invitation-seal": "any"}
        purpose = "ocsphelper" if signer_id.startswith("ocsp") else purposes[signer_id]
        run_tool(
            "openssl",
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-CAfile",
            files["root"],
            "-untrusted",
            files[authority_id],
            path,
        )
        for tool, args in (
            ("lint_pkix_cert", [path]),
            ("lint_pkix_signer_signee_cert_chain", [files[authority_id], path]),
        ):
            result = run_tool(VENV_BIN / tool, "lint", *args, check=False)
            assert_lint_clean(result.stdout, f"{tool} {signer_id}")
        if signer_id == "tsa":
            eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
            assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]
        elif signer_id.startswith("ocsp"):
            certificate.extensions.get_extension_for_class(x509.OCSPNoCheck)


def test_rsa_hierarchy_signs_with_pss_and_verifies(tmp_path: Path) -> None:
    instance = make_instance(tmp_path, f"sqlite:///{tmp_path / 'rsa.db'}", algorithm="rsa-3072")
    with instance.db.transaction() as session:
        issued = instance.ca.issue(session, IssueRequest("citizen", CITIZEN, keygen="rsa-2048"))
    leaf = x509.load_pem_x509_certificate(issued.certificate.certificate_pem.encode())
    assert leaf.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSASSA_PSS
    check_with_tools(instance, tmp_path, issued.certificate.serial, "citizen")
