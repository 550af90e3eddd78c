"""The invitation token: CWT claims (RFC 8392) in a COSE_Sign1 (RFC 9052), base45 with a context prefix.

Wire form, in the style of the EU Digital COVID Certificate (without its zlib step: a token is ~200
bytes of mostly signature and random ids, which deflate does not shrink)::

    "KY1:" + base45( 18( [ protected, {}, payload, signature ] ) )          a static pass
    "KR1:" + 6 digits + ":" + base45( … the same … )                       a live pass with a rotating code

- ``protected`` is the CBOR map ``{1: alg, 4: kid}``; ``alg`` is ES256 (-7, the default) or ES384 (-35),
  ``kid`` the 8-byte key id (invitations/keys.py).
- Header rules (decided here, stricter than the DCC's): ``alg`` and ``kid`` must be in the *protected*
  header, which the signature covers. Kyso writes an empty unprotected header. A kid found only in the
  unprotected header is refused (``malformed``), never used to pick a key; a kid in both is accepted only
  when both are the same — a differing unprotected kid is refused too, rather than silently "protected
  wins", because no Kyso token ever has one.
- ``payload`` holds the CWT claims: ``1 iss`` = "kyso", ``5 nbf`` (admission opens: the meeting start
  minus the early-arrival allowance), ``4 exp`` (the end of the last occurrence), ``7 cti`` (8 random
  bytes: the token id; an amended invitation gets a new one and the old is refused), and one private-use
  claim ``-65537`` holding the invitation: ``{1: id, 2: venue, 3: guest display name, 4: CCCD hash
  (16 bytes, optional), 5: token version, 6: entries per occurrence (when not 1), 7: companions (when not
  0), 8: true when a rotating code is required, 9: [window seconds, day offsets…] for a recurring pass}``.
- The signature is over the COSE ``Sig_structure`` ``["Signature1", protected, h'', payload]``, raw
  ``r || s`` with s ≤ n/2: ECDSA's other valid form, (r, n − s), is refused as forged, so a pass has one
  encoding (``invitations.keys.canonical_der``).

``verify`` runs in this order and stops at the first failure, so the reason is precise: prefix → base45 →
CBOR → COSE structure → algorithm → key id → signature → claims → time window. It needs no database: the
key set is in memory (public keys cached by kid), so desks verify offline, fast.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from invitations import base45
from invitations.keys import ALGORITHMS, KID_LENGTH, KeySet, PassSigner, canonical_der
from invitations.reasons import Reason

PREFIX = "KY1:"
ROTATING_PREFIX = "KR1:"
ROTATING_DIGITS = 6
ISSUER = "kyso"
COSE_SIGN1_TAG = 18
HEADER_ALG, HEADER_KID = 1, 4
CLAIM_ISS, CLAIM_EXP, CLAIM_NBF, CLAIM_CTI = 1, 4, 5, 7
CLAIM_INVITATION = -65537  # private use (RFC 8392 §9.1: below -65536)
TOKEN_ID_LENGTH = 8
CCCD_HASH_LENGTH = 16
MAX_TEXT = 2000  # characters; a real token is ~300, a QR holds at most 4296
DAY = 86400
_ECDSA = {"sha256": ec.ECDSA(hashes.SHA256()), "sha384": ec.ECDSA(hashes.SHA384())}
_FIELD_ID, _FIELD_VENUE, _FIELD_NAME, _FIELD_CCCD = 1, 2, 3, 4
_FIELD_VERSION, _FIELD_ENTRIES, _FIELD_COMPANIONS, _FIELD_ROTATING, _FIELD_RECURRENCE = 5, 6, 7, 8, 9


def cccd_hash(invitation_id: str, cccd: str) -> bytes:
    """What the token and the database keep instead of the CCCD: salted by the (random) invitation id.

    A CCCD has few unknown digits, so a determined holder of the QR could still search for it; the salt
    only stops one table serving every token. The QR is shown to the guest and the desk, no one else.
    """
    return hashlib.sha256(f"kyso-cccd|{invitation_id}|{cccd}".encode()).digest()[:CCCD_HASH_LENGTH]


@dataclass(frozen=True)
class InvitationClaims:
    invitation_id: str
    venue: str
    guest_name: str
    not_before: int  # POSIX seconds: admission opens
    expires: int  # POSIX seconds: the last occurrence ends
    token_id: bytes
    version: int = 1
    cccd_hash: bytes | None = None
    entries: int = 1
    companions: int = 0
    rotating: bool = False
    span: int | None = None  # recurring: each occurrence's admission window, in seconds
    days: tuple[int, ...] = ()  # recurring: occurrences, in days after the first (0 first)

    def windows(self) -> list[tuple[int, int]]:
        """Admission windows in POSIX seconds, one per occurrence."""
        if self.span is None:
            return [(self.not_before, self.expires)]
        return [(self.not_before + d * DAY, self.not_before + d * DAY + self.span) for d in self.days]

    def time_check(self, now: dt.datetime, leeway: int = 0) -> tuple[Reason | None, int | None]:
        """(None, occurrence index) inside a window; else NOT_YET_VALID or EXPIRED."""
        at = int(now.timestamp())
        if at + leeway < self.not_before:
            return Reason.NOT_YET_VALID, None
        if at - leeway > self.expires:
            return Reason.EXPIRED, None
        windows = self.windows()
        for index, (start, end) in enumerate(windows):
            if start - leeway <= at <= end + leeway:
                return None, index
        if any(start > at for start, _ in windows):
            return Reason.NOT_YET_VALID, None
        return Reason.EXPIRED, None

    def to_cbor(self) -> dict[int, object]:
        invitation: dict[int, object] = {
            _FIELD_ID: self.invitation_id,
            _FIELD_VENUE: self.venue,
            _FIELD_NAME: self.guest_name,
            _FIELD_VERSION: self.version,
        }
        if self.cccd_hash is not None:
            invitation[_FIELD_CCCD] = self.cccd_hash
        if self.entries != 1:
            invitation[_FIELD_ENTRIES] = self.entries
        if self.companions:
            invitation[_FIELD_COMPANIONS] = self.companions
        if self.rotating:
            invitation[_FIELD_ROTATING] = True
        if self.span is not None:
            invitation[_FIELD_RECURRENCE] = [self.span, *self.days]
        return {
            CLAIM_ISS: ISSUER,
            CLAIM_NBF: self.not_before,
            CLAIM_EXP: self.expires,
            CLAIM_CTI: self.token_id,
            CLAIM_INVITATION: invitation,
        }


class _Refused(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Verdict:
    """The outcome of reading a scanned text. ``reason`` is None when the token is genuine and current."""

    reason: Reason | None
    detail: str
    claims: InvitationClaims | None = None  # present once the signature verified
    kid: bytes | None = None
    occurrence: int | None = None  # the index of the window the scan falls in
    rotating_code: str | None = None  # the live code, for a "KR1:" pass
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason is None


# --- encoding -----------------------------------------------------------------------------------------
def _dumps(value: object) -> bytes:
    return cbor2.dumps(value, canonical=True)


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes a COSE_Sign1 signature covers (RFC 9052 §4.4), with no external data."""
    return _dumps(["Signature1", protected, b"", payload])


