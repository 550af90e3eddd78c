"""A PDF whose form is malformed is refused (422) by the signing route, not a 500.

pyHanko checks the shape of a document's AcroForm with ``assert`` while it adds the signature field: a
``/Fields`` entry that is not an indirect reference (``/Fields [[0 1]]``) raised AssertionError, which
``signing.service`` did not catch (only ``PdfError``), so ``POST /api/v1/signing/sign`` answered 500 and
the audit log recorded an internal error. It is now a damaged PDF: 422 problem+json, nothing registered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from core.clock import FrozenClock
from store.models import SignedDocument
from tests.conftest import Instance
from tests.support.pdfs import sample_pdf
from tests.support.signing import signer_session

SIGNING = "/api/v1/signing"


def with_malformed_form(entries: int) -> bytes:
    """``sample_pdf`` with an incremental update giving its catalog ``/AcroForm << /Fields [[0 1] …] >>``."""
    base = sample_pdf(1)
    root = int(re.search(rb"/Root (\d+) 0 R", base).group(1))  # type: ignore[union-attr]
    size = int(re.search(rb"/Size (\d+)", base).group(1))  # type: ignore[union-attr]
    previous = int(base.rsplit(b"startxref", 1)[1].split()[0])
    catalog = re.search(rb"%d 0 obj\s*<<(.*?)>>\s*endobj" % root, base, re.S).group(1)  # type: ignore[union-attr]
    fields = b"[0 1] " * entries
    body = b"%d 0 obj\n<<%s /AcroForm << /Fields [%s] >> >>\nendobj\n" % (root, catalog, fields)
    xref = b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (root, len(base))
    trailer = b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size, root, previous, len(base) + len(body)
    )  # fmt: skip
    return base + body + xref + trailer


def test_a_form_field_that_is_not_a_reference_is_a_damaged_pdf(shared_instance: Instance) -> None:
    clock = FrozenClock(dt.datetime.now(dt.UTC))
    app = create_app(shared_instance.settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        signer = signer_session(client, shared_instance, clock)
        auth, code = signer.headers, signer.code
        pdf = with_malformed_form(3)
        granted = client.post(
            f"{SIGNING}/authorizations",
            json={"documents": [{"sha256": hashlib.sha256(pdf).hexdigest()}], "code": code()},
            headers=auth,
        )
        assert granted.status_code == 201, granted.text
        with shared_instance.db.reading() as session:
            before = session.scalar(select(func.count()).select_from(SignedDocument))
        refused = client.post(
            f"{SIGNING}/sign",
            files=[("documents", ("form.pdf", pdf, "application/pdf"))],
            data={"authorization_id": granted.json()["id"], "level": "b-b", "appearance": "invisible"},
            headers=auth,
        )
        assert refused.status_code == 422, refused.text  # before the fix: 500
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "damaged PDF" in refused.json()["detail"]
        with shared_instance.db.reading() as session:
            assert session.scalar(select(func.count()).select_from(SignedDocument)) == before
    app.state.kyso.runtime.db.dispose()
