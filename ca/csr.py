"""PKCS#10 requests: parsed, signature verified, key checked for strength. Subjects come from the request
fields the RA vetted, never from the CSR itself."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from core.errors import malformed
from keystore.algorithms import algorithm_of

MAX_CSR_BYTES = 64 * 1024


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    if not data.strip():
        raise malformed("the CSR is empty")
    if len(data) > MAX_CSR_BYTES:
        raise malformed(f"the CSR is larger than {MAX_CSR_BYTES // 1024} KiB")
    try:
        if b"-----BEGIN" in data:
            if b"CERTIFICATE REQUEST-----" not in data:
                raise malformed("the PEM block is not a CERTIFICATE REQUEST")
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise malformed(f"not a PKCS#10 certificate request: {exc}") from None


def public_key_from_csr(
    data: bytes, allowed_algorithms: tuple[str, ...]
) -> tuple[CertificatePublicKeyTypes, str]:
    """The CSR's public key and its algorithm name, after proving the requester holds the private key."""
    csr = load_csr(data)
    try:
        public_key = csr.public_key()
    except Exception as exc:
        raise malformed(f"the CSR's public key cannot be read: {exc}") from None
    algorithm = algorithm_of(public_key)
    if algorithm not in allowed_algorithms:
        raise malformed(f"{algorithm} keys are not allowed here; use one of {', '.join(allowed_algorithms)}")
    try:
        valid = csr.is_signature_valid
    except Exception:
        valid = False
    if not valid:
        raise malformed("the CSR's signature does not verify: it was not signed by its own key")
    return public_key, algorithm