_sig_structure = sig_structure


def sign_cose(seal: PassSigner, payload: bytes, extra_protected: dict[int, object] | None = None) -> bytes:
    """A tagged COSE_Sign1 over ``payload`` with alg, kid (and ``extra_protected``) protected."""
    protected = _dumps({HEADER_ALG: seal.alg, HEADER_KID: seal.kid, **(extra_protected or {})})
    signature = seal.sign(_sig_structure(protected, payload))
    return _dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


def encode(claims: InvitationClaims, seal: PassSigner) -> str:
    """The text to put in the QR code."""
    return PREFIX + base45.encode(sign_cose(seal, _dumps(claims.to_cbor())))


def with_rotating_code(token_text: str, code: str) -> str:
    """A live pass: the static token with the current rotating code in front."""
    if not token_text.startswith(PREFIX) or len(code) != ROTATING_DIGITS or not code.isdigit():
        raise ValueError("a rotating pass needs a KY1 token and a 6-digit code")
    return f"{ROTATING_PREFIX}{code}:{token_text.removeprefix(PREFIX)}"


# --- decoding -----------------------------------------------------------------------------------------
def _loads(data: bytes, what: str) -> object:
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(
            stream, allow_duplicate_keys=False, allow_indefinite=False, max_depth=8
        ).decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise _Refused(Reason.MALFORMED, f"{what} is not valid CBOR: {exc}") from None
    if stream.tell() != len(data):
        raise _Refused(Reason.MALFORMED, f"{what} has {len(data) - stream.tell()} bytes after its CBOR")
    return value


def split_scanned(text: str) -> tuple[str, str | None]:
    """(base45 body, rotating code or None); NOT_OURS or MALFORMED for anything else."""
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise _Refused(Reason.MALFORMED, f"the code is {len(text)} characters long; tokens are far shorter")
    if text.startswith(PREFIX):
        return text[len(PREFIX) :], None
    if text.startswith(ROTATING_PREFIX):
        rest = text[len(ROTATING_PREFIX) :]
        code, separator, body = rest[:ROTATING_DIGITS], rest[ROTATING_DIGITS : ROTATING_DIGITS + 1], rest[7:]
        if not (code.isascii() and code.isdigit() and len(code) == ROTATING_DIGITS and separator == ":"):
            raise _Refused(Reason.MALFORMED, "a rotating pass must start KR1:<6 digits>:")
        return body, code
    shown = text[:12] + ("…" if len(text) > 12 else "")
    raise _Refused(Reason.NOT_OURS, f"the code does not start with {PREFIX} ({shown!r})")


