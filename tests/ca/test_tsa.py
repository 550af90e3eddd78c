"""The timestamp authority (RFC 3161): real `openssl ts` queries over HTTP, bad input, pyHanko in-process."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from fastapi.testclient import TestClient
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from api.app import create_app
from ca import lifecycle, service_signers
from ca.runtime import CaRuntime
from ca.tsa import POLICY_OID, TimestampAuthority, TimestampRejected, TimeStampResponse
from ca.tsa_pyhanko import InProcessTimeStamper
from core.clock import FrozenClock
from core.ids import serial_hex
from store.migrate import upgrade
from tests.conftest import Instance, kyso, make_instance, make_settings, run_tool, start_server, stop_server

QUERY = {"Content-Type": "application/timestamp-query"}
REPLY = "application/timestamp-reply"
DATA = "Quyết định 123/QĐ-UBND — Phường Bến Thành\n".encode()


@dataclass
class Pki:
    client: TestClient
    root: Path  # the root CA, trusted
    untrusted: Path  # the Government CA and the TSA certificate, for tokens issued without certReq
    tsa_certificate: x509.Certificate
    data: Path
    tmp: Path


@pytest.fixture(scope="module")
def pki(shared_instance: Instance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pki]:
    tmp = tmp_path_factory.mktemp("tsa")
    with shared_instance.db.reading() as session:
        chain = x509.load_pem_x509_certificates(shared_instance.ca.chain_pem(session, "government").encode())
        tsa_certificate = service_signers.load(session, shared_instance.ca, "tsa").certificate
    root, untrusted, data = tmp / "root.pem", tmp / "untrusted.pem", tmp / "decision.txt"
    root.write_bytes(chain[-1].public_bytes(serialization.Encoding.PEM))
    untrusted.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [*chain[:-1], tsa_certificate])
    )
    data.write_bytes(DATA)
    app = create_app(shared_instance.settings)
    with TestClient(app) as client:
        yield Pki(client, root, untrusted, tsa_certificate, data, tmp)
    app.state.kyso.runtime.db.dispose()


def post(pki: Pki, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return pki.client.post("/tsa", content=body, headers=QUERY if headers is None else headers)


def request_der(
    hash_name: str = "sha256",
    digest: bytes | None = None,
    *,
    nonce: int | None = 0x1234_5678_9ABC_DEF0,
    cert_req: bool = True,
    policy: str | None = None,
    version: int = 1,
    extensions: list[dict[str, object]] | None = None,
) -> bytes:
    fields: dict[str, object] = {
        "version": version,
        "message_imprint": {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": hash_name}),
            "hashed_message": hashlib.new(hash_name, DATA).digest() if digest is None else digest,
        },
        "cert_req": cert_req,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    if policy is not None:
        fields["req_policy"] = policy
    if extensions is not None:
        fields["extensions"] = extensions
    return tsp.TimeStampReq(fields).dump()


def status_of(der: bytes) -> tuple[str, set[str], list[str]]:
    status = TimeStampResponse.load(der)["status"]
    return (
        status["status"].native,
        set(status["fail_info"].native or ()),
        status["status_string"].native or [],
    )


def token_of(der: bytes) -> cms.ContentInfo:
    response = TimeStampResponse.load(der)
    assert response["status"]["status"].native == "granted"
    return response["time_stamp_token"]


def tst_info_of(token: cms.ContentInfo) -> tsp.TSTInfo:
    return token["content"]["encap_content_info"]["content"].parsed


# --- real openssl: query, reply, verify ------------------------------------------------------------


@pytest.mark.parametrize(
    ("digest_flag", "with_cert", "with_nonce"),
    [
        ("-sha256", True, True),
        ("-sha384", False, True),
        ("-sha512", True, False),
        ("-sha3-256", False, False),
    ],
)
def test_openssl_query_is_stamped_and_verifies(
    pki: Pki, tmp_path: Path, digest_flag: str, with_cert: bool, with_nonce: bool
) -> None:
    query, reply = tmp_path / "q.tsq", tmp_path / "r.tsr"
    flags = [*(["-cert"] if with_cert else []), *([] if with_nonce else ["-no_nonce"])]
    run_tool("openssl", "ts", "-query", "-data", pki.data, digest_flag, *flags, "-out", query)

    answer = post(pki, query.read_bytes())
    assert answer.status_code == 200
    assert answer.headers["content-type"] == REPLY
    reply.write_bytes(answer.content)

    verify = run_tool(
        "openssl", "ts", "-verify", "-data", pki.data, "-in", reply,
        "-CAfile", pki.root, "-untrusted", pki.untrusted,
    )  # fmt: skip
    assert "Verification: OK" in verify.stdout
    # Checked against the query too: imprint, policy and nonce must all match it.
    run_tool(
        "openssl", "ts", "-verify", "-queryfile", query, "-in", reply,
        "-CAfile", pki.root, "-untrusted", pki.untrusted,
    )  # fmt: skip

    text = run_tool("openssl", "ts", "-reply", "-in", reply, "-text").stdout
    assert "Status: Granted." in text
    assert f"Policy OID: {POLICY_OID}" in text
    assert re.search(r"Accuracy: 0x01 seconds", text)
    assert "Ordering: no" in text
    assert "TSA: DirName:" in text and "CN=Kyso Timestamp Authority" in text
    query_nonce = re.search(
        r"Nonce: (\S+)", run_tool("openssl", "ts", "-query", "-in", query, "-text").stdout
    )
    reply_nonce = re.search(r"Nonce: (\S+)", text)
    assert reply_nonce is not None and query_nonce is not None
    if with_nonce:
        assert reply_nonce.group(1) == query_nonce.group(1) != "unspecified"
    else:
        assert reply_nonce.group(1) == "unspecified"

    token = token_of(answer.content)
    certificates = token["content"]["certificates"]
    tsa_der = pki.tsa_certificate.public_bytes(serialization.Encoding.DER)
    if with_cert:
        assert certificates.native is not None
        assert tsa_der in [c.chosen.dump() for c in certificates]
    else:
        assert not certificates.native
    signer_info = token["content"]["signer_infos"][0]
    assert signer_info["sid"].name == "issuer_and_serial_number"
    attribute_types = {a["type"].native for a in signer_info["signed_attrs"]}
    assert attribute_types == {"content_type", "message_digest", "signing_certificate_v2"}


def test_tsa_certificate_has_the_critical_timestamping_eku_and_the_policy(pki: Pki) -> None:
    eku = pki.tsa_certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    policies = pki.tsa_certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert POLICY_OID in [p.policy_identifier.dotted_string for p in policies]


def test_token_fields(pki: Pki) -> None:
    digest = hashlib.sha384(DATA).digest()
    answer = post(pki, request_der("sha384", digest, nonce=5, cert_req=False, policy=POLICY_OID))
    token = token_of(answer.content)
    info = tst_info_of(token)
    assert info["version"].native == "v1"
    assert info["policy"].dotted == POLICY_OID
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha384"
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == 5
    assert info["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    assert info["gen_time"].native.microsecond == 0
    assert abs(info["gen_time"].native - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert 0 < info["serial_number"].native < 2**160
    signed_data = token["content"]
    assert signed_data["version"].native == "v3"
    assert signed_data["encap_content_info"]["content_type"].native == "tst_info"


# --- bad input ----------------------------------------------------------------------------------------

VALID = request_der()
# SEQUENCE { OID sha256, INTEGER 5 }: SHA-2 takes no parameters (RFC 5754)
SHA256_WITH_PARAMETERS = algos.DigestAlgorithm.load(bytes.fromhex("300e0609608648016503040201020105"))
VALID_WITH_PARAMETERS = tsp.TimeStampReq(
    {
        "version": 1,
        "message_imprint": {
            "hash_algorithm": SHA256_WITH_PARAMETERS,
            "hashed_message": hashlib.sha256(DATA).digest(),
        },
    }
).dump()
BAD_REQUESTS = {
    "garbage": (b"\x00\xff not DER at all" * 10, "bad_request"),
    "empty": (b"", "bad_request"),
    "truncated": (VALID[:-7], "bad_request"),
    "truncated to its header": (VALID[:2], "bad_request"),
    "trailing bytes": (VALID + b"\x00\x00", "bad_request"),
    "MD5 imprint": (request_der("md5"), "bad_alg"),
    "SHA-1 imprint": (request_der("sha1"), "bad_alg"),
    "SHA-224 imprint": (request_der("sha224"), "bad_alg"),
    "unknown hash OID": (request_der("1.2.3.4.5", b"\x01" * 32), "bad_alg"),
    "hash parameters": (VALID_WITH_PARAMETERS, "bad_request"),
    "imprint too short": (request_der("sha256", b"\x01" * 20), "bad_request"),
    "imprint too long": (request_der("sha512", b"\x01" * 65), "bad_request"),
    "version 2": (request_der(version=2), "bad_request"),
    "another policy": (request_der(policy="1.2.3.4.5"), "unaccepted_policy"),
    "an extension": (
        request_der(extensions=[{"extn_id": "1.2.3.4", "critical": False, "extn_value": b"\x05\x00"}]),
        "unaccepted_extensions",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_a_rejection_with_fail_info(pki: Pki, case: str) -> None:
    body, fail_info = BAD_REQUESTS[case]
    answer = post(pki, body)
    assert answer.status_code == 200  # the protocol's own error response
    assert answer.headers["content-type"] == REPLY
    status, fail_infos, texts = status_of(answer.content)
    assert status == "rejection"
    assert fail_infos == {fail_info}
    assert texts and texts[0]


def test_openssl_reads_a_rejection(pki: Pki, tmp_path: Path) -> None:
    reply = tmp_path / "r.tsr"
    reply.write_bytes(post(pki, request_der("sha1")).content)
    text = run_tool("openssl", "ts", "-reply", "-in", reply, "-text").stdout
    assert "Status: Rejected." in text
    assert "unrecognized or unsupported algorithm identifier" in text.lower()


def test_our_own_policy_is_accepted(pki: Pki) -> None:
    info = tst_info_of(token_of(post(pki, request_der(policy=POLICY_OID)).content))
    assert info["policy"].dotted == POLICY_OID


def test_a_20_mb_body_is_refused_and_the_next_request_is_answered(pki: Pki) -> None:
    answer = post(pki, b"\x30" * (20 * 1024 * 1024))
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading the stream
        for _ in range(20):
            yield b"\x30" * (1024 * 1024)

    streamed = pki.client.post("/tsa", content=chunks(), headers=QUERY)
    assert streamed.status_code == 413
    assert streamed.headers["content-type"] == "application/problem+json"
    assert status_of(post(pki, VALID).content)[0] == "granted"


@pytest.mark.parametrize("content_type", ["application/octet-stream", "application/json", None])
def test_other_media_types_get_415(pki: Pki, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = post(pki, VALID, headers)
    assert answer.status_code == 415
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 415
    # parameters on the right media type are fine
    assert (
        post(pki, VALID, {"Content-Type": "Application/Timestamp-Query; charset=binary"}).status_code == 200
    )


# --- serials, in-process use ---------------------------------------------------------------------------


def test_serials_of_200_tokens_are_distinct(shared_instance: Instance) -> None:
    authority = TimestampAuthority(shared_instance.ca)
    digest = hashlib.sha256(DATA).digest()
    with shared_instance.db.reading() as session:
        serials = {
            tst_info_of(authority.timestamp(digest, "sha256", None, False, session))["serial_number"].native
            for _ in range(200)
        }
    assert len(serials) == 200
    assert all(s.bit_length() == 128 for s in serials)


def test_in_process_timestamp_refuses_a_weak_hash(shared_instance: Instance) -> None:
    authority = TimestampAuthority(shared_instance.ca)
    with shared_instance.db.reading() as session, pytest.raises(TimestampRejected) as refused:
        authority.timestamp(hashlib.sha1(DATA).digest(), "sha1", None, True, session)
    assert refused.value.fail_info == "bad_alg"


def _validate(token: cms.ContentInfo, root_pem: str, digest: bytes) -> TimestampSignatureStatus:
    root_certificate = x509.load_pem_x509_certificates(root_pem.encode())[-1]
    root = asn1_x509.Certificate.load(root_certificate.public_bytes(serialization.Encoding.DER))
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    kwargs = asyncio.run(
        validate_tst_signed_data(token["content"], context, expected_tst_imprint=lambda _alg: digest)
    )
    return TimestampSignatureStatus(**kwargs)


def test_pyhanko_timestamper_in_process(shared_instance: Instance) -> None:
    stamper = InProcessTimeStamper(TimestampAuthority(shared_instance.ca), shared_instance.db)
    digest = hashlib.sha256(DATA).digest()
    token = asyncio.run(stamper.async_timestamp(digest, "sha256"))
    with shared_instance.db.reading() as session:
        root_pem = shared_instance.ca.chain_pem(session, "root")
    status = _validate(token, root_pem, digest)
    assert status.intact and status.valid and status.trusted, status
    assert status.signing_cert.subject.native["common_name"] == "Kyso Timestamp Authority"
    assert status.timestamp.tzinfo is not None

    with pytest.raises(TimestampRequestError, match="bad_alg"):
        asyncio.run(stamper.async_timestamp(hashlib.sha1(DATA).digest(), "sha1"))


# --- system failures: an uninitialised instance, a revoked TSA, a clock outside the certificate ---------


def test_no_tsa_signer_is_a_system_failure(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "var", f"sqlite:///{tmp_path / 'empty.db'}")
    runtime = CaRuntime.from_settings(settings)
    upgrade(runtime.db)
    try:
        status, fail_infos, texts = status_of(TimestampAuthority(runtime.ca).serve(runtime.db, VALID))
    finally:
        runtime.db.dispose()
    assert (status, fail_infos) == ("rejection", {"system_failure"})
    assert "kyso init" in texts[0]


def test_a_clock_outside_the_tsa_certificate_is_a_system_failure(shared_instance: Instance) -> None:
    later = FrozenClock(dt.datetime(2200, 1, 1, tzinfo=dt.UTC))
    runtime = CaRuntime.from_settings(shared_instance.settings, clock=later)
    try:
        status, fail_infos, _ = status_of(TimestampAuthority(runtime.ca).serve(runtime.db, VALID))
    finally:
        runtime.db.dispose()
    assert (status, fail_infos) == ("rejection", {"system_failure"})


def test_gen_time_comes_from_the_injected_clock(shared_instance: Instance) -> None:
    at = dt.datetime.now(dt.UTC).replace(microsecond=654321) + dt.timedelta(hours=1)
    runtime = CaRuntime.from_settings(shared_instance.settings, clock=FrozenClock(at))
    try:
        der = TimestampAuthority(runtime.ca).serve(runtime.db, VALID)
    finally:
        runtime.db.dispose()
    assert tst_info_of(token_of(der))["gen_time"].native == at.replace(microsecond=0)


def test_a_revoked_tsa_stamps_nothing(tmp_path: Path) -> None:
    inst = make_instance(tmp_path, f"sqlite:///{tmp_path / 'kyso.db'}")
    try:
        authority = TimestampAuthority(inst.ca)
        with inst.db.transaction() as session:
            serial = serial_hex(service_signers.load(session, inst.ca, "tsa").certificate.serial_number)
            lifecycle.revoke(inst.ca, session, serial, "key-compromise")
        status, fail_infos, _ = status_of(authority.serve(inst.db, VALID))
    finally:
        inst.db.dispose()
    assert (status, fail_infos) == ("rejection", {"system_failure"})


def test_rsa_tsa_signs_with_pss(tmp_path: Path) -> None:
    """An RSA hierarchy gives an RSA-3072 TSA, which signs RSASSA-PSS (Circular 15/2025).

    `openssl ts -verify` cannot check PSS tokens (it verifies through PKCS7, PKCS#1 v1.5 only:
    openssl/openssl#7904), so the token is checked with `openssl cms -verify` and with pyHanko.
    """
    inst = make_instance(tmp_path, f"sqlite:///{tmp_path / 'kyso.db'}", algorithm="rsa-3072")
    try:
        digest = hashlib.sha256(DATA).digest()
        with inst.db.reading() as session:
            token = TimestampAuthority(inst.ca).timestamp(digest, "sha256", 7, True, session)
            chain_pem = inst.ca.chain_pem(session, "government")
    finally:
        inst.db.dispose()
    signer_info = token["content"]["signer_infos"][0]
    assert signer_info["signature_algorithm"]["algorithm"].native == "rsassa_pss"
    assert signer_info["signature_algorithm"]["parameters"]["salt_length"].native == 48
    assert signer_info["digest_algorithm"]["algorithm"].native == "sha384"

    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    (tmp_path / "token.der").write_bytes(token.dump())
    (tmp_path / "root.pem").write_bytes(chain[-1].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ca.pem").write_bytes(chain[0].public_bytes(serialization.Encoding.PEM))
    verify = run_tool(
        "openssl", "cms", "-verify", "-inform", "DER", "-in", tmp_path / "token.der",
        "-CAfile", tmp_path / "root.pem", "-certfile", tmp_path / "ca.pem",
        "-purpose", "timestampsign", "-out", tmp_path / "tst_info.der",
    )  # fmt: skip
    assert "Verification successful" in verify.stderr + verify.stdout
    assert tsp.TSTInfo.load((tmp_path / "tst_info.der").read_bytes())["nonce"].native == 7
    status = _validate(token, chain_pem, digest)
    assert status.intact and status.valid and status.trusted, status


# --- the running service keeps its signer per process, and still sees a status change at once ----------


def test_the_service_refuses_at_once_when_another_process_suspends_the_tsa(
    instance: Instance, tmp_path: Path
) -> None:
    with instance.db.reading() as session:
        chain = x509.load_pem_x509_certificates(instance.ca.chain_pem(session, "government").encode())
        tsa_serial = serial_hex(service_signers.load(session, instance.ca, "tsa").certificate.serial_number)
    root, data, query = tmp_path / "root.pem", tmp_path / "decision.txt", tmp_path / "q.tsq"
    root.write_bytes(chain[-1].public_bytes(serialization.Encoding.PEM))
    data.write_bytes(DATA)
    run_tool("openssl", "ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
    server = start_server(instance)

    def stamp(name: str) -> tuple[Path, str]:
        request = urllib.request.Request(f"{server.url}/tsa", data=query.read_bytes(), headers=QUERY)
        with urllib.request.urlopen(request, timeout=30) as response:
            (tmp_path / name).write_bytes(response.read())
        return tmp_path / name, run_tool("openssl", "ts", "-reply", "-in", tmp_path / name, "-text").stdout

    def verifies(reply: Path) -> bool:
        untrusted = tmp_path / "untrusted.pem"
        untrusted.write_bytes(chain[0].public_bytes(serialization.Encoding.PEM))
        result = run_tool("openssl", "ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile", root,
                          "-untrusted", untrusted, check=False)  # fmt: skip
        return "Verification: OK" in result.stdout

    try:
        for i in range(3):  # the signer is loaded once, then kept
            reply, text = stamp(f"before{i}.tsr")
            assert "Status: Granted." in text and verifies(reply)
        assert kyso(instance, "ca", "suspend", tsa_serial).returncode == 0  # the CLI: another process
        reply, text = stamp("suspended.tsr")
        assert "Status: Rejected." in text and "system failure" in text.lower(), text
        assert kyso(instance, "ca", "reinstate", tsa_serial).returncode == 0
        reply, text = stamp("reinstated.tsr")
        assert "Status: Granted." in text and verifies(reply)
    finally:
        stop_server(server)
