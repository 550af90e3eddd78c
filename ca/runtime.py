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
from core.errors import Kind, ServiceError
from core.settings import Settings
from keystore import open_keystore
from store import repositories
from store.db import Database
from store.migrate import current_revision, head_revision


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
        # the master key first: a refused key must leave nothing behind (not even an empty SQLite file)
        keystore = open_keystore(settings, clock, create_master_key=create_master_key)
        db = Database(
            settings.resolved_database_url,
            lock_timeout=settings.db_lock_timeout_seconds,
            idle_in_transaction_timeout=settings.db_idle_in_transaction_timeout_seconds,
        )
        linter = CertificateLinter(
            tolerate_loopback_urls=not settings.production and is_loopback_url(settings.resolved_pki_base_url)
        )
        urls = PkiUrls(settings.resolved_pki_base_url)
        policy = StatusPolicy(
            crl_validity=dt.timedelta(hours=settings.crl_validity_hours),
            ocsp_validity=dt.timedelta(hours=settings.ocsp_validity_hours),
        )
        return cls(settings, db, CertificateAuthority(keystore, clock, urls, linter, status_policy=policy))

    def check_ready(self) -> None:
        """Fail fast, with a message an operator can act on, before serving or issuing anything.

        - production refuses PKI URLs on a loopback address (they would be written into certificates);
        - the schema must be migrated;
        - the master key must unwrap the root key (a wrong KYSO_MASTER_KEY is caught at start-up, not at
          the first signature).
        """
        if self.settings.production and is_loopback_url(self.settings.resolved_pki_base_url):
            raise ServiceError(
                Kind.MALFORMED,
                "production mode needs KYSO_BASE_URL (or KYSO_PKI_BASE_URL) to be the public name relying "
                f"parties reach; {self.settings.resolved_pki_base_url} would be written into certificates",
            )
        if current_revision(self.db) != head_revision(self.db):
            raise ServiceError(Kind.UNAVAILABLE, "the database schema is missing or old; run `kyso init`")
        with self.db.reading() as session:
            root = repositories.authority(session, "root")
            if root is not None:
                self.ca.keystore.signer(session, root.key_id)