def _cose(body: str) -> tuple[bytes, dict[object, object], bytes, bytes]:
    try:
        raw = base45.decode(body)
    except base45.Base45Error as exc:
        raise _Refused(Reason.MALFORMED, f"not base45: {exc}") from None
    value = _loads(raw, "the token")
    if not isinstance(value, cbor2.CBORTag) or value.tag != COSE_SIGN1_TAG:
        raise _Refused(Reason.MALFORMED, "not a tagged COSE_Sign1 (CBOR tag 18)")
    parts = value.value
    if not isinstance(parts, list | tuple) or len(parts) != 4:
        raise _Refused(Reason.MALFORMED, "a COSE_Sign1 is an array of four items")
    protected, unprotected, payload, signature = parts
    if not isinstance(protected, bytes) or type(unprotected) not in _MAPS:
        raise _Refused(Reason.MALFORMED, "COSE headers: a protected byte string and an unprotected map")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise _Refused(Reason.MALFORMED, "the COSE payload and signature must be byte strings")
    return protected, unprotected, payload, signature


def _protected_header(protected: bytes) -> object:
    """The decoded protected header. Every pass of one seal carries the same bytes here (alg and kid), so
    the few seen are remembered (decoding is a pure function of the bytes; only well-formed ones are kept)."""
    header = _PROTECTED.get(protected)
    if header is None:
        header = _loads(protected, "the protected header") if protected else {}
        if len(_PROTECTED) >= _PROTECTED_LIMIT:
            _PROTECTED.clear()
        _PROTECTED[protected] = header
    return header


_PROTECTED: dict[bytes, object] = {}
# what cbor2 decodes a map to (a frozendict inside a tag): exact types, no ABC instance check per field
_MAPS = (dict, cbor2.frozendict)
_PROTECTED_LIMIT = 64


def _header(protected: bytes, unprotected: Mapping[object, object]) -> tuple[int, bytes]:
    header = _protected_header(protected)
    if type(header) not in _MAPS:
        raise _Refused(Reason.MALFORMED, "the protected header is not a map")
    alg = header.get(HEADER_ALG)
    if alg is None:
        where = " (only in the unprotected header, which is not signed)" if HEADER_ALG in unprotected else ""
        raise _Refused(Reason.MALFORMED, f"no algorithm in the protected header{where}")
    if type(alg) is not int or alg not in ALGORITHMS:
        raise _Refused(Reason.BAD_ALGORITHM, f"algorithm {alg!r} is not accepted (ES256 or ES384)")
    kid = header.get(HEADER_KID)
    loose_kid = unprotected.get(HEADER_KID)
    if kid is None:
        if loose_kid is not None:
            raise _Refused(
                Reason.MALFORMED, "the key id is only in the unprotected header; it must be signed"
            )
        raise _Refused(Reason.MALFORMED, "no key id in the protected header")
    if not isinstance(kid, bytes):
        raise _Refused(Reason.MALFORMED, "the key id must be a byte string")
    if loose_kid is not None and loose_kid != kid:
        raise _Refused(Reason.MALFORMED, "the unprotected header names a different key id")
    return alg, kid


def _check_signature(
    keys: KeySet, alg: int, kid: bytes, protected: bytes, payload: bytes, signature: bytes
) -> None:
    key = keys.active(kid) if len(kid) == KID_LENGTH else None
    if key is None:
        state = "retired" if keys.is_retired(kid) else "not known"
        raise _Refused(Reason.UNKNOWN_KEY, f"key {kid.hex()} is {state}")
    if key.alg != alg:
        raise _Refused(Reason.BAD_ALGORITHM, f"key {kid.hex()} does not sign with algorithm {alg}")
    _, size, hash_name = ALGORITHMS[alg]
    if len(signature) != 2 * size:
        raise _Refused(Reason.FORGED, f"the signature is {len(signature)} bytes, not {2 * size}")
    der = canonical_der(alg, signature)
    if der is None:  # (r, n − s) of a genuine pass: it would verify, but Kyso never signs it
        raise _Refused(Reason.FORGED, "the signature is not in its canonical (low-s) form")
    try:
        key.public_key.verify(der, _sig_structure(protected, payload), _ECDSA[hash_name])
    except InvalidSignature:
        raise _Refused(Reason.FORGED, "the signature does not verify") from None


