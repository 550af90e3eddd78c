"""Keys in a PKCS#11 token (SoftHSM2): made there, never exported, signing what software keys sign.

Signatures and X.509 structures are checked by `openssl`; `kyso` runs as a real process against the
token; the token's own attributes say whether a key could leave it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from sqlalchemy import select

from ca import service_signers
from ca.issuance import IssueRequest
from ca.runtime import CaRuntime
from ca.subjects import SubjectFields
from core.clock import SystemClock
from core.errors import Kind, ServiceError
from keystore import Custody, KeySigner, Pkcs11Keystore, Pkcs11Signer, SoftwareKeystore, open_keystore
from keystore.algorithms import rsa_pss_padding, signature_hash
from keystore.pkcs11_token import connection
from store.db import Database
from store.migrate import upgrade
from store.models import Authority, Certificate, ServiceSigner, StoredKey
from tests.conftest import Instance, kyso, make_instance, make_settings, run_tool, start_server, stop_server
from tests.support.softhsm import Pkcs11Instance, SoftHsmToken  # fixtures: tests/conftest.py loads them

ALGORITHMS = ["ec-p256", "ec-p384", "rsa-2048"]
CITIZEN = SubjectFields(surname="Lê", given_name="Thị Hoa", cccd="079203004321")


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'keys.db'}")
    upgrade(database)
    return database


def generate(keystore: Pkcs11Keystore, db: Database, algorithm: str) -> Pkcs11Signer:
    with db.transaction() as session:
        return keystore.generate(session, algorithm, f"test {algorithm}")


def write_pem(path: Path, item: object) -> Path:
    path.write_bytes(item.public_bytes(serialization.Encoding.PEM))  # type: ignore[attr-defined]
    return path


def public_pem(path: Path, public_key: object) -> Path:
    path.write_bytes(
        public_key.public_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def assert_clean_failure(result, setting: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert setting in output, output
    assert "Traceback" not in output, output


# --- keys and signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_token_keys_sign_what_cryptography_and_openssl_verify(
    pkcs11_keystore: Pkcs11Keystore, db: Database, tmp_path: Path, algorithm: str
) -> None:
    signer = generate(pkcs11_keystore, db, algorithm)
    with db.reading() as session:
        row = session.get(StoredKey, signer.key_id)
        assert row is not None
        assert (row.backend, row.algorithm, row.wrapped_private_key) == ("pkcs11", algorithm, None)
        recorded = serialization.load_der_public_key(row.public_key_der)
    assert recorded == signer.public_key()

    data = "Quyết định 123/QĐ-UBND".encode() * 100
    signature = signer.sign(data)
    digest = signature_hash(algorithm)
    if isinstance(recorded, ec.EllipticCurvePublicKey):
        recorded.verify(signature, data, ec.ECDSA(digest))  # DER-encoded, as KeySigner gives
    else:
        assert isinstance(recorded, rsa.RSAPublicKey)
        recorded.verify(signature, data, rsa_pss_padding(algorithm), digest)
    assert signer.verify(data, signature)
    assert not signer.verify(data + b".", signature)

    (tmp_path / "data").write_bytes(data)
    (tmp_path / "sig").write_bytes(signature)
    pss = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
    verified = run_tool(
        "openssl", "dgst", f"-{digest.name}", "-verify", public_pem(tmp_path / "pub.pem", recorded),
        *(pss if algorithm.startswith("rsa") else []), "-signature", tmp_path / "sig", tmp_path / "data",
    )  # fmt: skip
    assert "Verified OK" in verified.stdout


def test_signers_are_found_again_from_a_fresh_keystore(softhsm_token: SoftHsmToken, db: Database) -> None:
    signer = generate(Pkcs11Keystore(softhsm_token.config(), SystemClock()), db, "ec-p256")
    fresh = Pkcs11Keystore(softhsm_token.config(), SystemClock())
    with db.reading() as session:
        again = fresh.signer(session, signer.key_id or "")
    assert again.public_key() == signer.public_key()
    assert signer.verify(b"hello", again.sign(b"hello"))


def test_a_key_missing_from_the_token_is_reported(pkcs11_keystore: Pkcs11Keystore, db: Database) -> None:
    signer = generate(pkcs11_keystore, db, "ec-p256")
    with connection(pkcs11_keystore.config).session() as session:
        for obj in session.get_objects({Attribute.ID: (signer.key_id or "").encode()}):
            obj.destroy()
    fresh = Pkcs11Keystore(pkcs11_keystore.config, SystemClock())
    with db.reading() as session, pytest.raises(ServiceError) as caught:
        fresh.signer(session, signer.key_id or "")
    assert caught.value.kind is Kind.UNAVAILABLE
    assert "not in the PKCS#11 token" in caught.value.message


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_private_keys_cannot_leave_the_token(
    pkcs11_keystore: Pkcs11Keystore, softhsm_token: SoftHsmToken, db: Database, algorithm: str
) -> None:
    signer = generate(pkcs11_keystore, db, algorithm)
    key_id = signer.key_id or ""
    assert softhsm_token.private_keys()[key_id] == {
        "token": True,
        "private": True,
        "sensitive": True,
        "extractable": False,
        "always_sensitive": True,
        "never_extractable": True,
    }
    with connection(softhsm_token.config()).session() as session:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id.encode())
        secret_part = Attribute.VALUE if algorithm.startswith("ec") else Attribute.PRIVATE_EXPONENT
        with pytest.raises(p11.AttributeSensitive):
            private[secret_part]
        wrapping_key = session.generate_key(
            KeyType.AES, 256, capabilities=MechanismFlag.WRAP | MechanismFlag.ENCRYPT
        )  # a session key: gone when the session closes
        with pytest.raises(p11.PKCS11Error):  # CKR_KEY_UNEXTRACTABLE
            wrapping_key.wrap_key(private)
        with pytest.raises(p11.PKCS11Error):  # CKA_EXTRACTABLE can only ever go from true to false
            private[Attribute.EXTRACTABLE] = True
        wrapping_key.destroy()


# --- X.509 structures --------------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_certificates_crls_and_ocsp_responses_signed_in_the_token_pass_openssl(
    pkcs11_keystore: Pkcs11Keystore, db: Database, tmp_path: Path, algorithm: str
) -> None:
    signer = generate(pkcs11_keystore, db, algorithm)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ca_name = _name(f"Token CA {algorithm}")
    ca_cert = signer.sign_x509(
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(signer.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer.public_key()), critical=False)  # type: ignore[arg-type]
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = signer.sign_x509(
        x509.CertificateBuilder()
        .subject_name(_name("Nguyễn Văn An"))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if algorithm.startswith("rsa"):
        assert ca_cert.signature_algorithm_oid == x509.oid.SignatureAlgorithmOID.RSASSA_PSS
    ca_pem, leaf_pem = write_pem(tmp_path / "ca.pem", ca_cert), write_pem(tmp_path / "leaf.pem", leaf)
    assert "OK" in run_tool("openssl", "verify", "-CAfile", ca_pem, leaf_pem).stdout
    assert "OK" in run_tool("openssl", "verify", "-CAfile", ca_pem, ca_pem).stdout

    crl = signer.sign_x509(
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_name)
        .last_update(now)
        .next_update(now + dt.timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(leaf.serial_number).revocation_date(now).build()
        )
    )
    crl_pem = write_pem(tmp_path / "ca.crl", crl)
    checked = run_tool("openssl", "crl", "-in", crl_pem, "-CAfile", ca_pem, "-noout")
    assert "verify OK" in checked.stdout + checked.stderr
    revoked = run_tool(
        "openssl", "verify", "-crl_check", "-CAfile", ca_pem, "-CRLfile", crl_pem, leaf_pem, check=False
    )
    assert "certificate revoked" in revoked.stdout + revoked.stderr

    csr = signer.sign_x509(x509.CertificateSigningRequestBuilder().subject_name(ca_name))
    assert csr.public_key() == signer.public_key()
    request = run_tool("openssl", "req", "-in", write_pem(tmp_path / "ca.csr", csr), "-verify", "-noout")
    assert "verify OK" in request.stdout + request.stderr

    for encoding in (ocsp.OCSPResponderEncoding.HASH, ocsp.OCSPResponderEncoding.NAME):
        response = signer.sign_x509(
            ocsp.OCSPResponseBuilder()
            .add_response(leaf, ca_cert, hashes.SHA1(), ocsp.OCSPCertStatus.GOOD, now, now, None, None)
            .responder_id(encoding, ca_cert)
            .certificates([ca_cert]),
            rsa_pss=False,
        )
        (tmp_path / "resp.der").write_bytes(response.public_bytes(serialization.Encoding.DER))
        answer = run_tool(
            "openssl", "ocsp", "-respin", tmp_path / "resp.der", "-issuer", ca_pem, "-cert", leaf_pem,
            "-VAfile", ca_pem, "-CAfile", ca_pem, "-no_nonce",
        )  # fmt: skip
        assert "Response verify OK" in answer.stdout + answer.stderr
        assert f"{leaf_pem}: good" in answer.stdout


def test_signers_are_thread_safe(pkcs11_keystore: Pkcs11Keystore, db: Database) -> None:
    signers = [generate(pkcs11_keystore, db, a) for a in ("ec-p256", "ec-p384")]
    failures: list[str] = []

    def work(index: int) -> None:
        for round_ in range(15):
            signer = signers[(index + round_) % 2]
            data = f"{index}-{round_}".encode()
            try:
                if not signer.verify(data, signer.sign(data)):
                    failures.append(f"{signer} {index}-{round_}: does not verify")
            except ServiceError as exc:
                failures.append(f"{signer} {index}-{round_}: {exc.message}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_forked_child_signs_through_its_own_session(pkcs11_keystore: Pkcs11Keystore, db: Database) -> None:
    signer = generate(pkcs11_keystore, db, "ec-p256")
    assert signer.verify(b"parent", signer.sign(b"parent"))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: sign with the signer inherited from the parent
        try:
            os.write(write_end, signer.sign(b"child"))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child_signature = pipe.read()
    os.waitpid(pid, 0)
    assert signer.verify(b"child", child_signature)
    assert signer.verify(b"parent again", signer.sign(b"parent again"))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the closed session's search
def test_a_lost_session_is_reopened(pkcs11_keystore: Pkcs11Keystore, db: Database) -> None:
    signer = generate(pkcs11_keystore, db, "ec-p256")
    token = connection(pkcs11_keystore.config)
    with token.session() as session:
        session.close()  # behind the connection's back; it goes back to the pool closed
    for _ in range(3):
        assert signer.verify(b"again", signer.sign(b"again"))


# --- configuration -----------------------------------------------------------------------------------


def test_routing_keeps_software_and_token_keys_usable_across_a_switch(
    softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'kyso.db'}"
    software_settings = make_settings(tmp_path / "var", url)
    pkcs11_settings = make_settings(tmp_path / "var", url, **softhsm_token.settings())
    database = Database(url)
    upgrade(database)
    with database.transaction() as session:
        old = open_keystore(software_settings, SystemClock()).generate(session, "ec-p256", "old software key")
    custody = open_keystore(pkcs11_settings, SystemClock())
    assert isinstance(custody, Custody) and custody.backend == "pkcs11"
    with database.transaction() as session:
        new = custody.generate(session, "ec-p256", "new token key")
        assert isinstance(custody.signer(session, old.key_id or ""), KeySigner)
        assert isinstance(custody.signer(session, new.key_id or ""), Pkcs11Signer)
    back = open_keystore(
        make_settings(tmp_path / "var", url, **{**softhsm_token.settings(), "keystore": "software"}),
        SystemClock(),
    )
    assert back.backend == "software"
    with database.reading() as session:
        for key in (old, new):
            signer = back.signer(session, key.key_id or "")
            assert key.verify(b"still", signer.sign(b"still"))
    with database.reading() as session, pytest.raises(ServiceError) as caught:
        open_keystore(software_settings, SystemClock()).signer(session, new.key_id or "")
    assert caught.value.kind is Kind.UNAVAILABLE and "KYSO_PKCS11_MODULE" in caught.value.message
    database.dispose()


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"pkcs11_module": None}, "KYSO_PKCS11_MODULE"),
        ({"pkcs11_module": "/nonexistent/libpkcs11.so"}, "KYSO_PKCS11_MODULE"),
        ({"pkcs11_token_label": None}, "KYSO_PKCS11_TOKEN_LABEL"),
        ({"pkcs11_pin": None}, "KYSO_PKCS11_PIN"),
        ({"pkcs11_pin": None, "pkcs11_pin_file": "/nonexistent/pin"}, "KYSO_PKCS11_PIN_FILE"),
    ],
)
def test_incomplete_settings_name_the_setting(
    softhsm_token: SoftHsmToken, tmp_path: Path, overrides: dict[str, object], setting: str
) -> None:
    settings = make_settings(tmp_path / "var", "sqlite://", **{**softhsm_token.settings(), **overrides})
    with pytest.raises(ServiceError) as caught:
        open_keystore(settings, SystemClock())
    assert setting in caught.value.message


def test_the_pin_can_come_from_a_file(softhsm_token: SoftHsmToken, db: Database, tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text(softhsm_token.pin + "\n")
    settings = make_settings(
        tmp_path / "var",
        db.url,
        **{**softhsm_token.settings(), "pkcs11_pin": None, "pkcs11_pin_file": pin_file},
    )
    with db.transaction() as session:
        signer = open_keystore(settings, SystemClock()).generate(session, "ec-p256", "pin from a file")
    assert signer.verify(b"x", signer.sign(b"x"))


# --- the service with its keys in the token -----------------------------------------------------------


def _fresh_instance(tmp_path: Path) -> Instance:
    """An instance with no schema yet: `kyso init` makes everything."""
    settings = make_settings(tmp_path / "var", f"sqlite:///{tmp_path / 'kyso.db'}")
    return Instance(settings, CaRuntime.from_settings(settings))


def test_kyso_init_puts_the_whole_hierarchy_in_the_token(softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    instance = _fresh_instance(tmp_path)
    env = softhsm_token.env()
    init = kyso(instance, "init", "--json", env=env)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["created"] is True

    with instance.db.reading() as session:
        keys = session.scalars(select(StoredKey)).all()
        authority_keys = set(session.scalars(select(Authority.key_id)))
        service_keys = set(session.scalars(select(ServiceSigner.key_id)))
    assert len(authority_keys) == 3 and len(service_keys) >= 3  # root, two CAs; OCSP responders, TSA, …
    assert {k.id for k in keys} == authority_keys | service_keys
    assert {k.backend for k in keys} == {"pkcs11"}
    assert all(k.wrapped_private_key is None for k in keys)
    in_token = softhsm_token.private_keys()
    for key in keys:
        assert in_token[key.id]["sensitive"] and not in_token[key.id]["extractable"]

    chain = tmp_path / "chain.pem"
    assert kyso(instance, "ca", "chain", "--ca", "citizen", "-o", chain, env=env).returncode == 0
    issuing, root = x509.load_pem_x509_certificates(chain.read_bytes())
    root_pem, issuing_pem = (
        write_pem(tmp_path / "root.pem", root),
        write_pem(tmp_path / "issuing.pem", issuing),
    )
    assert "OK" in run_tool("openssl", "verify", "-CAfile", root_pem, issuing_pem).stdout

    issued = kyso(
        instance, "ca", "issue", "citizen", "--surname", "Lê", "--given-name", "Thị Hoa",
        "--cccd", "079203004321", "--keygen", "ec-p256", "--json", env=env,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    leaf_pem = tmp_path / "leaf.pem"
    leaf_pem.write_text(json.loads(issued.stdout)["certificate_pem"])
    verified = run_tool("openssl", "verify", "-CAfile", root_pem, "-untrusted", issuing_pem, leaf_pem)
    assert "OK" in verified.stdout
    with instance.db.reading() as session:
        row = session.scalars(select(Certificate).where(Certificate.cccd == "079203004321")).one()
        custody_key = session.get(StoredKey, row.key_id)
    assert (
        custody_key is not None
        and custody_key.backend == "pkcs11"
        and custody_key.wrapped_private_key is None
    )
    assert custody_key.id in softhsm_token.private_keys()

    crl = tmp_path / "citizen.crl"
    assert kyso(instance, "ca", "crl", "--ca", "citizen", "-o", crl, env=env).returncode == 0
    checked = run_tool("openssl", "crl", "-inform", "DER", "-in", crl, "-CAfile", chain, "-noout")
    assert "verify OK" in checked.stdout + checked.stderr
    instance.db.dispose()


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"KYSO_PKCS11_PIN": "wrong-pin"}, "KYSO_PKCS11_PIN"),
        ({"KYSO_PKCS11_MODULE": "/usr/lib/nonexistent/libpkcs11.so"}, "KYSO_PKCS11_MODULE"),
        ({"KYSO_PKCS11_TOKEN_LABEL": "no-such-token"}, "KYSO_PKCS11_TOKEN_LABEL"),
    ],
)
def test_token_problems_are_clear_cli_errors(
    softhsm_token: SoftHsmToken, tmp_path: Path, change: dict[str, str], setting: str
) -> None:
    instance = _fresh_instance(tmp_path)
    result = kyso(instance, "init", env={**softhsm_token.env(), **change})
    assert_clean_failure(result, setting)
    if setting == "KYSO_PKCS11_PIN":
        assert "wrong-pin" not in result.stdout + result.stderr
    instance.db.dispose()


def test_the_live_service_answers_ocsp_and_timestamps_with_token_keys(
    pkcs11_instance: Pkcs11Instance, tmp_path: Path
) -> None:
    """`kyso serve` in its own process, its OCSP responder and TSA keys in the token, checked by openssl."""
    with pkcs11_instance.db.transaction() as session:
        leaf_pem = tmp_path / "leaf.pem"
        leaf_pem.write_text(
            pkcs11_instance.ca.issue(session, IssueRequest("citizen", CITIZEN)).certificate.certificate_pem
        )
        citizen_chain = x509.load_pem_x509_certificates(
            pkcs11_instance.ca.chain_pem(session, "citizen").encode()
        )
        government_ca = pkcs11_instance.ca.chain(session, "government")[0]
        tsa_certificate = service_signers.load(session, pkcs11_instance.ca, "tsa").certificate
    issuing, root = (
        write_pem(tmp_path / "issuing.pem", citizen_chain[0]),
        write_pem(tmp_path / "root.pem", citizen_chain[1]),
    )
    untrusted = tmp_path / "untrusted.pem"
    untrusted.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (government_ca, tsa_certificate))
    )
    data = tmp_path / "decision.txt"
    data.write_text("Quyết định 123/QĐ-UBND")

    server = start_server(pkcs11_instance)
    try:
        answer = run_tool(
            "openssl", "ocsp", "-issuer", issuing, "-cert", leaf_pem, "-url", f"{server.url}/ocsp/citizen",
            "-CAfile", root, "-verify_other", issuing,
        )  # fmt: skip
        assert "Response verify OK" in answer.stdout + answer.stderr
        assert f"{leaf_pem}: good" in answer.stdout

        query, reply = tmp_path / "q.tsq", tmp_path / "r.tsr"
        run_tool("openssl", "ts", "-query", "-data", data, "-sha256", "-cert", "-out", query)
        request = urllib.request.Request(
            f"{server.url}/tsa",
            data=query.read_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
        )
        with urllib.request.urlopen(request) as response:
            reply.write_bytes(response.read())
        verified = run_tool(
            "openssl", "ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile", root, "-untrusted", untrusted,
        )  # fmt: skip
        assert "Verification: OK" in verified.stdout
    finally:
        stop_server(server)


def test_a_software_instance_issues_custody_keys_into_the_token_after_the_switch(
    softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    instance = make_instance(tmp_path, f"sqlite:///{tmp_path / 'kyso.db'}")  # software CA keys
    issued = kyso(
        instance, "ca", "issue", "citizen", "--surname", "Lê", "--given-name", "Thị Hoa",
        "--cccd", "079203004321", "--json", env=softhsm_token.env(),
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    with instance.db.reading() as session:
        row = session.scalars(select(Certificate).where(Certificate.cccd == "079203004321")).one()
        authority_key = session.get(StoredKey, instance.ca.authority(session, "citizen").key_id)
        custody_key = session.get(StoredKey, row.key_id)
    assert authority_key is not None and authority_key.backend == "software"  # signed by the software CA key
    assert custody_key is not None and custody_key.backend == "pkcs11"
    # and back on software only, the old hierarchy still issues
    back = kyso(
        instance, "ca", "issue", "citizen", "--surname", "Lê", "--given-name", "Văn Nam",
        "--cccd", "079203004322", "--json",
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    instance.db.dispose()


def test_software_keystore_is_untouched_by_default(tmp_path: Path) -> None:
    custody = open_keystore(make_settings(tmp_path / "var", "sqlite://"), SystemClock())
    assert custody.backend == "software"
    assert [type(b) for b in custody.backends().values()] == [SoftwareKeystore]


def test_sign_matches_keysigner_shape(pkcs11_keystore: Pkcs11Keystore, db: Database) -> None:
    """A Pkcs11Signer is a drop-in for KeySigner: same attributes, same signature encodings."""
    token_signer = generate(pkcs11_keystore, db, "rsa-2048")
    software = KeySigner(rsa.generate_private_key(65537, 2048))
    for name in ("algorithm", "key_id", "public_key", "sign", "verify", "sign_x509"):
        assert hasattr(token_signer, name) and hasattr(software, name)
    signature = token_signer.sign(b"pss")
    assert len(signature) == 256
    public_key = token_signer.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    with pytest.raises(InvalidSignature):  # a PKCS#1 v1.5 check fails: this is PSS
        public_key.verify(signature, b"pss", padding.PKCS1v15(), hashes.SHA256())
