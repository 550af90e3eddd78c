"""Custody of private keys. Everything else receives a signer (``KeySigner``, ``Pkcs11Signer``), not a key."""

from keystore.custody import Custody, Keystore, Signer, open_keystore
from keystore.pkcs11 import Pkcs11Keystore, Pkcs11Signer
from keystore.signer import KeySigner
from keystore.software import EphemeralKey, SoftwareKeystore

__all__ = [
    "Custody",
    "EphemeralKey",
    "KeySigner",
    "Keystore",
    "Pkcs11Keystore",
    "Pkcs11Signer",
    "Signer",
    "SoftwareKeystore",
    "open_keystore",
]