def _int(value: object, name: str, minimum: int = 0) -> int:
    if type(value) is not int or value < minimum:
        raise _Refused(Reason.MALFORMED, f"claim {name} must be an integer ≥ {minimum}")
    return value


def _text(value: object, name: str, limit: int = 200) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _Refused(Reason.MALFORMED, f"claim {name} must be text of 1..{limit} characters")
    return value


def _claims(payload: bytes) -> InvitationClaims:
    claims = _loads(payload, "the CWT claims")
    if type(claims) not in _MAPS:
        raise _Refused(Reason.MALFORMED, "the CWT claims are not a map")
    if claims.get(CLAIM_ISS) != ISSUER:
        raise _Refused(Reason.MALFORMED, f"the issuer claim is {claims.get(CLAIM_ISS)!r}, not {ISSUER!r}")
    token_id = claims.get(CLAIM_CTI)
    if not isinstance(token_id, bytes) or len(token_id) != TOKEN_ID_LENGTH:
        raise _Refused(Reason.MALFORMED, "the token id (cti) must be 8 bytes")
    invitation = claims.get(CLAIM_INVITATION)
    if type(invitation) not in _MAPS:
        raise _Refused(Reason.MALFORMED, "the invitation claim is missing")
    digest = invitation.get(_FIELD_CCCD)
    if digest is not None and (not isinstance(digest, bytes) or len(digest) != CCCD_HASH_LENGTH):
        raise _Refused(Reason.MALFORMED, "the CCCD hash must be 16 bytes")
    rotating = invitation.get(_FIELD_ROTATING, False)
    if not isinstance(rotating, bool):
        raise _Refused(Reason.MALFORMED, "the rotating flag must be true or false")
    span: int | None = None
    days: tuple[int, ...] = ()
    recurrence = invitation.get(_FIELD_RECURRENCE)
    if recurrence is not None:
        if not isinstance(recurrence, list | tuple) or len(recurrence) < 2:
            raise _Refused(Reason.MALFORMED, "a recurrence is [window seconds, day offsets…]")
        span = _int(recurrence[0], "recurrence window", 1)
        days = tuple(_int(d, "recurrence day") for d in recurrence[1:])
    not_before = _int(claims.get(CLAIM_NBF), "nbf")
    expires = _int(claims.get(CLAIM_EXP), "exp")
    if expires < not_before:
        raise _Refused(Reason.MALFORMED, "exp is before nbf")
    return InvitationClaims(
        invitation_id=_text(invitation.get(_FIELD_ID), "invitation id", 40),
        venue=_text(invitation.get(_FIELD_VENUE), "venue", 40),
        guest_name=unicodedata.normalize("NFC", _text(invitation.get(_FIELD_NAME), "guest name")),
        not_before=not_before,
        expires=expires,
        token_id=token_id,
        version=_int(invitation.get(_FIELD_VERSION), "version", 1),
        cccd_hash=digest,
        entries=_int(invitation.get(_FIELD_ENTRIES, 1), "entries", 1),
        companions=_int(invitation.get(_FIELD_COMPANIONS, 0), "companions"),
        rotating=rotating,
        span=span,
        days=days,
    )


def _window_detail(claims: InvitationClaims, reason: Reason, now: dt.datetime) -> str:
    at = now.timestamp()
    if reason is Reason.NOT_YET_VALID:
        opens = min((start for start, _ in claims.windows() if start > at), default=claims.not_before)
        return f"admission opens at {dt.datetime.fromtimestamp(opens, dt.UTC).isoformat()}"
    return f"the pass ended at {dt.datetime.fromtimestamp(claims.expires, dt.UTC).isoformat()}"


def verify(text: str, keys: KeySet, now: dt.datetime, *, leeway: int = 0) -> Verdict:
    """Read a scanned text and decide whether it is a genuine token valid at ``now``. Never raises.

    ``leeway`` (seconds) widens the time window for desks whose clock may drift (offline desks).
    """
    claims: InvitationClaims | None = None
    kid: bytes | None = None
    code: str | None = None
    try:
        body, code = split_scanned(text)
        protected, unprotected, payload, signature = _cose(body)
        alg, kid = _header(protected, unprotected)
        _check_signature(keys, alg, kid, protected, payload, signature)
        claims = _claims(payload)
        reason, occurrence = claims.time_check(now, leeway)
        if reason is not None:
            return Verdict(reason, _window_detail(claims, reason, now), claims, kid, None, code)
        return Verdict(None, "genuine and current", claims, kid, occurrence, code)
    except _Refused as refused:
        return Verdict(refused.reason, refused.detail, claims, kid, None, code)
