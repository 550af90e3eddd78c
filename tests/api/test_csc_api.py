"""The CSC API (/csc/v1) driven by a client nobody here wrote: pyHanko's CSCSigner signs a PDF through a live
`kyso serve`, SCAL2 (the official's code confirms exactly the hash signed), and the result validates in
poppler's pdfsig and pyHanko. Errors come back in the spec's shape."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import urllib.error
import urllib.request

import aiohttp
import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.csc_signer import (
    CSCAuthorizationInfo,
    CSCAuthorizationManager,
    CSCServiceSessionInfo,
    CSCSigner,
    fetch_certs_in_csc_credential,
)
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner

from ca.issuance import IssueRequest
from ca.subjects import SubjectFields
from identity import accounts
from identity.sessions import create_api_key
from signing import credentials
from store.models import AuditEntry
from tests.conftest import TestAccount, make_account, make_instance, start_server, stop_server
from tests.support.pdfs import sample_pdf
from tests.support.signing import SUBJECTS, holder, new_cccd, nss_database, pdfsig, root_asn1, root_pem
from tests.support.validators import pyhanko_verdicts


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("csc")
    instance = make_instance(tmp, f"sqlite:///{tmp / 'kyso.db'}")
    official, serial = holder(instance, "official")
    service = make_account(instance, "service")
    with instance.db.transaction() as session:
        bound = credentials.bind(
            session,
            account=accounts.get(session, official.username),
            serial=serial,
            now=instance.ca.clock.now(),
        )
        key = create_api_key(
            session, instance.ca.clock, service.username, "dms", ["documents:sign"], actor="test"
        )
    # a second official whose key is RSA-2048 (RSASSA-PSS signatures)
    rsa_cccd = new_cccd()
    rsa_official = make_account(instance, "official", cccd=rsa_cccd)
    fields = SubjectFields(**{**SUBJECTS["official"].as_dict(), "cccd": rsa_cccd})
    with instance.db.transaction() as session:
        issued = instance.ca.issue(
            session, IssueRequest(profile="official", subject=fields, keygen="rsa-2048")
        )
        rsa_bound = credentials.bind(
            session, account=accounts.get(session, rsa_official.username), serial=issued.certificate.serial,
            now=instance.ca.clock.now(),
        )  # fmt: skip
    server = start_server(instance)
    try:
        # the official logs in once through CSC auth/login (which also confirms her authenticator app)
        basic = base64.b64encode(f"{official.username}:{official.password}".encode()).decode()
        codes = Codes(official)
        status, answer = _post(server.url + "/csc/v1/auth/login", {"clientData": codes.next()},
                               headers={"Authorization": f"Basic {basic}"})  # fmt: skip
        assert status == 200 and answer["expires_in"] > 0, answer
        official.token = answer["access_token"]  # type: ignore[attr-defined]
        official.codes = codes  # type: ignore[attr-defined]
        for account in (rsa_official,):
            account.codes = Codes(account)  # type: ignore[attr-defined]
            basic = base64.b64encode(f"{account.username}:{account.password}".encode()).decode()
            status, answer = _post(server.url + "/csc/v1/auth/login", {"clientData": account.codes.next()},  # type: ignore[attr-defined]
                                   headers={"Authorization": f"Basic {basic}"})  # fmt: skip
            assert status == 200, answer
        instance.rsa = (rsa_official, rsa_bound.id)  # type: ignore[attr-defined]
        yield instance, server.url, official, bound.id, key.key, tmp
    finally:
        stop_server(server)
        instance.db.dispose()


def _post(url: str, body: object, token: str | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _pss_sha256():
    from asn1crypto import algos

    sha256 = algos.DigestAlgorithm({"algorithm": "sha256"})
    return algos.SignedDigestAlgorithm({
        "algorithm": "rsassa_pss",
        "parameters": algos.RSASSAPSSParams({
            "hash_algorithm": sha256,
            "mask_gen_algorithm": algos.MaskGenAlgorithm({"algorithm": "mgf1", "parameters": sha256}),
            "salt_length": 32,
        }),
    })  # fmt: skip


class PssSaltOfTheDigest(CSCSigner):
    """pyHanko's PSS salt is the longest the key allows; Kyso's keys sign with the digest's length (RFC 4055's
    usual choice), and signHash refuses other parameters: the client asks for those."""

    def get_signature_mechanism_for_digest(self, digest_algorithm):
        return _pss_sha256()


class Codes:
    """The official's codes in the order the tests ask for them: each of a later 30-s step than the last
    (Kyso accepts a code once, and none older than the last one used), within the step either side of now;
    waits for the clock when the next step is not yet acceptable. The tests may run in any order."""

    def __init__(self, official: TestAccount) -> None:
        self.official = official
        self.last_step = int(time.time()) // 30 - 2

    def next(self) -> str:
        while True:
            current = int(time.time()) // 30
            step = max(self.last_step + 1, current - 1)
            if step <= current + 1:
                self.last_step = step
                return self.official.code(at=step * 30 + 1)
            time.sleep(0.5)


class OfficialTypesHerCode(CSCAuthorizationManager):
    """What a document system does: asks the official for her current code, then credentials/authorize
    with the hashes about to be signed (SCAL2). The codes used are kept to replay one in a test."""

    def __init__(self, session_info, credential_info, session: aiohttp.ClientSession, official: TestAccount):
        super().__init__(session_info, credential_info)
        self.session = session
        self.official = official
        self.codes: list[str] = []
        self.sads: list[str] = []

    async def authorize_signature(self, hash_b64s: list[str]) -> CSCAuthorizationInfo:
        code = self.official.codes.next()  # type: ignore[attr-defined]
        self.codes.append(code)
        body = self.format_csc_auth_request(otp=code, hash_b64s=hash_b64s)
        url = self.csc_session_info.endpoint_url("credentials/authorize")
        async with self.session.post(url, json=body, headers=self.auth_headers) as answer:
            data = await answer.json()
            assert answer.status == 200, data
        parsed = self.parse_csc_auth_response(data)
        self.sads.append(parsed.sad)
        return parsed


async def _sign_with_pyhanko(
    url: str,
    credential_id: str,
    api_key: str,
    official: TestAccount,
    pdf: bytes,
    *,
    timestamped: bool = False,
    prefer_pss: bool = False,
    longest_salt: bool = False,
):
    from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper

    async with aiohttp.ClientSession() as session:
        info = CSCServiceSessionInfo(url, credential_id, oauth_token=api_key)
        credential = await fetch_certs_in_csc_credential(session, info)
        manager = OfficialTypesHerCode(info, credential, session, official)
        kind = PssSaltOfTheDigest if prefer_pss and not longest_salt else CSCSigner
        signer = kind(session, manager, prefer_pss=prefer_pss)
        meta = PdfSignatureMetadata(field_name="CSC", subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256")
        output = io.BytesIO()
        timestamper = (
            HTTPTimeStamper(url + "/tsa", session=session) if timestamped else None
        )  # Kyso's own TSA
        await PdfSigner(meta, signer, timestamper=timestamper).async_sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(pdf)), output=output
        )
        return output.getvalue(), credential, manager


def test_pyhankos_csc_signer_signs_b_t_through_kyso_and_the_pdf_validates(live) -> None:
    instance, url, official, credential_id, api_key, tmp = live
    signed, credential, manager = asyncio.run(
        _sign_with_pyhanko(url, credential_id, api_key, official, sample_pdf(1), timestamped=True)
    )
    assert credential.hash_pinning_required and len(credential.chain) >= 1  # SCAL2, the chain in the answer
    path = tmp / "csc-signed.pdf"
    path.write_bytes(signed)
    [poppler] = pdfsig(path, nss_database(tmp / "nss", root_pem(instance)))
    assert poppler.signature_valid and poppler.certificate_trusted, poppler.raw
    assert "ETSI.CAdES.detached" in poppler.raw
    [verdict] = pyhanko_verdicts(signed, root_asn1(instance))
    assert (verdict.intact, verdict.valid, verdict.trusted) == (True, True, True)
    assert verdict.timestamp_trusted  # B-T: pyHanko's own TSA client asked Kyso's /tsa
    # the same authorisation and audit trail as /api/v1/signing: the SAD is Kyso's authorisation id
    [sad] = manager.sads
    with instance.db.reading() as session:
        entries = session.query(AuditEntry).filter(
            AuditEntry.action.in_(["signing.authorize", "document.sign-hash"])
        )
        mine = [e for e in entries if sad in e.details]
    assert sorted(e.action for e in mine) == ["document.sign-hash", "signing.authorize"]
    assert all(e.outcome == "success" for e in mine), [(e.action, e.outcome) for e in mine]

    # the SAD was consumed: signing again with it is refused in the spec's shape
    digest = base64.b64encode(bytes(32)).decode()
    status, body = _post(url + "/csc/v1/signatures/signHash", {"credentialID": credential_id, "SAD": sad,
                         "hash": [digest], "signAlgo": "1.2.840.10045.4.3.2"}, api_key)  # fmt: skip
    assert status == 400 and body["error"] == "invalid_request", body
    # and the code the official typed cannot authorise anything else
    status, body = _post(url + "/csc/v1/credentials/authorize", {"credentialID": credential_id, "numSignatures": 1,
                         "hash": [digest], "OTP": manager.codes[0]}, api_key)  # fmt: skip
    assert status == 400 and body["error"] == "invalid_otp", body


def test_info_list_and_errors_in_the_specs_shape(live) -> None:
    _, url, official, credential_id, api_key, _ = live
    status, info = _post(url + "/csc/v1/info", {})
    assert status == 200 and info["specs"].startswith("1.0.4") and "signatures/signHash" in info["methods"]
    status, listed = _post(url + "/csc/v1/credentials/list", {"userID": official.username}, api_key)
    assert status == 200 and listed == {"credentialIDs": [credential_id]}
    status, details = _post(url + "/csc/v1/credentials/info", {"credentialID": credential_id, "certInfo": True},
                            api_key)  # fmt: skip
    assert status == 200 and details["SCAL"] == "2" and details["key"]["algo"] == ["1.2.840.10045.4.3.2"]
    assert len(details["cert"]["certificates"]) == 1 and details["cert"]["subjectDN"]
    cases = [
        ("/csc/v1/credentials/info", {"credentialID": credential_id}, None, 401, "invalid_token"),
        ("/csc/v1/credentials/info", {"credentialID": "nope"}, api_key, 403, "access_denied"),
        ("/csc/v1/credentials/info", {}, api_key, 400, "invalid_request"),
        ("/csc/v1/credentials/authorize", {"credentialID": credential_id, "numSignatures": 1}, api_key, 400,
         "invalid_request"),
        ("/csc/v1/credentials/authorize", {"credentialID": credential_id, "numSignatures": 1, "hash": ["**"],
                                           "OTP": "123456"}, api_key, 400, "invalid_request"),
        ("/csc/v1/signatures/signHash", {"credentialID": credential_id, "SAD": "made-up", "signAlgo":
                                         "1.2.840.10045.4.3.2", "hash": [base64.b64encode(bytes(32)).decode()]},
         api_key, 400, "invalid_request"),
    ]  # fmt: skip
    for path, body, token, code, error in cases:
        status, answer = _post(url + path, body, token)
        assert (status, answer.get("error")) == (code, error), (path, body, answer)
        assert answer["error_description"]
    status, answer = _post(
        url + "/csc/v1/auth/login", {}, headers={"Authorization": "Basic bm9ib2R5Om5vcGU="}
    )
    assert status == 400 and answer["error"] == "authentication_error"


def test_csc_login_gives_a_token_the_csc_routes_take(live) -> None:
    _, url, official, credential_id, _, _ = live
    status, listed = _post(url + "/csc/v1/credentials/list", {}, official.token)
    assert status == 200 and listed["credentialIDs"] == [credential_id]


def _verify_raw(certificate_b64: str, digest: bytes, signature_b64: str) -> None:
    """A CSC signature is the bare ECDSA value over the digest: check it with the certificate's key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    public = x509.load_der_x509_certificate(base64.b64decode(certificate_b64)).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(signature_b64), digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_extend_transaction_signs_hashes_known_only_later(live) -> None:
    """numSignatures 3 with one hash: each later hash gets its SAD by extendTransaction, no new code, and
    the open count is spent exactly once."""
    import hashlib

    instance, url, official, credential_id, api_key, _ = live
    digests = [hashlib.sha256(f"revision {n}".encode()).digest() for n in range(4)]
    b64 = [base64.b64encode(d).decode() for d in digests]
    _, details = _post(url + "/csc/v1/credentials/info", {"credentialID": credential_id}, api_key)
    [certificate] = details["cert"]["certificates"]
    code = official.codes.next()
    status, first = _post(url + "/csc/v1/credentials/authorize", {"credentialID": credential_id,
                          "numSignatures": 3, "hash": b64[:1], "OTP": code}, api_key)  # fmt: skip
    assert status == 200, first
    sad = first["SAD"]
    for number in range(3):
        if number:
            status, extended = _post(url + "/csc/v1/credentials/extendTransaction",
                                     {"credentialID": credential_id, "SAD": sad, "hash": [b64[number]]}, api_key)  # fmt: skip
            assert status == 200 and extended["SAD"] != sad, extended
            sad = extended["SAD"]
        status, signed = _post(url + "/csc/v1/signatures/signHash", {"credentialID": credential_id, "SAD": sad,
                               "hash": [b64[number]], "signAlgo": "1.2.840.10045.4.3.2"}, api_key)  # fmt: skip
        assert status == 200, signed
        _verify_raw(certificate, digests[number], signed["signatures"][0])
    # the three signatures are spent: a fourth extension, and a hash nobody named, are refused
    status, answer = _post(url + "/csc/v1/credentials/extendTransaction",
                           {"credentialID": credential_id, "SAD": sad, "hash": [b64[3]]}, api_key)  # fmt: skip
    assert status == 400 and answer["error"] == "invalid_request", answer
    status, answer = _post(url + "/csc/v1/credentials/extendTransaction",
                           {"credentialID": credential_id, "SAD": first["SAD"], "hash": [b64[3]]}, api_key)  # fmt: skip
    assert status == 400 and answer["error"] == "invalid_request", answer
    with instance.db.reading() as session:
        extensions = session.query(AuditEntry).filter(AuditEntry.action == "signing.authorize.extend").all()
    assert [e.outcome for e in extensions].count("success") == 2
    assert [e.outcome for e in extensions].count("refused") == 2


