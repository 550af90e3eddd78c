"""Anti-sharing: a live pass shows the token with a TOTP code (RFC 6238, 30 s step) over a per-invitation
secret, like rotating ticket barcodes. The desk accepts the current step and the one before, so a
screenshot forwarded to someone else stops working within a minute. Only the server holds the secret
(sealed under the master key), so the code is checked online; an offline desk checks the token alone.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import os

import pyotp

from keystore.secretbox import SecretBox

STEP_SECONDS = 30
ACCEPTED_PAST_STEPS = 1
SECRET_BYTES = 20


def _context(invitation_id: str) -> str:
    return f"invitation-rotating:{invitation_id}"


def new_secret(box: SecretBox, invitation_id: str) -> bytes:
    return box.seal(os.urandom(SECRET_BYTES), _context(invitation_id))


def _totp(box: SecretBox, invitation_id: str, sealed: bytes) -> pyotp.TOTP:
    secret = box.open(sealed, _context(invitation_id))
    return pyotp.TOTP(base64.b32encode(secret).decode(), interval=STEP_SECONDS)


def current_code(box: SecretBox, invitation_id: str, sealed: bytes, now: dt.datetime) -> str:
    return _totp(box, invitation_id, sealed).at(now)


def code_is_current(box: SecretBox, invitation_id: str, sealed: bytes, code: str, now: dt.datetime) -> bool:
    totp = _totp(box, invitation_id, sealed)
    step = int(now.timestamp()) // STEP_SECONDS
    return any(
        hmac.compare_digest(totp.at((step - back) * STEP_SECONDS), code)
        for back in range(ACCEPTED_PAST_STEPS + 1)
    )
