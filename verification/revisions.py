"""The revisions of a PDF: where each ends, its hash, and what it changed — a signature or a seal added,
validation data (DSS) or a document timestamp added, or the content changed.

A signed PDF grows by incremental updates: the bytes of every earlier revision are a prefix of the file.
So "this upload is the registered document, sealed afterwards" is a fact about bytes (the registered
file's hash is the hash of one of the upload's revisions) plus pyHanko's difference analysis of each
later revision against the one before it. Runs in the bounded child with the validation
(``with_revisions``): the PDF is hostile until proven otherwise.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
from dataclasses import replace
from typing import Any

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel, SuspiciousModification
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from verification.report import RevisionFacts, VerificationReport
from verification.speedups import shortcuts

MAX_REVISIONS = 24  # a file with more is reported without its revisions (nothing is recognised by prefix)
_EOF = b"%%EOF"

# what a revision did, as RevisionFacts.change
ORIGINAL = "original"  # the first revision: the document before any update
SIGNATURE = "signature"  # a signature or seal was added, and nothing else changed
TIMESTAMP = "timestamp"  # a document timestamp was added
VALIDATION_DATA = "validation-data"  # only long-term validation data (DSS, metadata)
FORM_FILLING = "form-filling"  # form fields other than signatures were filled in
ANNOTATIONS = "annotations"  # comments or other annotations were added
CONTENT = "content"  # anything else: the content was changed
ADDS_ONLY_SIGNATURES = frozenset({SIGNATURE, TIMESTAMP, VALIDATION_DATA})


def revision_ends(data: bytes, reader: PdfFileReader) -> list[int]:
    """The length of every revision: each xref section's following ``%%EOF`` and its line end."""
    ends = []
    for revision in range(reader.xrefs.total_revisions):
        start = reader.xrefs.get_xref_container_info(revision).end_location
        found = data.find(_EOF, start)
        if found < 0:
            ends.append(len(data))
            continue
        end = found + len(_EOF)
        if data[end : end + 2] == b"\r\n":
            end += 2
        elif data[end : end + 1] in (b"\n", b"\r"):
            end += 1
        ends.append(end)
    return ends


def prefix_hashes(data: bytes, ends: list[int]) -> list[str]:
    """SHA-256 of ``data[:end]`` for each of the increasing ``ends``, in one pass over the data."""
    digest, done, out = hashlib.sha256(), 0, []
    view = memoryview(data)
    for end in ends:
        digest.update(view[done:end])
        done = end
        out.append(digest.copy().hexdigest())
    return out


