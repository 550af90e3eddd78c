"""A signed PDF comes back whatever its uploaded name (``api.routers.signing``).

The signed file's ``Content-Disposition`` carried the uploaded name's letters as they were, and HTTP
header values are Latin-1: a Vietnamese name (``Công văn số 12.pdf``) made building the answer fail with
500 after the document had been signed, registered and its one-time authorisation used up — the official
lost the signed PDF. The name now goes in ``filename*`` as UTF-8 (RFC 6266, RFC 8187), with an ASCII
``filename`` beside it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.parse

from fastapi.testclient import TestClient

from api.app import create_app
from core.clock import FrozenClock
from tests.conftest import Instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import signer_session

SIGNING = "/api/v1/signing"
NAME = "Công văn số 12 – Đề nghị.pdf"


def test_a_vietnamese_file_name_is_signed_and_returned(shared_instance: Instance) -> None:
    clock = FrozenClock(dt.datetime.now(dt.UTC))
    app = create_app(shared_instance.settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        signer = signer_session(client, shared_instance, clock)
        auth, code = signer.headers, signer.code
        pdf = sample_pdf(1)
        granted = client.post(
            f"{SIGNING}/authorizations",
            json={"documents": [{"sha256": hashlib.sha256(pdf).hexdigest()}], "code": code()},
            headers=auth,
        )
        assert granted.status_code == 201, granted.text
        signed = client.post(
            f"{SIGNING}/sign",
            files=[("documents", (NAME, pdf, "application/pdf"))],
            data={"authorization_id": granted.json()["id"], "level": "b-t", "appearance": "invisible"},
            headers=auth,
        )
        assert signed.status_code == 200, signed.text  # before the fix: 500, after signing
        assert signed.content.startswith(b"%PDF-")
        disposition = signed.headers["content-disposition"]
        disposition.encode("latin-1")
        assert 'filename="Cong_van_so_12___De_nghi-signed.pdf"' in disposition, disposition
        [encoded] = [part.strip() for part in disposition.split(";") if part.strip().startswith("filename*=")]
        assert urllib.parse.unquote(encoded.removeprefix("filename*=UTF-8''")) == (
            "Công_văn_số_12___Đề_nghị-signed.pdf"
        )
    app.state.kyso.runtime.db.dispose()
