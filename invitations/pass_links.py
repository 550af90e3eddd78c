"""Links to a guest's pass page (api/pages/guest_pass.py): ``/pass/<invitation id>.<MAC>``.

The MAC is HMAC-SHA256 over the invitation id and its token version, under a key derived (HKDF) from the
instance's master key for this purpose only, truncated to 128 bits and checked in constant time. So a link
cannot be made from an invitation id alone, and amending an invitation (a new token version) retires the
old link, which then says so instead of showing a stale QR.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.settings import Settings

MAC_BYTES = 16


def derive_key(settings: Settings) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"kyso pass links", info=b"pass v1").derive(
        settings.master_key_bytes()
    )


def _mac(key: bytes, invitation_id: str, version: int) -> str:
    digest = hmac.new(key, f"{invitation_id}:{version}".encode(), hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_for(key: bytes, invitation_id: str, version: int) -> str:
    return f"{invitation_id}.{_mac(key, invitation_id, version)}"


@dataclass(frozen=True)
class Checked:
    invitation_id: str
    current: bool  # False: the link of an earlier version (the invitation was amended since)


def split(token: str) -> tuple[str, str] | None:
    invitation_id, dot, mac = token.partition(".")
    if not dot or not (1 <= len(invitation_id) <= 40) or len(mac) != 22:
        return None
    return invitation_id, mac


def check(key: bytes, token: str, current_version: int) -> Checked | None:
    """None when the MAC matches no version of the invitation; every version is compared."""
    parts = split(token)
    if parts is None:
        return None
    invitation_id, mac = parts
    matched = None
    for version in range(current_version, 0, -1):
        if hmac.compare_digest(mac.encode(), _mac(key, invitation_id, version).encode()):
            matched = version
    if matched is None:
        return None
    return Checked(invitation_id, matched == current_version)


def url_builder(settings: Settings) -> Callable[[str, int], str]:
    """``(invitation id, token version) → the absolute pass URL``, for emails."""
    key = derive_key(settings)
    return lambda invitation_id, version: f"{settings.base_url}/pass/{token_for(key, invitation_id, version)}"
