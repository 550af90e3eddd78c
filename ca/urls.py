"""The URLs written into certificates; all start with KYSO_BASE_URL and are served by api/routers/pki.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PkiUrls:
    base: str

    def ca_certificate(self, authority_id: str) -> str:
        return f"{self.base}/pki/ca/{authority_id}.cer"

    def crl(self, authority_id: str) -> str:
        return f"{self.base}/pki/crl/{authority_id}.crl"

    def ocsp(self, authority_id: str) -> str:
        return f"{self.base}/ocsp/{authority_id}"

    @property
    def tsa(self) -> str:
        return f"{self.base}/tsa"
