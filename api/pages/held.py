"""Uploads the verify page keeps for a while, so its result can offer "Xem bản đã ký" (each signature's
signed revision, downloadable) and the comparison of that revision with the file as uploaded.

A kept upload lives under ``<data_dir>/verify-held/`` as ``<token>.pdf`` with ``<token>.json`` (its
revisions and the time it was kept) and the comparison's images in ``<token>/``; the token is random and
appears only in the result page's links. Kept ``KEEP_SECONDS``, at most ``MAX_KEPT`` uploads of at most
``MAX_BYTES`` each (larger files get a result without the links); the oldest go first. The time is the
process's clock, written into the JSON (not the file's mtime), so a faked clock agrees with itself.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from verification.report import VerificationReport
from verification.revisions import signed_version_end

KEEP_SECONDS = 30 * 60
MAX_KEPT = 32
MAX_BYTES = 25 << 20
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{24}$")


@dataclass(frozen=True)
class Kept:
    token: str
    data: bytes
    revisions: list[dict[str, object]]  # number, end, field, change, signed_version_end

    def signed_revision(self, number: int) -> bytes | None:
        """The version a signature signed when revision ``number`` is its (verification.revisions
        ``signed_version_end``: its ByteRange, and the validation data written with it)."""
        for revision in self.revisions:
            if revision["number"] == number and revision.get("signed_version_end"):
                return self.data[: int(str(revision["signed_version_end"]))]
        return None


class HeldUploads:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def keep(self, data: bytes, report: VerificationReport) -> str | None:
        """Keep ``data`` (when it has a signed revision before its last and is small enough); its token."""
        signed = [r for r in report.revisions if r.signed_until]
        if not signed or len(data) > MAX_BYTES:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._prune()
        token = secrets.token_urlsafe(18)
        (self.directory / f"{token}.pdf").write_bytes(data)
        meta = {
            "kept_at": time.time(),
            "revisions": [
                {"number": r.number, "end": r.end, "field": r.field, "change": r.change,
                 "signed_version_end": signed_version_end(report.revisions, r.field) if r.field else None}
                for r in report.revisions
            ],
        }  # fmt: skip
        (self.directory / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
        return token

    def get(self, token: str) -> Kept | None:
        if not _TOKEN.match(token):
            return None
        meta = self._meta(token)
        if meta is None or time.time() - float(meta["kept_at"]) > KEEP_SECONDS:
            return None
        try:
            data = (self.directory / f"{token}.pdf").read_bytes()
        except OSError:
            return None
        return Kept(token, data, list(meta["revisions"]))

    def images(self, token: str) -> Path:
        """Where the comparison's images of ``token`` go."""
        return self.directory / token

    def image(self, token: str, name: str) -> Path | None:
        if not _TOKEN.match(token) or not re.fullmatch(r"r\d{1,3}/(before|after|diff)-\d{1,2}", name):
            return None
        path = self.directory / token / f"{name}.png"
        return path if path.is_file() and self.get(token) is not None else None

    def _meta(self, token: str) -> dict | None:
        try:
            return json.loads((self.directory / f"{token}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _prune(self) -> None:
        kept = []
        for meta_path in self.directory.glob("*.json"):
            token = meta_path.stem
            meta = self._meta(token)
            when = float(meta["kept_at"]) if meta else 0.0
            kept.append((when, token))
        kept.sort()
        now = time.time()
        for number, (when, token) in enumerate(kept):
            if now - when > KEEP_SECONDS or len(kept) - number >= MAX_KEPT:
                self._drop(token)

    def _drop(self, token: str) -> None:
        for path in (self.directory / f"{token}.pdf", self.directory / f"{token}.json"):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.directory / token, ignore_errors=True)
