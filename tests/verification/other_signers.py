"""Signed PDFs made without Kyso's signing pipeline: pyHanko's default SimpleSigner, `openssl cms -sign`
assembled with pyHanko's PdfCMSEmbedder, and a certificate whose key the test holds (issued from a CSR)."""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import crl, ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.cms_embedder import PdfCMSEmbedder, SigIOSetup, SigObjSetup
from pyhanko.sign.validation.dss import DocumentSecurityStore

from ca.issuance import IssueRequest
from ca.subjects import SubjectFields


@dataclass(frozen=True)
class HeldKey:
    """A certificate from Kyso's CA for a key the test holds in files (as another tool would)."""

    serial: str
    key: Path
    cert: Path
    chain: Path  # issuing CA then root, PEM


def held_key(instance, directory: Path, given_name: str = "Văn Ngoại") -> HeldKey:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "outside")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    subject = SubjectFields(surname="Lê", given_name=given_name, cccd="079190004321", organization="UBND Phường Bến Thành",
                            title="Chuyên viên", province="Thành phố Hồ Chí Minh")  # fmt: skip
    with instance.db.transaction() as session:
        issued = instance.ca.issue(session, IssueRequest(profile="official", subject=subject, csr=csr))
        chain = instance.ca.chain(session, "government")
    directory.mkdir(parents=True, exist_ok=True)
    files = HeldKey(
        issued.certificate.serial, directory / "key.pem", directory / "cert.pem", directory / "chain.pem"
    )
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))  # fmt: skip
    files.cert.write_bytes(issued.certificate.certificate_pem.encode())
    files.chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    return files


def pyhanko_default(pdf: bytes, held: HeldKey, **metadata: object) -> bytes:
    """pyHanko's documented path: SimpleSigner.load + sign_pdf (adbe.pkcs7.detached, signingTime)."""
    signer = signers.SimpleSigner.load(str(held.key), str(held.cert), ca_chain_files=[str(held.chain)])
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(field_name="Signature1", **metadata)
    return signers.sign_pdf(writer, meta, signer=signer, **_timestamper(metadata)).getvalue()


def _timestamper(metadata: dict) -> dict:
    stamper = metadata.pop("timestamper", None)
    return {"timestamper": stamper} if stamper is not None else {}


def pyhanko_pades_t(pdf: bytes, held: HeldKey, timestamper) -> bytes:
    """PAdES B-T by pyHanko alone (ETSI.CAdES.detached, a signature timestamp from ``timestamper``)."""
    signer = signers.SimpleSigner.load(str(held.key), str(held.cert), ca_chain_files=[str(held.chain)])
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(field_name="Signature1", subfilter=SigSeedSubFilter.PADES)
    return signers.sign_pdf(writer, meta, signer=signer, timestamper=timestamper).getvalue()


def with_dss(signed: bytes, *, certs=(), ocsps=(), crls=()) -> bytes:
    """Append a DSS (incremental update) holding the given validation data, as an LTV tool would."""
    out = io.BytesIO(signed)
    writer = IncrementalPdfFileWriter(out)
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, certs=list(certs), ocsps=[_load(ocsp.OCSPResponse, o) for o in ocsps],
        crls=[_load(crl.CertificateList, c) for c in crls],
    )  # fmt: skip
    result = io.BytesIO()
    writer.write(result)
    return result.getvalue()


def _load(kind, value):
    return kind.load(value) if isinstance(value, bytes) else value


def openssl_cms(pdf: bytes, held: HeldKey, workdir: Path) -> bytes:
    """`openssl cms -sign -binary -noattr -outform DER` over the byte ranges, placed by PdfCMSEmbedder."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    embedder = PdfCMSEmbedder().write_cms(field_name="OpenSSL", writer=writer)
    next(embedder)
    embedder.send(SigObjSetup(sig_placeholder=signers.SignatureObject(bytes_reserved=8192)))
    prepared, output = embedder.send(SigIOSetup(md_algorithm="sha256", in_place=False))
    document = output.getvalue()
    signed_bytes = document[: prepared.reserved_region_start] + document[prepared.reserved_region_end :]
    (workdir / "tbs.bin").write_bytes(signed_bytes)
    subprocess.run(
        ["openssl", "cms", "-sign", "-binary", "-noattr", "-outform", "DER", "-md", "sha256",
         "-in", workdir / "tbs.bin", "-signer", held.cert, "-inkey", held.key, "-certfile", held.chain,
         "-out", workdir / "cms.der"],
        check=True, capture_output=True,
    )  # fmt: skip
    embedder.send((workdir / "cms.der").read_bytes())
    return output.getvalue()


def dss_material(pdf: bytes) -> tuple[list[asn1_x509.Certificate], list[bytes], list[bytes]]:
    """Certificates, OCSP responses and CRLs of a file's DSS (to reuse the TSA's and the CAs' status)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf)))
    return list(dss.load_certs()), list(dss._ocsps_seen), list(dss._crls_seen)
