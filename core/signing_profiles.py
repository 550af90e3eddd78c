"""The certificate profiles that sign documents, and what each signs for: shared by ca/ (which keys may
sign now) and signing/ (which certificates a signing credential may hold)."""

from __future__ import annotations

SIGNING_PROFILES: dict[str, str] = {"citizen": "sign", "official": "sign", "agency-seal": "seal"}
PERSONAL_PROFILES = frozenset({"citizen", "official"})  # a natural person, named by their CCCD
