"""Custody of private keys. Everything else receives a ``KeySigner``, never a key."""

from keystore.signer import KeySigner
from keystore.software import EphemeralKey, SoftwareKeystore

__all__ = ["EphemeralKey", "KeySigner", "SoftwareKeystore"]
