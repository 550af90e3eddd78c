"""Builds the CA's working parts from settings; api/ and cli/ each call this once at start-up."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlparse

from ca.issuance import CertificateAuthority, StatusPolicy
from ca.lint import CertificateLinter
from ca.urls import PkiUrls
from core.clock import Clock, SystemClock
from core.settings import Settings
from keystore import SoftwareKeystore
from store.db import Database


def is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class CaRuntime:
    settings: Settings
    db: Database
    ca: CertificateAuthority

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Clock | None = None, create_master_key: bool = False
    ) -> CaRuntime:
        clock = clock or SystemClock()
        db = Database(settings.resolved_database_url)
        keystore = SoftwareKeystore(settings.master_key_bytes(create=create_master_key), clock)
        linter = CertificateLinter(
            tolerate_loopback_urls=not settings.production and is_loopback_url(settings.resolved_pki_base_url)
        )
        urls = PkiUrls(settings.resolved_pki_base_url)
        policy = StatusPolicy(
            crl_validity=dt.timedelta(hours=settings.crl_validity_hours),
            ocsp_validity=dt.timedelta(hours=settings.ocsp_validity_hours),
        )
        return cls(settings, db, CertificateAuthority(keystore, clock, urls, linter, status_policy=policy))