def test_sign_doc_signs_whole_pdfs_b_lt_with_a_sad_bound_to_their_hashes(live) -> None:
    import hashlib

    instance, url, official, credential_id, api_key, tmp = live
    pdf = sample_pdf(1)
    digest = base64.b64encode(hashlib.sha256(pdf).digest()).decode()
    status, granted = _post(url + "/csc/v1/credentials/authorize", {"credentialID": credential_id,
                            "numSignatures": 1, "hash": [digest], "OTP": official.codes.next()}, api_key)  # fmt: skip
    assert status == 200, granted
    other = base64.b64encode(sample_pdf(2)).decode()  # a document the official did not confirm
    status, answer = _post(url + "/csc/v1/signatures/signDoc", {"credentialID": credential_id, "SAD": granted["SAD"],
                           "documents": [{"document": other}]}, api_key)  # fmt: skip
    assert (
        status == 400
        and answer["error"] == "invalid_request"
        and "not one the signer confirmed" in str(answer)
    )
    status, answer = _post(url + "/csc/v1/signatures/signDoc", {"credentialID": credential_id, "SAD": granted["SAD"],
                           "documents": [{"document": base64.b64encode(pdf).decode(),
                                          "conformance_level": "AdES-B-LT"}]}, api_key)  # fmt: skip
    assert status == 200, answer
    signed = base64.b64decode(answer["DocumentWithSignature"][0])
    [verdict] = pyhanko_verdicts(signed, root_asn1(instance))
    assert (verdict.intact, verdict.valid, verdict.trusted, verdict.revocation_checked) == (
        True,
        True,
        True,
        True,
    )
    path = tmp / "sign-doc.pdf"
    path.write_bytes(signed)
    [poppler] = pdfsig(path, nss_database(tmp / "nss", root_pem(instance)))
    assert poppler.signature_valid and poppler.certificate_trusted, poppler.raw
    with instance.db.reading() as session:
        entry = session.query(AuditEntry).filter(AuditEntry.target == answer["documentIDs"][0]).one()
    assert entry.action == "document.sign" and granted["SAD"] in entry.details


