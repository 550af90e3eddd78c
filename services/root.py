"""The composition root: every part of the service, built once from the settings and the clock.

`api.app.create_app` builds one ``Kyso`` per process and keeps it as ``app.state.kyso``; every CLI command
gets one from ``cli.common.runtime()``. Routers, commands and the fast path never wire domain objects
themselves: they ask this object.

Parts that cost time to build (the signing pipeline imports pyHanko and loads fonts; the invitation seal
is unwrapped from the keystore) are built on first use, under a lock, and then kept: a CLI command that
lists certificates never pays for them, and a server builds each once. The invitation context needs the
seal that `kyso init` creates, so asking for it on an instance without one raises UNAVAILABLE (and is
asked again next time).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ca.runtime import CaRuntime
from core.clock import Clock, SystemClock
from core.settings import Settings

if TYPE_CHECKING:
    from ca.issuance import CertificateAuthority
    from ca.service_signers import DelegatedSigners
    from ca.tsa import TimestampAuthority
    from invitations.service import InvitationContext
    from keystore.secretbox import SecretBox
    from services.verification import Verifiers
    from signing.seals import DocumentSealer
    from signing.service import SigningService
    from store.db import Database
    from store.status_versions import StatusVersions

T = TypeVar("T")

INVITATION_SEAL_SIGNER = "invitation-seal"  # the key that signs guest passes (invitations.keys.PassSigner)
AUDIT_SEAL_SIGNER = "tsa"  # the audit chain is sealed with the TSA's key (identity.audit.seal)


@dataclass(eq=False)
class Kyso:
    settings: Settings
    clock: Clock
    runtime: CaRuntime  # the CA's own parts: database, keystore, linter, URLs, status policy
    _parts: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def build(
        cls, settings: Settings, *, clock: Clock | None = None, create_master_key: bool = False
    ) -> Kyso:
        clock = clock or SystemClock()
        runtime = CaRuntime.from_settings(settings, clock=clock, create_master_key=create_master_key)
        return cls(settings, clock, runtime)

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def ca(self) -> CertificateAuthority:
        return self.runtime.ca

    def check_ready(self) -> None:
        self.runtime.check_ready()

    def _once(self, name: str, build: Callable[[], T]) -> T:
        part = self._parts.get(name)
        if part is None:
            with self._lock:
                part = self._parts.get(name)
                if part is None:
                    part = self._parts[name] = build()
        return part

    # --- parts ------------------------------------------------------------------------------------------
    @property
    def secret_box(self) -> SecretBox:
        """Seals personal data at rest (guests' CCCD, webhook secrets) under the master key."""
        from keystore.secretbox import SecretBox

        return self._once("secret_box", lambda: SecretBox(self.settings.master_key_bytes()))

    @property
    def signing(self) -> SigningService:
        """One per process: it caches a CMS template per signing certificate and the stamp fonts."""
        return self._once("signing", self._build_signing)

    def _build_signing(self) -> SigningService:
        from ca.signing_keys import CaKeySource
        from ca.tsa import TimestampAuthority
        from ca.tsa_pyhanko import InProcessTimeStamper
        from signing import fonts
        from signing.service import SigningService

        fonts.preload()  # now, so the first signature does not pay for them
        return SigningService(
            CaKeySource(self.db, self.ca),
            timestamper=InProcessTimeStamper(TimestampAuthority(self.ca), self.db),
            verify_url_base=self.settings.base_url,
            max_document_bytes=self.settings.max_document_mb << 20,
            now=self.clock.now,
        )

    @property
    def invitations(self) -> InvitationContext:
        """The pass seal from the keystore (through ca/), handed to invitations/ as a signing callable."""
        return self._once("invitations", self._build_invitations)

    @property
    def invitations_if_built(self) -> InvitationContext | None:
        """The invitation context if it is built already, without building it (the fast path's loop must
        not unwrap a key or touch the database)."""
        return self._parts.get("invitations")

    def _build_invitations(self) -> InvitationContext:
        from ca import service_signers
        from invitations.keys import PassSigner
        from invitations.service import InvitationContext, register_seal
        from invitations.webhooks import WebhookPolicy

        with self.db.transaction() as session:
            delegated = service_signers.load(session, self.ca, INVITATION_SEAL_SIGNER)
            seal = PassSigner(delegated.signer.sign, delegated.certificate, tuple(delegated.chain))
            webhooks = WebhookPolicy.parse(self.settings.webhook_allow)
            context = InvitationContext(clock=self.clock, box=self.secret_box, seal=seal, webhooks=webhooks)
            register_seal(session, context)
        return context

    @property
    def letter_sealer(self) -> DocumentSealer:
        """The host agency's seal for invitation letters (signing/ and ca/ wired here)."""
        return self._once("letter_sealer", self._build_letter_sealer)

    def _build_letter_sealer(self) -> DocumentSealer:
        from ca.signing_keys import CaKeySource
        from invitations import letter
        from signing.seals import DocumentSealer

        agency_seal = CaKeySource(self.db, self.ca).agency_seal
        return DocumentSealer(self.signing, agency_seal, reason=letter.LETTER_REASON, name=letter.LETTER_FILE)

    @property
    def status_versions(self) -> StatusVersions:
        """What each CA's certificate statuses were last seen at, so cached OCSP answers stay true."""
        from store.status_versions import StatusVersions

        return self._once("status_versions", lambda: StatusVersions(self.db))

    @property
    def delegated_signers(self) -> DelegatedSigners:
        """The OCSP responders' and the TSA's keys, loaded once and reloaded when their status changes."""
        from ca.service_signers import DelegatedSigners

        return self._once("delegated_signers", lambda: DelegatedSigners(self.ca, self.status_versions))

    @property
    def timestamp_authority(self) -> TimestampAuthority:
        """The RFC 3161 TSA; its key is the one the delegated signers keep, checked like the responders'."""
        from ca.tsa import TimestampAuthority

        return self._once("tsa", lambda: TimestampAuthority(self.ca, self.delegated_signers))

    @property
    def pass_key(self) -> bytes:
        """The key of guests' pass links (derived from the master key)."""
        from invitations import pass_links

        return self._once("pass_key", lambda: pass_links.derive_key(self.settings))

    @property
    def verifiers(self) -> Verifiers:
        """The PDF verifier of the current trust list, kept per process (anchors parsed once)."""
        return self._once("verifiers", self._build_verifiers)

    def _build_verifiers(self) -> Verifiers:
        from services.verification import Verifiers
        from verification.validate import Limits

        s = self.settings
        limits = Limits(max_bytes=s.verify_max_mb << 20, timeout_seconds=s.verify_timeout_seconds,
                        memory_bytes=s.verify_memory_mb << 20)  # fmt: skip
        return Verifiers(limits, self.clock.now)
