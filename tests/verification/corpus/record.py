"""Record two independent opinions on every file of the real-world corpus into ``expected.json``.

For each PDF: poppler's ``pdfsig -nocert`` (how many signatures are signed, and per signature its "Signature
Validation" line: the digest and the CMS signature, no certificate checks), and plain pyHanko
(``validate_pdf_signature`` / ``validate_pdf_timestamp`` with no trust roots and no fetching: integrity,
coverage, the difference analysis' modification level). Neither uses Kyso's code. The corpus test
(``tests/verification/test_real_world_corpus.py``) compares Kyso's verdicts with what is written here.

Run from the repository's root, with the corpus directory (see ``corpus_dir`` in the test; SOURCES.md says
where the files come from)::

    .venv/bin/python tests/verification/corpus/record.py [CORPUS_DIR]

pyHanko runs in a child per file with a deadline: a file that makes it loop is recorded as such.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected.json"
DEADLINE = 60.0

# pdfsig's "Signature Validation" texts (poppler's SignatureValidationStatus): which say the digest and the
# CMS signature were checked and held, which say they were checked and failed; any other has no opinion.
_PDFSIG_VALID = {"Signature is Valid."}
_PDFSIG_BROKEN = {"Signature is Invalid.", "Digest Mismatch."}


def default_corpus() -> Path:
    configured = os.environ.get("KYSO_VERIFICATION_CORPUS")
    if configured:
        return Path(configured)
    return HERE.parents[3] / "shared" / "verification-corpus"


def pdfsig(path: Path) -> dict[str, object]:
    result = subprocess.run(
        ["pdfsig", "-nocert", str(path)], capture_output=True, text=True, errors="replace", timeout=DEADLINE
    )
    signatures = []
    for block in re.split(r"\nSignature #\d+:\n", result.stdout)[1:]:
        if "The signature form field is not signed." in block:
            continue
        name = re.search(r"Signature Field Name: (.*)", block)
        verdict = re.search(r"Signature Validation: (.*)", block)
        text = verdict.group(1).strip() if verdict else None
        kind = re.search(r"Signature Type: (.*)", block)
        signatures.append(
            {
                "field": name.group(1).strip() if name else None,
                "type": kind.group(1).strip() if kind else None,
                "validation": text,
                "integrity": True if text in _PDFSIG_VALID else (False if text in _PDFSIG_BROKEN else None),
                "total_document": "Total document signed" in block,
            }
        )
    return {"count": len(signatures), "signatures": signatures}


def _pyhanko_child(data: bytes, sender) -> None:
    logging.disable(logging.CRITICAL)
    try:
        sender.send(_pyhanko(data))
    except BaseException as exc:  # recorded as the opinion: pyHanko could not read the file
        sender.send({"error": f"{type(exc).__name__}: {str(exc)[:200]}"})


def _pyhanko(data: bytes) -> dict[str, object]:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    context = ValidationContext(trust_roots=[], allow_fetching=False, revocation_mode="soft-fail")
    signatures = []
    for name, _, ref in enumerate_sig_fields(reader, filled_status=True):
        entry: dict[str, object] = {"field": name}
        try:
            embedded = EmbeddedPdfSignature(reader, ref, name)
            timestamp = embedded.sig_object_type == "/DocTimeStamp"
            entry["kind"] = "document-timestamp" if timestamp else "signature"
            status: Any = (
                validate_pdf_timestamp(embedded, validation_context=context)
                if timestamp
                else validate_pdf_signature(embedded, signer_validation_context=context)
            )
            level = getattr(status, "modification_level", None)
            entry.update(
                intact=bool(status.intact),
                valid=bool(status.valid),
                integrity=bool(status.intact and status.valid),
                coverage=status.coverage.name if status.coverage is not None else None,
                modification=level.name if level is not None else None,
                docmdp_ok=getattr(status, "docmdp_ok", None),
            )
        except Exception as exc:
            entry.update(integrity=None, error=f"{type(exc).__name__}: {str(exc)[:200]}")
        signatures.append(entry)
    return {"count": len(signatures), "signatures": signatures}


def pyhanko(path: Path) -> dict[str, object]:
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_pyhanko_child, args=(path.read_bytes(), sender), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(DEADLINE):
            return {"error": f"no answer within {DEADLINE:g} s"}
        return receiver.recv()
    except EOFError:
        return {"error": "the child died"}
    finally:
        child.kill()
        child.join()


def record(corpus: Path) -> dict[str, object]:
    expected: dict[str, object] = {}
    for path in sorted(p for p in corpus.rglob("*.pdf") if p.is_file()):
        name = path.relative_to(corpus).as_posix()
        print(name, file=sys.stderr)
        expected[name] = {
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "pdfsig": pdfsig(path),
            "pyhanko": pyhanko(path),
        }
    return expected


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else default_corpus()
    if not corpus.is_dir():
        sys.exit(f"no corpus at {corpus}: give its directory, or set KYSO_VERIFICATION_CORPUS")
    EXPECTED.write_text(json.dumps(record(corpus), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {EXPECTED}", file=sys.stderr)


if __name__ == "__main__":
    main()
