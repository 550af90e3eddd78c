"""Verification after the upload is read: check a PDF against the trust list, say what this service
signed itself, and seal the report.

(The use cases follow; this module starts with the per-process verifier cache, a part of ``Kyso``.)
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from verification.trust import TrustStore
    from verification.validate import Limits, Verifier


class Verifiers:
    """One ``Verifier`` per trust list (its anchors parsed once, the revocation data it has seen kept),
    replaced when operators change the anchors. One per process: ``Kyso.verifiers``."""

    def __init__(self, limits: Limits, now: Callable[[], dt.datetime]) -> None:
        self.limits = limits
        self._now = now
        self._current: tuple[tuple[str, ...], Verifier] | None = None
        self._lock = threading.Lock()

    def for_trust(self, store: TrustStore) -> Verifier:
        from verification.validate import Verifier

        key = (store.name, *store.fingerprints)
        with self._lock:
            if self._current is None or self._current[0] != key:
                self._current = (key, Verifier(store, limits=self.limits, now=self._now))
            return self._current[1]
