"""TOTP second factor (RFC 6238): ±1 step window, each code accepted once, one-time recovery codes.

Replay is refused atomically: accepting a code is an UPDATE that only succeeds while the account's last
accepted step is older than the code's step, so two requests racing with the same code cannot both win,
on one worker or many.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass

import pyotp
import qrcode
from sqlalchemy.orm import Session

from keystore.secretbox import SecretBox
from store import identity_repo
from store.models import Account, RecoveryCode

ISSUER = "Kyso"
STEP_SECONDS = 30
WINDOW = 1
RECOVERY_CODES = 10
CODE_NOT_VALID = "that code is not valid now; check the authenticator's clock and try the next code"


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str

    def qr_png(self) -> bytes:
        image = qrcode.make(self.uri, error_correction=qrcode.constants.ERROR_CORRECT_M)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    def qr_terminal(self) -> str:
        code = qrcode.QRCode(border=1, error_correction=qrcode.constants.ERROR_CORRECT_L)
        code.add_data(self.uri)
        buffer = io.StringIO()
        code.print_ascii(out=buffer, invert=True)
        return buffer.getvalue()

    def qr_png_base64(self) -> str:
        return base64.b64encode(self.qr_png()).decode()


def _context(account: Account) -> str:
    return f"totp:{account.id}"


def enrol(session: Session, box: SecretBox, account: Account) -> Enrolment:
    """A new secret, unconfirmed until the first valid code. Replaces any earlier one."""
    secret = pyotp.random_base32()
    account.totp_secret = box.seal(secret.encode(), _context(account))
    account.totp_confirmed = False
    account.totp_last_step = None
    # a reset (lost or compromised phone) must also end the old recovery codes
    identity_repo.drop_recovery_codes(session, account.id)
    session.flush()
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name=ISSUER))


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // STEP_SECONDS
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def verify(session: Session, box: SecretBox, account: Account, code: str, now: dt.datetime) -> bool:
    """Accept a code once. Confirms a pending enrolment. Falls back to unused recovery codes.

    Callers go through ``identity.lockout.check_code``, which counts wrong codes and locks."""
    code = code.strip().replace(" ", "")
    if account.totp_secret is None:
        return False
    step = _matching_step(box.open(account.totp_secret, _context(account)).decode(), code, now)
    if step is None:
        return use_recovery_code(session, account, code, now)
    return _accept_step(session, account, step)


def verify_step(session: Session, box: SecretBox, account: Account, code: str, now: dt.datetime) -> bool:
    """Accept a code from the authenticator app once (no recovery codes); confirms a pending enrolment."""
    if account.totp_secret is None:
        return False
    secret = box.open(account.totp_secret, _context(account)).decode()
    step = _matching_step(secret, code.strip().replace(" ", ""), now)
    return step is not None and _accept_step(session, account, step)


def _accept_step(session: Session, account: Account, step: int) -> bool:
    """Record ``step`` as used, unless it (or a later one) already was; atomic across workers."""
    accepted = identity_repo.accept_totp_step(session, account.id, step)
    session.refresh(account)
    return accepted


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").lower().encode()).hexdigest()


def new_recovery_codes(session: Session, account: Account) -> list[str]:
    identity_repo.drop_recovery_codes(session, account.id)
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(6)
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
        session.add(RecoveryCode(account_id=account.id, code_hash=_hash_code(raw)))
    session.flush()
    return codes


def use_recovery_code(session: Session, account: Account, code: str, now: dt.datetime) -> bool:
    cleaned = code.replace("-", "").lower()
    if len(cleaned) != 12 or any(c not in "0123456789abcdef" for c in cleaned):
        return False
    return identity_repo.use_recovery_code(session, account.id, _hash_code(cleaned), now)
