"""Shortcuts through pyHanko's validator, each computing exactly what pyHanko computes, only once.

Profiling ``Verifier.verify`` on a one-signature B-LT file (docs/benchmarks.md, ``verification``) showed
four costs that repeat for every document:

* a PDF hex string is read one byte at a time (``read_hex_string_from_stream``): the signature's
  ``/Contents`` alone is ~10,000 calls per file; here it is sliced up to ``>`` and decoded at once;
* RFC 4518 string preparation of every name attribute (``NameTypeAndValue._ldap_string_prep``) runs again
  for each freshly parsed certificate, dozens of times per file for the same few names; here it is
  memoised by the string (a pure function of it);
* names are compared (issuer/subject matching) by RFC 5280 rules even when their encodings are identical;
  here identical encodings answer "equal" at once, and only differing ones go to asn1crypto's comparison;
  and when a CMS's certificates are searched for its signer by issuer and serial, a differing serial
  answers "no" before the names are compared;
* the certification path of the signer and of the TSA is validated again for every document, although the
  documents of one signer carry the same chain and the same revocation data. ``Verifier`` reuses a
  ``ValidationContext`` for documents whose validation material (DSS certificates, OCSP responses, CRLs)
  is identical, for a short while; here a path that context already validated successfully for the same
  certificate is returned again, as pyHanko's own ``record_validation`` does for CA certificates.

A fifth, found on a 25-signature file (EU DSS's ``lt-short.pdf``): the difference analysis asks which
revision introduced an object ~150,000 times, each a walk over every xref section; here the answer is kept
per reader (it never changes for a parsed file). And one tolerance: an indirect reference to an object that
no section defines is the null object (ISO 32000-1 7.3.10), which is not an error; pyHanko's analysis
raised KeyError on it, so a signature in a file with a dangling reference failed as unreadable. Here such
a reference counts as older than every revision (the null object is always there), so it is not followed.
A second tolerance: a trailer whose /Prev points at no cross-reference section (EU DSS's
``pades-5-signatures-and-1-document-timestamp.pdf`` has /Prev 0, and a /Prev into the middle of the file)
made pyHanko seek to a negative offset; poppler rebuilds such a chain by scanning. Here such a /Prev is
replaced by the nearest cross-reference section that starts before the current one; a /Prev that points
at a section is followed as written.

They are swapped in only while ``shortcuts()`` is active (the verifier enters it around each document), so
any other pyHanko use in the process, and the benchmark's pyHanko-only peer, runs pyHanko unchanged.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator

from asn1crypto import cms, tsp, x509
from asn1crypto.x509 import Name, NameTypeAndValue
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStreamError
from pyhanko.pdf_utils.xref import XRefBuilder, XRefCache
from pyhanko.sign import general
from pyhanko.sign.validation import generic_cms

_original_hex = generic.read_hex_string_from_stream
_original_prep = NameTypeAndValue._ldap_string_prep
_original_find_path = generic_cms.find_valid_path
_original_name_eq = Name.__eq__
_original_introducing = XRefCache.get_introducing_revision
_original_read_table = XRefBuilder._read_xref_table
_original_read_stream = XRefBuilder._read_xref_stream
_original_read_xrefs = XRefBuilder.read_xrefs
_original_match = general.match_issuer_serial

_PDF_WHITESPACE = b"\x00\t\n\x0c\r "
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_BLOCK = 8192
_PREP_CACHE_MAX = 4096
_prepared: dict[str, str] = {}
_lock = threading.Lock()
_depth = 0


def read_hex_string(stream):
    """``generic.read_hex_string_from_stream`` for the common case (hex digits and whitespace up to ``>``);
    anything else (a comment inside the string, a stray character, no ``>``) goes to pyHanko's own reader
    from the same position, so its answers and errors are pyHanko's."""
    start = stream.tell()
    stream.read(1)  # the "<"
    chunks = []
    while True:
        block = stream.read(_BLOCK)
        if not block:
            stream.seek(start)
            return _original_hex(stream)
        end = block.find(b">")
        if end >= 0:
            chunks.append(block[:end])
            stream.seek(end + 1 - len(block), 1)
            break
        chunks.append(block)
    digits = b"".join(chunks).translate(None, _PDF_WHITESPACE)
    if digits.translate(None, _HEX_DIGITS):
        stream.seek(start)
        return _original_hex(stream)
    if len(digits) % 2:
        digits += b"0"
    try:
        return generic.pdf_string(binascii.unhexlify(digits))
    except binascii.Error as exc:  # cannot happen after the check above; keep pyHanko's error type
        raise PdfStreamError(f"bad hex string: {exc}") from None


def _prepared_string(self: NameTypeAndValue, string: str) -> str:
    found = _prepared.get(string)
    if found is None:
        found = _original_prep(self, string)
        if len(_prepared) >= _PREP_CACHE_MAX:
            _prepared.clear()
        _prepared[string] = found
    return found


def _name_eq(self: Name, other: object) -> bool:
    if isinstance(other, Name) and self.dump() == other.dump():
        return True  # the same encoding is the same name; different encodings may still match after prep
    return _original_name_eq(self, other)


