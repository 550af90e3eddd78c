"""Settings from ``KYSO_…`` environment variables, built once by whoever starts the process."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core import master_key
from core.errors import Kind, ServiceError

KeyAlgorithm = Literal["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]
MASTER_KEY_FILE = "master.key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KYSO_", env_file=None, extra="ignore", env_ignore_empty=True
    )

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite in the data directory when unset"
    )
    # PostgreSQL session limits (store/db.py; docs/deployment.md): a stuck client cannot hold locks for ever.
    db_lock_timeout_seconds: float = Field(
        default=10, ge=0, le=3600, description="longest wait for a lock before a statement fails (0: none)"
    )
    db_idle_in_transaction_timeout_seconds: float = Field(
        default=30, ge=0, le=86400, description="a transaction left idle this long is ended (0: never)"
    )
    master_key: SecretStr | None = Field(default=None, description="derives the keys that wrap stored keys")
    master_key_file: Path | None = Field(default=None, description="file holding the master key (secrets)")
    base_url: str = "http://127.0.0.1:8000"
    pki_base_url: str | None = Field(
        default=None,
        description="where CRLs, OCSP and CA certificates are fetched; plain http, derived from base_url",
    )
    ca_key_algorithm: KeyAlgorithm = "ec-p384"
    crl_validity_hours: int = Field(default=24, ge=1, le=24 * 30, description="CRL nextUpdate - thisUpdate")
    ocsp_validity_hours: int = Field(default=24, ge=1, le=24 * 7, description="OCSP response validity")
    max_document_mb: int = Field(default=100, ge=1, le=2048, description="largest PDF accepted for signing")
    signing_authorization_minutes: int = Field(
        default=5, ge=1, le=60, description="how long a confirmed signing authorisation stays usable"
    )
    signing_batch_max: int = Field(
        default=50, ge=1, le=1000, description="documents per signing authorisation"
    )
    # Verification (verification/): limits for documents anyone may upload, and revocation fetching.
    verify_max_mb: int = Field(default=50, ge=1, le=1024, description="largest PDF accepted for verification")
    verify_timeout_seconds: float = Field(default=30, gt=0, le=600, description="time allowed per document")
    verify_memory_mb: int = Field(default=1536, ge=256, le=16384, description="memory ceiling per document")
    verify_fetch_revocation: bool = Field(
        default=False, description="ask this service's OCSP responder when a file carries no revocation data"
    )
    verify_rate_per_minute: int = Field(default=30, ge=1, le=100000, description="public uploads per client")
    ocsp_rate_per_minute: int = Field(
        default=600, ge=1, le=1000000, description="OCSP requests needing a signature, per client and minute"
    )
    tsa_rate_per_minute: int = Field(
        default=600, ge=1, le=1000000, description="timestamp requests per client and minute"
    )
    host: str = "127.0.0.1"
    port: int = 8000
    # Observability and hardening (issue 9; docs/observability.md, docs/security.md).
    log_format: Literal["json", "text"] | None = Field(
        default=None, description="json or text log lines; json unless stderr is a terminal"
    )
    metrics_allow: str = Field(
        default="127.0.0.0/8,::1/128", description="comma-separated networks that may read /metrics"
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses/networks of the reverse proxies whose X-Forwarded-For "
        "is believed (none: the socket peer is the client)",
    )
    login_rate_per_minute: int = Field(
        default=10, ge=1, le=100000, description="login attempts per client address and minute"
    )
    signing_upload_mb: int = Field(
        default=200, ge=1, le=4096, description="largest request body of one signing batch (all its PDFs)"
    )
    upload_idle_seconds: float = Field(
        default=30, gt=0, le=3600, description="longest pause while a client sends a request body"
    )
    upload_timeout_seconds: float = Field(
        default=600, gt=0, le=86400, description="longest time to receive one request body"
    )
    # Key custody (keystore/custody.py): new keys go to this backend; existing keys stay where they were made.
    keystore: Literal["software", "pkcs11"] = "software"
    pkcs11_module: Path | None = Field(
        default=None, description="PKCS#11 module (.so), e.g. /usr/lib/softhsm/libsofthsm2.so"
    )
    pkcs11_token_label: str | None = Field(default=None, description="label of the token that holds the keys")
    pkcs11_pin: SecretStr | None = Field(default=None, description="the token's user PIN")
    pkcs11_pin_file: Path | None = Field(default=None, description="file holding the user PIN (secrets)")
    # Invitations (invitations/): the operator's mail server, and how long guests' personal data is kept.
    smtp_host: str | None = Field(default=None, description="mail server for invitation and arrival emails")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(default="Kyso <no-reply@kyso.invalid>", description="From: of invitation emails")
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    webhook_allow: str = Field(
        default="",
        description="comma-separated networks and host names arrival webhooks may reach besides public "
        "addresses (an in-house receiver); none by default",
    )
    invitation_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="days after an invitation ends before its guest data is anonymised",
    )
    # The background worker (services/worker.py): mail and webhooks, check-out, retention, CRLs, sealing.
    worker: Literal["in-process", "external"] = Field(
        default="in-process",
        description="in-process: every kyso serve process runs the background jobs; external: kyso worker "
        "processes do (production)",
    )
    audit_seal_minutes: int = Field(
        default=60,
        ge=0,
        le=10080,
        description="seal the audit log when its oldest unsealed entry is this old; 0: off",
    )
    # Archived B-LTA documents kept by this service (services/ltv.py): renewed by the worker once a day.
    archive_dir: Path | None = Field(
        default=None,
        description="a directory of archived signed PDFs whose document timestamps the worker renews "
        "before they expire or weaken (kyso archive-renew); unset: no archive job",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("KYSO_BASE_URL must be an http(s) URL such as https://kyso.example.vn")
        return value.rstrip("/")

    @field_validator("metrics_allow")
    @classmethod
    def _check_metrics_allow(cls, value: str) -> str:
        import ipaddress

        try:
            [ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]
        except ValueError as exc:
            raise ValueError(f"KYSO_METRICS_ALLOW must list networks such as 10.0.0.0/8: {exc}") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        import ipaddress

        try:
            [ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]
        except ValueError as exc:
            raise ValueError(
                "KYSO_TRUSTED_PROXIES must list the proxies' addresses or networks such as 172.30.57.2 "
                f"(no '*', no host names): {exc}"
            ) from None
        return value

    @field_validator("webhook_allow")
    @classmethod
    def _check_webhook_allow(cls, value: str) -> str:
        import ipaddress
        import re

        for part in (p.strip().lower().rstrip(".") for p in value.split(",")):
            if not part:
                continue
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                if not re.fullmatch(r"[a-z0-9_]([a-z0-9_.-]{0,251}[a-z0-9_])?", part) or ".." in part:
                    raise ValueError(
                        f"KYSO_WEBHOOK_ALLOW must list networks (10.20.0.0/16) and host names: {part!r} is "
                        "neither (no '*', no URLs)"
                    ) from None
        return value

    @field_validator("pki_base_url")
    @classmethod
    def _check_pki_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(
                "KYSO_PKI_BASE_URL must be a plain http:// URL: relying parties fetch CRLs and OCSP without "
                "TLS (RFC 5280 §4.2.1.13, ETSI EN 319 412-2 §4.3.11)"
            )
        return value.rstrip("/")

    @property
    def resolved_pki_base_url(self) -> str:
        """The URL prefix written into certificates (AIA, CRL distribution points)."""
        if self.pki_base_url:
            return self.pki_base_url
        return "http://" + self.base_url.split("://", 1)[1]

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'kyso.db').resolve()}"

    def master_key_bytes(self, *, create: bool = False) -> bytes:
        """The master key, from the environment, a secrets file, or (development only) ``var/master.key``.

        In production a key that does not carry 32 random bytes (missing, a default, short, or typed
        rather than generated: ``core.master_key``) is refused, so a deployment can never run with a key
        anyone could guess.
        """
        if self.master_key is not None:
            key = self.master_key.get_secret_value()
        elif self.master_key_file is not None:
            try:
                key = self.master_key_file.read_text().strip()
            except OSError as exc:
                raise ServiceError(Kind.UNAVAILABLE, f"cannot read KYSO_MASTER_KEY_FILE: {exc}") from exc
        elif self.production:
            key = ""
        else:
            return self._development_key(create)
        if self.production and (weakness := master_key.weakness(key)) is not None:
            raise ServiceError(
                Kind.MALFORMED,
                "production mode needs KYSO_MASTER_KEY (or KYSO_MASTER_KEY_FILE) of at least "
                f"{master_key.MIN_BYTES} random bytes, e.g. from `{master_key.GENERATE}`; refusing this "
                f"one: {weakness}",
            )
        if not key:
            raise ServiceError(Kind.MALFORMED, "KYSO_MASTER_KEY is set but empty")
        return key.encode()

    def _development_key(self, create: bool) -> bytes:
        key = self._secret_file(MASTER_KEY_FILE, create)
        if key is None:
            raise ServiceError(
                Kind.UNAVAILABLE,
                f"no master key: set KYSO_MASTER_KEY or run `kyso init` to create "
                f"{self.data_dir / MASTER_KEY_FILE}",
            )
        return key.encode()

    def _secret_file(self, name: str, create: bool) -> str | None:
        """A random secret kept in a 0600 file of the data directory, created on demand."""
        path = self.data_dir / name
        if path.exists():
            return path.read_text().strip()
        if not create:
            return None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        return value


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