def test_an_rsa_key_signs_rsassa_pss_for_pyhankos_csc_signer(live) -> None:
    instance, url, _, _, api_key, tmp = live
    rsa_official, credential_id = instance.rsa
    _, details = _post(url + "/csc/v1/credentials/info", {"credentialID": credential_id}, api_key)
    assert details["key"]["algo"] == ["1.2.840.113549.1.1.10"] and details["key"]["len"] == 2048  # RSASSA-PSS
    from pyhanko.sign.general import SigningError

    with pytest.raises(SigningError):  # other PSS parameters than the key's: signHash refuses (400)
        asyncio.run(_sign_with_pyhanko(url, credential_id, api_key, rsa_official, sample_pdf(1), prefer_pss=True,
                                       longest_salt=True))  # fmt: skip
    signed, _, _ = asyncio.run(
        _sign_with_pyhanko(url, credential_id, api_key, rsa_official, sample_pdf(1), prefer_pss=True)
    )
    [verdict] = pyhanko_verdicts(signed, root_asn1(instance))
    assert (verdict.intact, verdict.valid, verdict.trusted) == (True, True, True)
    path = tmp / "csc-rsa.pdf"
    path.write_bytes(signed)
    [poppler] = pdfsig(path, nss_database(tmp / "nss", root_pem(instance)))
    assert poppler.signature_valid, poppler.raw
