"""The RFC 5280 revocation reasons Kyso accepts, by the names its API and CLI use.

Kept free of cryptography imports so that `kyso ca revoke --help` and the API schemas can name them cheaply;
ca.records maps each name to its x509.ReasonFlags.
"""

from __future__ import annotations

from typing import Literal, get_args

RevocationReason = Literal[
    "unspecified",
    "key-compromise",
    "ca-compromise",
    "affiliation-changed",
    "superseded",
    "cessation-of-operation",
    "privilege-withdrawn",
    "aa-compromise",
]

REVOCATION_REASON_NAMES: tuple[str, ...] = get_args(RevocationReason)
