"""The TSA's and the OCSP responder's keys become unavailable while `kyso serve` runs — the SoftHSM2 token
that holds them is taken away (its directory renamed) — and come back.

While the token is away the TSA answers a `rejection` with systemFailure and OCSP requests that must be
signed now are answered tryLater or internalError: protocol answers, never an HTTP 500. When the token is
back both sign again, without restarting anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx
from asn1crypto import core, tsp

from ca.runtime import CaRuntime
from tests.conftest import Instance, kyso, make_settings
from tests.support import cluster
from tests.support.softhsm import Pkcs11Instance, init_token


def token_instance(tmp_path: Path) -> Pkcs11Instance:
    """A SQLite instance whose keys `kyso init` made in a token of this test's own (the test process never
    loads the module: SoftHSM2 reads its configuration once per process)."""
    settings = make_settings(tmp_path / "var", f"sqlite:///{tmp_path / 'kyso.db'}")
    token = init_token(tmp_path / "hsm", "kyso-fault")
    instance = Pkcs11Instance(settings, CaRuntime.from_settings(settings), token)
    initialised = kyso(instance, "init", "--json")
    assert initialised.returncode == 0, initialised.stdout + initialised.stderr
    return instance


def timestamp_query() -> bytes:
    return tsp.TimeStampReq({
        "version": 1,
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                            "hashed_message": hashlib.sha256(os.urandom(16)).digest()},
        "nonce": int.from_bytes(os.urandom(8), "big"),
        "cert_req": True,
    }).dump()  # fmt: skip


def tsa_status(client: httpx.Client) -> str:
    answer = client.post(
        "/tsa", content=timestamp_query(), headers={"Content-Type": "application/timestamp-query"}
    )
    assert answer.status_code == 200, answer.text
    status = tsp.PKIStatusInfo.load(core.Sequence.load(answer.content)[0].dump())
    if status["status"].native == "granted":
        return "granted"
    return f"{status['status'].native}:{','.join(sorted(status['fail_info'].native or ()))}"


def ocsp_status(client: httpx.Client, instance: Instance, serial: str) -> str:
    authority, request = cluster.ocsp_request_for(instance, serial, nonce=True)  # a nonce: signed now
    answer = client.post(
        f"/ocsp/{authority}", content=request, headers={"Content-Type": "application/ocsp-request"}
    )
    return cluster.ocsp_status(answer)


def test_tsa_and_ocsp_refuse_cleanly_while_the_token_is_away_and_recover_when_it_is_back(
    tmp_path: Path,
) -> None:
    instance = token_instance(tmp_path)
    issued = kyso(instance, "ca", "issue", "citizen", "--surname", "Phan", "--given-name", "Văn Trị",
                  "--cccd", "079203004321", "--keygen", "ec-p256", "--json")  # fmt: skip
    assert issued.returncode == 0, issued.stdout + issued.stderr
    serial = json.loads(issued.stdout)["serial"]
    assert instance.token is not None
    tokens = instance.token.conf.parent / "tokens"
    server = cluster.start(instance)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert tsa_status(client) == "granted"
            assert ocsp_status(client, instance, serial) == "SUCCESSFUL"

            tokens.rename(tokens.with_name("tokens.removed"))
            try:
                refused = cluster.poll(lambda: (s := tsa_status(client)) != "granted" and s, 30,
                                       "the TSA kept granting without its key")  # fmt: skip
                assert refused == "rejection:system_failure"
                assert ocsp_status(client, instance, serial) in ("TRY_LATER", "INTERNAL_ERROR")
                assert cluster.healthz(server.url) == 200, "the process itself stays healthy"
            finally:
                tokens.with_name("tokens.removed").rename(tokens)

            try:
                cluster.poll(lambda: tsa_status(client) == "granted", 30, "the TSA did not recover")
            except AssertionError:
                raise AssertionError(server.log_text()[-6000:]) from None
            cluster.poll(lambda: ocsp_status(client, instance, serial) == "SUCCESSFUL", 30,
                         "the OCSP responder did not recover")  # fmt: skip
        assert server.alive()
        assert '" 500' not in server.log_text(), "no request was answered 500"
    finally:
        cluster.stop(server)
        instance.db.dispose()
