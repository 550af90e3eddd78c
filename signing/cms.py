"""CMS SignedData for PAdES, assembled from pre-encoded parts: one hash and one signature per document.

pyHanko's generic ``Signer`` rebuilds the whole CMS structure with asn1crypto for every signature (and its
default path does it twice, once as a dry run to size the container). For one signer certificate almost
all of those bytes never change — the certificate set, the signer identifier, the algorithm identifiers,
the ESS signing-certificate-v2 attribute — so ``TemplateSigner`` encodes them once and splices in the
document digest, the signature value and, for B-T and above, the signature timestamp token.

The result is the structure pyHanko would produce for a PAdES baseline signature (ETSI EN 319 122-1
§5.2): content-type, message-digest and signing-certificate-v2 signed attributes, no signing-time
attribute (PAdES puts the claimed time in the signature dictionary's /M), the signer's certificate and its
chain without the root, and a signature-time-stamp unsigned attribute when a timestamper is given.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Protocol

from asn1crypto import algos, cms, core, tsp, x509
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from keystore import KeySigner

_OID_DATA = "1.2.840.113549.1.7.1"
_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_SIGNATURE_TIMESTAMP = "1.2.840.113549.1.9.16.2.14"
_HASHES = {"ec-p256": "sha256", "rsa-2048": "sha256"}  # everything else signs with SHA-384


class RawSigner(Protocol):
    """What keystore/ hands out (software or PKCS#11): signs bytes with the key's own scheme."""

    algorithm: str

    def sign(self, data: bytes) -> bytes: ...
    def sign_prehashed(self, digest: bytes) -> bytes: ...  # CSC signHash: a digest computed elsewhere


def digest_algorithm_for(key_algorithm: str) -> str:
    return _HASHES.get(key_algorithm, "sha384")


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def tlv(tag: int, *contents: bytes) -> bytes:
    body = b"".join(contents)
    return bytes([tag]) + _der_length(len(body)) + body


def _signature_algorithm(key_algorithm: str, digest: str) -> algos.SignedDigestAlgorithm:
    if key_algorithm.startswith("ec-"):
        return algos.SignedDigestAlgorithm({"algorithm": f"{digest}_ecdsa"})
    hash_algorithm = algos.DigestAlgorithm({"algorithm": digest})
    return algos.SignedDigestAlgorithm(
        {
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams(
                {
                    "hash_algorithm": hash_algorithm,
                    "mask_gen_algorithm": algos.MaskGenAlgorithm(
                        {"algorithm": "mgf1", "parameters": hash_algorithm}
                    ),
                    "salt_length": hashlib.new(digest).digest_size,
                }
            ),
        }
    )


class TemplateSigner(Signer):
    """A pyHanko ``Signer`` for one certificate whose CMS container is spliced from cached encodings."""

    def __init__(
        self, raw: RawSigner, certificate: x509.Certificate, chain: Sequence[x509.Certificate]
    ) -> None:
        self.raw = raw
        self.digest_algorithm = digest_algorithm_for(raw.algorithm)
        mechanism = _signature_algorithm(raw.algorithm, self.digest_algorithm)
        super().__init__(
            prefer_pss=not raw.algorithm.startswith("ec-"),
            embed_roots=False,
            signature_mechanism=mechanism,
            signing_cert=certificate,
            cert_registry=SimpleCertificateStore.from_certs([certificate, *chain]),
        )
        intermediates = [c for c in chain if c.self_signed == "no"]
        self._encode_constant_parts(certificate, intermediates, mechanism)

    def _encode_constant_parts(
        self,
        certificate: x509.Certificate,
        intermediates: Sequence[x509.Certificate],
        mechanism: algos.SignedDigestAlgorithm,
    ) -> None:
        digest = self.digest_algorithm
        self._digest_algorithm_der = algos.DigestAlgorithm({"algorithm": digest}).dump()
        self._mechanism_der = mechanism.dump()
        issuer_serial = cms.IssuerAndSerialNumber(
            {"issuer": certificate.issuer, "serial_number": certificate.serial_number}
        )
        self._sid_der = issuer_serial.dump()
        ess_cert_id = tsp.ESSCertIDv2(
            {
                "hash_algorithm": {"algorithm": digest},
                "cert_hash": hashlib.new(digest, certificate.dump()).digest(),
                "issuer_serial": {
                    "issuer": [x509.GeneralName({"directory_name": certificate.issuer})],
                    "serial_number": certificate.serial_number,
                },
            }
        )
        signing_certificate = tsp.SigningCertificateV2({"certs": [ess_cert_id]})
        content_type_attr = cms.CMSAttribute(
            {"type": "content_type", "values": [cms.ContentType("data")]}
        ).dump()
        signing_cert_attr = cms.CMSAttribute(
            {"type": "signing_certificate_v2", "values": [signing_certificate]}
        ).dump()
        digest_size = hashlib.new(digest).digest_size
        self._message_digest_prefix = cms.CMSAttribute(
            {"type": "message_digest", "values": [core.OctetString(b"\0" * digest_size)]}
        ).dump()[:-digest_size]
        # DER orders a SET OF by the encodings; the message-digest attribute's position depends only on its
        # fixed prefix, so the order is settled once here.
        placeholder = self._message_digest_prefix + b"\0" * digest_size
        ordered = sorted([content_type_attr, signing_cert_attr, placeholder])
        self._attr_slot = ordered.index(placeholder)
        self._fixed_attrs = [a for a in ordered if a is not placeholder]
        self._certificates_der = b"".join(c.dump() for c in [certificate, *intermediates])

    def signed_attributes(self, document_digest: bytes) -> bytes:
        """The DER of the signed attributes as signed (tagged as a SET, RFC 5652 §5.4)."""
        attrs = list(self._fixed_attrs)
        attrs.insert(self._attr_slot, self._message_digest_prefix + document_digest)
        return tlv(0x31, *attrs)

    def container(self, signed_attrs: bytes, signature: bytes, timestamp_token: bytes | None) -> bytes:
        unsigned = b""
        if timestamp_token is not None:
            attribute = tlv(
                0x30, core.ObjectIdentifier(_OID_SIGNATURE_TIMESTAMP).dump(), tlv(0x31, timestamp_token)
            )
            unsigned = tlv(0xA1, attribute)
        signer_info = tlv(
            0x30,
            b"\x02\x01\x01",
            self._sid_der,
            self._digest_algorithm_der,
            b"\xa0" + signed_attrs[1:],  # [0] IMPLICIT: same contents, context tag
            self._mechanism_der,
            tlv(0x04, signature),
            unsigned,
        )
        signed_data = tlv(
            0x30,
            b"\x02\x01\x01",
            tlv(0x31, self._digest_algorithm_der),
            tlv(0x30, core.ObjectIdentifier(_OID_DATA).dump()),
            tlv(0xA0, self._certificates_der),
            tlv(0x31, signer_info),
        )
        return tlv(0x30, core.ObjectIdentifier(_OID_SIGNED_DATA).dump(), tlv(0xA0, signed_data))

    def sign_digest(self, document_digest: bytes) -> tuple[bytes, bytes]:
        """Signed attributes and the signature over them (CSC signHash-style integrators use this too)."""
        signed_attrs = self.signed_attributes(document_digest)
        return signed_attrs, self.raw.sign(signed_attrs)

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        return self.raw.sign(data)

    async def async_sign(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run: bool = False,
        use_pades: bool = False,
        timestamper: TimeStamper | None = None,
        signed_attr_settings: object = None,
        is_pdf_sig: bool = True,
        encap_content_info: object = None,
    ) -> cms.ContentInfo:
        if digest_algorithm.lower() != self.digest_algorithm:
            raise ValueError(f"this signer hashes with {self.digest_algorithm}, not {digest_algorithm}")
        signed_attrs, signature = (
            await asyncio.to_thread(self.sign_digest, data_digest)
            if _slow(self.raw)
            else self.sign_digest(data_digest)
        )
        token = None
        if timestamper is not None:
            imprint = hashlib.new(self.digest_algorithm, signature).digest()
            if dry_run:
                token_info = await timestamper.async_dummy_response(self.digest_algorithm)
            else:
                token_info = await timestamper.async_timestamp(imprint, self.digest_algorithm)
            token = token_info.dump()
        return cms.ContentInfo.load(self.container(signed_attrs, signature, token))


def _slow(raw: RawSigner) -> bool:
    """Token-backed keys round-trip to a device: sign them off the event loop."""
    return not isinstance(raw, KeySigner)