def analyse(data: bytes, report: VerificationReport | None = None) -> list[RevisionFacts]:
    """Every revision of ``data`` with what it changed; [] when the file cannot be read this way, has one
    revision only, or more than ``MAX_REVISIONS``. With the validation's ``report``, the revisions after the
    last signature are not diffed again when its difference analysis found only validation data there."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        total = reader.xrefs.total_revisions
        if total < 2 or total > MAX_REVISIONS:
            return []
        ends = revision_ends(data, reader)
        if any(b <= a for a, b in itertools.pairwise(ends)):
            return []
        signed = _signed_revisions(reader)
        hashes = prefix_hashes(data, ends)
    except Exception:  # a file pyHanko cannot take apart: the validation reports it; no revisions here
        return []
    facts = [RevisionFacts(1, ends[0], hashes[0], ORIGINAL, None, None)]
    last = max(signed, default=None)
    quiet_after_last = last is not None and _only_validation_data_after(signed[last][0], report)
    for revision in range(1, total):
        field, kind, signed_until = signed.get(revision, (None, None, None))
        if kind is not None and not any(r < revision for r in signed):
            change = kind  # the first signature signs whatever its revision holds: nothing was signed before
        elif last is not None and revision > last and quiet_after_last:
            change = VALIDATION_DATA  # pyHanko said so for the last signature already
        else:
            change = _change(reader, revision, field, kind)
        end, digest = ends[revision], hashes[revision]
        facts.append(RevisionFacts(revision + 1, end, digest, change, field, signed_until))
    return facts


def _only_validation_data_after(field: str, report: VerificationReport | None) -> bool:
    if report is None:
        return False
    found = next((s for s in report.signatures if s.field == field), None)
    return found is not None and found.integrity and found.modification in ("none", "lta-updates")


def _signed_revisions(reader: PdfFileReader) -> dict[int, tuple[str, str, int]]:
    """revision index → (field, signature | timestamp, the end of the signature's ByteRange)."""
    found: dict[int, tuple[str, str, int]] = {}
    for name, _, ref in enumerate_sig_fields(reader, filled_status=True):
        try:
            embedded = EmbeddedPdfSignature(reader, ref, name)
            byte_range = embedded.byte_range
            kind = TIMESTAMP if embedded.sig_object_type == "/DocTimeStamp" else SIGNATURE
            found[embedded.signed_revision] = (name, kind, int(byte_range[-2]) + int(byte_range[-1]))
        except Exception:  # noqa: S112 - an unreadable signature signs nothing here; the validation says so
            continue
    return found


def _change(reader: PdfFileReader, revision: int, field: str | None, kind: str | None) -> str:
    """What ``revision`` changed against the one before it, in pyHanko's difference analysis."""
    logger = logging.getLogger("pyhanko.sign.diff_analysis")
    level_before = logger.level
    logger.setLevel(logging.CRITICAL)  # a suspicious revision is an answer here, not an error to log
    try:
        result: Any = DEFAULT_DIFF_POLICY.apply(
            old=reader.get_historical_resolver(revision - 1),
            new=reader.get_historical_resolver(revision),
            field_mdp_spec=None,
            doc_mdp=None,
        )
    except SuspiciousModification:
        return CONTENT
    except Exception:
        return CONTENT
    finally:
        logger.setLevel(level_before)
    level = result.modification_level
    others = set(result.changed_form_fields) - ({field} if field else set())
    if field is not None and kind is not None and level <= ModificationLevel.FORM_FILLING and not others:
        return kind
    if level <= ModificationLevel.LTA_UPDATES:
        return VALIDATION_DATA
    if level == ModificationLevel.FORM_FILLING:
        return FORM_FILLING
    if level == ModificationLevel.ANNOTATIONS:
        return ANNOTATIONS
    return CONTENT


def signed_version_end(facts: list[RevisionFacts], field: str) -> int | None:
    """Where the version ``field``'s signature signed ends: the end of its ByteRange, and of the revisions
    right after it that only add validation data (a B-LT signature's DSS, written with it: what Kyso
    registers as the signed file). None when the signature made no known revision."""
    mine = next((f for f in facts if f.field == field and f.signed_until), None)
    if mine is None or mine.signed_until is None:
        return None
    end = mine.signed_until
    for fact in facts:
        if fact.number <= mine.number:
            continue
        if fact.change != VALIDATION_DATA:
            break
        end = fact.end
    return end


def signed_revision(data: bytes, facts: list[RevisionFacts], field: str) -> bytes | None:
    """The version of ``data`` that ``field``'s signature signed (``signed_version_end``), or None."""
    end = signed_version_end(facts, field)
    return data[:end] if end is not None else None


class WithRevisions:
    """A verifier whose reports carry the file's revisions (``VerificationReport.revisions``): what the
    bounded child runs, so the analysis has the validation's memory ceiling and deadline."""

    def __init__(self, verifier: Any) -> None:
        self.verifier = verifier
        self.limits = verifier.limits

    async def verify(self, data: bytes) -> VerificationReport:
        report = await self.verifier.verify(data)
        with shortcuts():  # the validator's exact shortcuts through pyHanko (hex strings read at once)
            return replace(report, revisions=analyse(data, report))


# --- an upload and a registered revision ---------------------------------------------------------------
SAME = "same"  # the very bytes registered
SIGNED_AFTER = "signed-after"  # the registered bytes, then only signatures or seals (and validation data)
VALIDATION_ADDED = "validation-added"  # the registered bytes, then only validation data or timestamps
CHANGED_AFTER = "changed-after"  # the registered bytes, then a revision that changed the document


def relation(report: VerificationReport, sha256: str, size: int) -> tuple[str, list[str]] | None:
    """How the upload ``report`` describes relates to the registered file (``sha256``, ``size`` bytes):
    (relation, who signed or sealed afterwards), or None when the registered file is not one of the
    upload's revisions."""
    if report.sha256 == sha256 and report.size == size:
        return SAME, []
    base = next((r for r in report.revisions if r.end == size and r.sha256 == sha256), None)
    if base is None:
        return None
    later = [r for r in report.revisions if r.number > base.number]
    if not all(r.change in ADDS_ONLY_SIGNATURES for r in later):
        return CHANGED_AFTER, []
    names = []
    for r in later:
        if r.change == SIGNATURE and r.field:
            signature = next((s for s in report.signatures if s.field == r.field), None)
            if signature is not None and signature.signer is not None:
                names.append(signature.signer.name)
    if not any(r.change == SIGNATURE for r in later):
        return VALIDATION_ADDED, []
    return SIGNED_AFTER, list(dict.fromkeys(names))
