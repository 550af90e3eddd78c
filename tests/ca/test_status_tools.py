"""CRLs and OCSP against the running service, checked by real `openssl` and pkilint."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from ca import lifecycle
from ca.issuance import IssueRequest
from ca.subjects import SubjectFields
from tests.conftest import VENV_BIN, Instance, LiveServer, kyso, run_tool, start_server, stop_server


@pytest.fixture
def served(instance: Instance) -> Iterator[tuple[Instance, LiveServer]]:
    server = start_server(instance)
    yield instance, server
    stop_server(server)


def issue(instance: Instance, tmp: Path, name: str, cccd: str) -> tuple[str, Path]:
    with instance.db.transaction() as session:
        info = instance.ca.issue(
            session, IssueRequest("citizen", SubjectFields(surname="Hồ", given_name=name, cccd=cccd))
        ).certificate
    path = tmp / f"{name}.pem"
    path.write_text(info.certificate_pem)
    return info.serial, path


def chain_files(instance: Instance, tmp: Path) -> tuple[Path, Path, Path]:
    with instance.db.reading() as session:
        pem = instance.ca.chain_pem(session, "citizen")
    chain = tmp / "chain.pem"
    chain.write_text(pem)
    certificates = x509.load_pem_x509_certificates(pem.encode())
    issuing, root = tmp / "issuing.pem", tmp / "root.pem"
    issuing.write_bytes(certificates[0].public_bytes(serialization.Encoding.PEM))
    root.write_bytes(certificates[1].public_bytes(serialization.Encoding.PEM))
    return chain, issuing, root


def openssl_ocsp(
    server: LiveServer, issuing: Path, chain: Path, *target: str, out: Path | None = None
) -> str:
    args = [
        "openssl",
        "ocsp",
        "-issuer",
        issuing,
        *target,
        "-url",
        f"{server.url}/ocsp/citizen",
        "-CAfile",
        chain,
    ]
    if out is not None:
        args += ["-respout", out]
    result = run_tool(*args, check=False)
    return result.stdout + result.stderr


def change(instance: Instance, action, *args: object) -> None:
    with instance.db.transaction() as session:
        action(instance.ca, session, *args)


def test_openssl_ocsp_sees_good_revoked_and_unknown(
    served: tuple[Instance, LiveServer], tmp_path: Path
) -> None:
    instance, server = served
    chain, issuing, _ = chain_files(instance, tmp_path)
    serial, leaf = issue(instance, tmp_path, "An", "079203000001")

    answer = openssl_ocsp(server, issuing, chain, "-cert", leaf)
    assert "Response verify OK" in answer and f"{leaf}: good" in answer
    answer = openssl_ocsp(server, issuing, chain, "-cert", leaf, "-no_nonce")
    assert "Response verify OK" in answer and f"{leaf}: good" in answer  # the pre-produced response

    change(instance, lifecycle.revoke, serial, "key-compromise")
    answer = openssl_ocsp(server, issuing, chain, "-cert", leaf, "-no_nonce")
    assert "Response verify OK" in answer and f"{leaf}: revoked" in answer
    assert "Reason: keyCompromise" in answer and "Revocation Time:" in answer

    answer = openssl_ocsp(server, issuing, chain, "-serial", "0x1234abcd")
    assert "Response verify OK" in answer and "0x1234abcd: unknown" in answer


def test_suspension_shows_as_hold_and_reinstatement_is_seen_at_once(
    served: tuple[Instance, LiveServer], tmp_path: Path
) -> None:
    instance, server = served
    chain, issuing, _ = chain_files(instance, tmp_path)
    serial, leaf = issue(instance, tmp_path, "Bình", "079203000002")
    assert f"{leaf}: good" in openssl_ocsp(server, issuing, chain, "-cert", leaf, "-no_nonce")

    change(instance, lifecycle.suspend, serial)
    answer = openssl_ocsp(server, issuing, chain, "-cert", leaf, "-no_nonce")
    assert f"{leaf}: revoked" in answer and "Reason: certificateHold" in answer
    crl = fetch_crl(server, tmp_path / "held.crl")
    assert (
        "Certificate Hold"
        in run_tool("openssl", "crl", "-inform", "DER", "-in", crl, "-noout", "-text").stdout
    )

    change(instance, lifecycle.reinstate, serial)
    assert f"{leaf}: good" in openssl_ocsp(server, issuing, chain, "-cert", leaf, "-no_nonce")
    crl = fetch_crl(server, tmp_path / "after.crl")
    assert (
        serial.upper()
        not in run_tool("openssl", "crl", "-inform", "DER", "-in", crl, "-noout", "-text").stdout
    )


def fetch_crl(server: LiveServer, path: Path, authority: str = "citizen") -> Path:
    with urllib.request.urlopen(f"{server.url}/pki/crl/{authority}.crl") as response:
        assert response.headers["Content-Type"] == "application/pkix-crl"
        path.write_bytes(response.read())
    return path


def test_openssl_accepts_the_crl_and_rejects_a_revoked_leaf(
    served: tuple[Instance, LiveServer], tmp_path: Path
) -> None:
    instance, server = served
    chain, issuing, root = chain_files(instance, tmp_path)
    _, good = issue(instance, tmp_path, "Cường", "079203000003")
    bad_serial, bad = issue(instance, tmp_path, "Dũng", "079203000004")
    change(instance, lifecycle.revoke, bad_serial, "affiliation-changed")
    crl_der = fetch_crl(server, tmp_path / "citizen.crl")
    crl_pem = tmp_path / "citizen.crl.pem"
    run_tool("openssl", "crl", "-inform", "DER", "-in", crl_der, "-out", crl_pem)
    verified = run_tool("openssl", "crl", "-in", crl_pem, "-CAfile", chain, "-noout", "-verify")
    assert "verify OK" in verified.stdout + verified.stderr
    text = run_tool("openssl", "crl", "-in", crl_pem, "-noout", "-text").stdout
    assert "Affiliation Changed" in text and bad_serial.upper() in text and "CRL Number" in text
    parsed = x509.load_der_x509_crl(crl_der.read_bytes())
    assert parsed.next_update_utc - parsed.last_update_utc == instance.ca.status_policy.crl_validity

    root_crl = tmp_path / "root.crl.pem"
    run_tool(
        "openssl",
        "crl",
        "-inform",
        "DER",
        "-in",
        fetch_crl(server, tmp_path / "root.crl", "root"),
        "-out",
        root_crl,
    )
    crls = tmp_path / "crls.pem"
    crls.write_text(crl_pem.read_text() + root_crl.read_text())
    ok = run_tool(
        "openssl", "verify", "-crl_check_all", "-CAfile", root, "-untrusted", issuing, "-CRLfile", crls, good
    )
    assert ok.stdout.strip().endswith(": OK")
    refused = run_tool(
        "openssl",
        "verify",
        "-crl_check",
        "-CAfile",
        root,
        "-untrusted",
        issuing,
        "-CRLfile",
        crl_pem,
        bad,
        check=False,
    )
    assert refused.returncode != 0 and "certificate revoked" in refused.stdout + refused.stderr


def test_pkilint_finds_no_error_in_crls_and_ocsp_responses(
    served: tuple[Instance, LiveServer], tmp_path: Path
) -> None:
    instance, server = served
    chain, issuing, _ = chain_files(instance, tmp_path)
    _, good = issue(instance, tmp_path, "Giang", "079203000005")
    bad_serial, bad = issue(instance, tmp_path, "Hà", "079203000006")
    change(instance, lifecycle.revoke, bad_serial, "superseded")
    outputs = []
    for name, target in (("good", good), ("revoked", bad)):
        response = tmp_path / f"{name}.ocsp"
        openssl_ocsp(server, issuing, chain, "-cert", target, "-no_nonce", out=response)
        result = run_tool(VENV_BIN / "lint_ocsp_response", "lint", response, check=False)
        outputs.append(result.stdout + result.stderr)
    for authority in ("citizen", "government", "root"):
        crl = fetch_crl(server, tmp_path / f"{authority}.crl", authority)
        result = run_tool(VENV_BIN / "lint_crl", "lint", "-t", "CRL", "-p", "PKIX", crl, check=False)
        outputs.append(result.stdout + result.stderr)
    for output in outputs:
        assert "(ERROR)" not in output and "(FATAL)" not in output, output


def post_ocsp(server: LiveServer, body: bytes, authority: str = "citizen") -> ocsp.OCSPResponse:
    request = urllib.request.Request(
        f"{server.url}/ocsp/{authority}", data=body, headers={"Content-Type": "application/ocsp-request"}
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
        return ocsp.load_der_ocsp_response(response.read())


def post_huge_body(server: LiveServer, size: int) -> ocsp.OCSPResponse:
    """Announce a huge body, send the first 64 KiB, and read the answer the server gives without the rest."""
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/ocsp/citizen")
    connection.putheader("Content-Type", "application/ocsp-request")
    connection.putheader("Content-Length", str(size))
    connection.endheaders()
    connection.send(b"\x30" + b"\x00" * 65535)
    response = connection.getresponse()
    assert response.status == 200
    answer = ocsp.load_der_ocsp_response(response.read())
    connection.close()
    return answer


def test_bad_ocsp_requests_get_protocol_errors(served: tuple[Instance, LiveServer], tmp_path: Path) -> None:
    instance, server = served
    _, issuing, _ = chain_files(instance, tmp_path)
    _, leaf = issue(instance, tmp_path, "Khánh", "079203000007")
    request_file = tmp_path / "req.der"
    run_tool("openssl", "ocsp", "-issuer", issuing, "-cert", leaf, "-reqout", request_file)
    valid = request_file.read_bytes()
    malformed = ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert post_ocsp(server, b"garbage").response_status is malformed
    assert post_ocsp(server, valid[: len(valid) // 2]).response_status is malformed
    assert post_huge_body(server, 20_000_000).response_status is malformed
    assert post_ocsp(server, valid, "government").response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert post_ocsp(server, valid, "nowhere").response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    with urllib.request.urlopen(f"{server.url}/ocsp/citizen/%%%not-base64") as response:
        assert ocsp.load_der_ocsp_response(response.read()).response_status is malformed
    # and the service still answers everyone else, over GET too
    encoded = base64.b64encode(valid).decode()
    with urllib.request.urlopen(
        f"{server.url}/ocsp/citizen/{urllib.parse.quote(encoded, safe='')}"
    ) as response:
        answer = ocsp.load_der_ocsp_response(response.read())
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD


def test_crl_and_status_commands(served: tuple[Instance, LiveServer], tmp_path: Path) -> None:
    instance, _ = served
    serial, _ = issue(instance, tmp_path, "Lan", "079203000008")
    change(instance, lifecycle.revoke, serial, "cessation-of-operation")
    out = tmp_path / "cli.crl"
    first = kyso(instance, "ca", "crl", "--ca", "citizen", "-o", out, "--json")
    assert first.returncode == 0, first.stderr
    second = kyso(
        instance, "ca", "crl", "--ca", "citizen", "-o", out, "--json", env={"KYSO_CRL_VALIDITY_HOURS": "6"}
    )
    numbers = [json.loads(r.stdout)["crl_number"] for r in (first, second)]
    assert numbers[1] == numbers[0] + 1
    crl = x509.load_der_x509_crl(out.read_bytes())
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(hours=6)  # the schedule is configurable
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    status = kyso(instance, "ca", "status", serial, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "revoked"
    assert json.loads(status.stdout)["revocation_reason"] == "cessation-of-operation"
    missing = kyso(instance, "ca", "status", "0badc0de")
    assert (
        missing.returncode != 0 and "no certificate" in missing.stderr and "Traceback" not in missing.stderr
    )