def _match_issuer_serial(
    expected_issuer_serial: cms.IssuerAndSerialNumber | tsp.IssuerSerial, cert: x509.Certificate
) -> bool:
    # pyHanko compares the issuer names first and then the serials; looking for the signer among a
    # CMS's certificates, the names of every other certificate differ in encoding and go to RFC 4518
    # matching. Serials that differ decide it at once; equal ones go to pyHanko's whole comparison.
    if expected_issuer_serial["serial_number"].native != cert["tbs_certificate"]["serial_number"].native:
        return False
    return _original_match(expected_issuer_serial, cert)


async def _find_valid_path(certificate, paths, validation_context, pkix_validation_params=None):
    memo = getattr(validation_context, "_kyso_valid_paths", None)
    if memo is None:
        memo = {}
        validation_context._kyso_valid_paths = memo
    key = (hashlib.sha256(certificate.dump()).digest(), repr(pkix_validation_params))
    found = memo.get(key)
    if found is not None:
        await paths.cancel()
        return found
    path = await _original_find_path(certificate, paths, validation_context, pkix_validation_params)
    memo[key] = path  # only successes: a failure raises above and is computed again next time
    return path


def _introducing_revision(self: XRefCache, ref) -> int:
    memo = self.__dict__.setdefault("_kyso_introduced", {})
    found = memo.get(ref)
    if found is None:
        try:
            found = _original_introducing(self, ref)
        except KeyError:
            found = -1  # a dangling reference: the null object, older than every revision
        memo[ref] = found
    return found


_SECTION_START = re.compile(rb"(?<=[\r\n])(?:xref\s|\d+\s+\d+\s+obj\b)")
_XREF_STREAM_WINDOW = 600


def _starts_section(head: bytes) -> bool:
    """Whether a cross-reference table (``xref``) or an xref stream object starts ``head`` (after
    whitespace)."""
    head = head.lstrip(b"\x00\t\n\x0c\r ")
    if head.startswith(b"xref"):
        return True
    return re.match(rb"\d+\s+\d+\s+obj\b", head) is not None and b"/XRef" in head


def _is_section_at(stream, at: int) -> bool:
    """The same, read from ``stream`` at ``at``; the stream's position is kept."""
    if at <= 0:
        return False  # offset 0 is the header
    position = stream.tell()
    stream.seek(at)
    head = stream.read(_XREF_STREAM_WINDOW)
    stream.seek(position)
    return _starts_section(head)


def _nearest_section_before(stream, end: int | None) -> int | None:
    """The last section that starts before ``end`` (None: the end of the file). Only on a broken chain."""
    position = stream.tell()
    stream.seek(0)
    data = stream.read()
    stream.seek(position)
    end = len(data) if end is None else end
    starts = [
        m.start()
        for m in _SECTION_START.finditer(data, 0, end)
        if _starts_section(data[m.start() : m.start() + _XREF_STREAM_WINDOW])
    ]
    return starts[-1] if starts else None


def _checked_prev(read):
    def read_section(self: XRefBuilder, declared_startxref: int, *args, **kwargs):
        prev = read(self, declared_startxref, *args, **kwargs)
        if prev is None or _is_section_at(self.stream, int(prev)):
            return prev
        return _nearest_section_before(self.stream, declared_startxref)

    return read_section


_read_table = _checked_prev(_original_read_table)
_read_stream = _checked_prev(_original_read_stream)


def _read_xrefs(self: XRefBuilder):
    """The same for the file's last ``startxref``: pointing past the end or between two sections, it is
    replaced by the last section in the file."""
    start = self.last_startxref
    if not _is_section_at(self.stream, start):
        self.last_startxref = _nearest_section_before(self.stream, None) or start
    return _original_read_xrefs(self)


@contextlib.contextmanager
def shortcuts() -> Iterator[None]:
    global _depth
    with _lock:
        if _depth == 0:
            generic.read_hex_string_from_stream = read_hex_string
            NameTypeAndValue._ldap_string_prep = _prepared_string
            generic_cms.find_valid_path = _find_valid_path
            Name.__eq__ = _name_eq
            general.match_issuer_serial = _match_issuer_serial
            XRefCache.get_introducing_revision = _introducing_revision  # type: ignore[method-assign]
            XRefBuilder._read_xref_table = _read_table  # type: ignore[method-assign]
            XRefBuilder._read_xref_stream = _read_stream  # type: ignore[method-assign]
            XRefBuilder.read_xrefs = _read_xrefs  # type: ignore[method-assign]
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                generic.read_hex_string_from_stream = _original_hex
                NameTypeAndValue._ldap_string_prep = _original_prep
                generic_cms.find_valid_path = _original_find_path
                Name.__eq__ = _original_name_eq
                general.match_issuer_serial = _original_match
                XRefCache.get_introducing_revision = _original_introducing  # type: ignore[method-assign]
                XRefBuilder._read_xref_table = _original_read_table  # type: ignore[method-assign]
                XRefBuilder._read_xref_stream = _original_read_stream  # type: ignore[method-assign]
                XRefBuilder.read_xrefs = _original_read_xrefs  # type: ignore[method-assign]
