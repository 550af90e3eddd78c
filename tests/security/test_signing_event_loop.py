"""Signing a PDF does not stop the worker answering other requests (``signing.service``).

pyHanko parses and writes a PDF in plain Python; only the digest's signature was sent to a thread, so the
rest ran on the event loop of ``kyso serve``'s worker. A 6 MB PDF whose form lists a million references
to one text field (a valid file: it signs) held the loop for ~14 s, and every request to that worker —
logins, check-ins, OCSP misses, ``/healthz`` — waited as long (13.5 s measured). Opening, signing and
hashing the output now run in a thread; ``/healthz`` answers within about a second meanwhile.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from pathlib import Path

import httpx

from identity import accounts
from signing import credentials
from tests.conftest import make_instance
from tests.support import cluster
from tests.support.pdfs import sample_pdf
from tests.support.signing import holder

SIGNING = "/api/v1/signing"


def with_big_form(references: int) -> bytes:
    """``sample_pdf`` plus an update whose catalog's ``/AcroForm /Fields`` repeats one text field."""
    base = sample_pdf(1)
    root = int(re.search(rb"/Root (\d+) 0 R", base).group(1))  # type: ignore[union-attr]
    size = int(re.search(rb"/Size (\d+)", base).group(1))  # type: ignore[union-attr]
    previous = int(base.rsplit(b"startxref", 1)[1].split()[0])
    catalog = re.search(rb"%d 0 obj\s*<<(.*?)>>\s*endobj" % root, base, re.S).group(1)  # type: ignore[union-attr]
    fields = b"%d 0 R " % size * references
    update = b"%d 0 obj\n<<%s /AcroForm << /Fields [%s] >> >>\nendobj\n" % (root, catalog, fields)
    field_at = len(base) + len(update)
    update += b"%d 0 obj\n<< /T (f) /FT /Tx >>\nendobj\n" % size
    xref = b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n%d 1\n%010d 00000 n \n" % (
        root, len(base), size, field_at
    )  # fmt: skip
    trailer = b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size + 1, root, previous, len(base) + len(update)
    )  # fmt: skip
    return base + update + xref + trailer


def test_the_worker_answers_while_a_heavy_pdf_is_signed(tmp_path: Path) -> None:
    instance = make_instance(tmp_path, f"sqlite:///{tmp_path / 'kyso.db'}")
    official, serial = holder(instance, "official")
    with instance.db.transaction() as session:
        row = accounts.get(session, official.username)
        credentials.bind(session, account=row, serial=serial, now=instance.ca.clock.now())
    served = cluster.start(instance)
    try:
        auth = {"Authorization": f"Bearer {cluster.token(served.url, official)}"}
        pdf = with_big_form(1_000_000)
        next_code = official.code(at=time.time() + 30)  # the login used this step's code
        granted = httpx.post(
            served.url + f"{SIGNING}/authorizations",
            json={"documents": [{"sha256": hashlib.sha256(pdf).hexdigest()}], "code": next_code},
            headers=auth,
            timeout=60,
        )
        assert granted.status_code == 201, granted.text
        outcome: dict[str, object] = {}

        def sign() -> None:
            started = time.monotonic()
            answer = httpx.post(
                served.url + f"{SIGNING}/sign",
                files=[("documents", ("form.pdf", pdf, "application/pdf"))],
                data={"authorization_id": granted.json()["id"], "level": "b-b", "appearance": "invisible"},
                headers=auth,
                timeout=600,
            )
            outcome.update(status=answer.status_code, took=time.monotonic() - started)

        signing = threading.Thread(target=sign)
        signing.start()
        waited = 0.0  # the longest /healthz took while the document was being signed
        while signing.is_alive():
            asked = time.monotonic()
            assert httpx.get(served.url + "/healthz", timeout=600).status_code == 200
            waited = max(waited, time.monotonic() - asked)
            time.sleep(0.2)
        signing.join()
        assert outcome["status"] == 200, outcome
        took = float(outcome["took"])  # type: ignore[arg-type]
        assert took > 5, f"signing took {took:.1f} s: too light to show anything"
        assert waited < took / 3, f"/healthz waited {waited:.1f} s while a PDF was signed in {took:.1f} s"
    finally:
        cluster.stop(served)
        instance.db.dispose()
