"""The invitation letter ("giấy mời"): one A4 page in Vietnamese, with an English summary, carrying the
guest's QR pass, laid out after the administrative letters of Decree 30/2020/ND-CP (agency and national
motto at the top, number, place and date, title, addressee, body).

This module draws the unsigned PDF and keeps the sealed one: ``issue`` asks a ``LetterSealer`` (signing/'s
``DocumentSealer``, handed in by api/ and cli/) for the host agency's PAdES seal, stores the result beside the
invitation and hands out the same bytes until the invitation is amended (a new token, a new letter).

Text is set in Source Sans Pro (package ``font-source-sans-pro``), embedded as a subset with a ToUnicode map
by pyHanko's OpenType engine, so the letter can be searched and copied; the QR is drawn as vector squares.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import font_source_sans_pro
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import PdfResources
from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from sqlalchemy.orm import Session

from core.clock import VIETNAM, as_utc
from core.errors import Kind, ServiceError, not_found
from invitations import qr
from invitations.mail import when_text
from invitations.service import InvitationContext, token_text
from store import invitations_repo as repo
from store.db import Database
from store.models import InvitationLetter

log = logging.getLogger("kyso.invitations")
LETTER_REASON = "Giấy mời / Invitation letter"
LETTER_FILE = "giay-moi.pdf"
A4 = (595.0, 842.0)
_font_names = itertools.count(1)  # each text box embeds its own subset under its own resource name
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP = 70.0, 50.0, 50.0
QR_SIZE = 150.0
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class LetterFacts:
    invitation_id: str
    agency: str
    guest_name: str
    host_name: str
    meeting_title: str
    venue_name: str
    venue_address: str | None
    windows: list[tuple[dt.datetime, dt.datetime]]  # UTC, one per occurrence
    entries: int
    companions: list[str]
    rotating: bool
    token_text: str
    issued_at: dt.datetime

    @property
    def number(self) -> str:
        return f"{self.invitation_id}/GM"


class SealedPdf(Protocol):
    @property
    def pdf(self) -> bytes: ...
    @property
    def document_id(self) -> str: ...

    def register(self, session: Session) -> None:
        """Record the sealed PDF in the signed-document registry."""


class LetterSealer(Protocol):
    def seal_for(self, host_account_id: int) -> tuple[str, str]:
        """(certificate serial, agency) of the seal the host's letters bear; CONFLICT when there is none."""

    def seal(self, seal: tuple[str, str], pdf: bytes, reference: str) -> SealedPdf:
        """The PDF sealed PAdES with that seal (not yet registered). Called with no transaction open."""


@dataclass(frozen=True)
class SealedLetter:
    invitation_id: str
    pdf: bytes
    document_id: str
    organization: str
    fresh: bool  # sealed by this call (else the stored letter)


def issue(
    db: Database,
    context: InvitationContext,
    invitation_id: str,
    sealer: LetterSealer,
    on_sealed: Callable[[Session, SealedLetter], None] | None = None,
) -> SealedLetter:
    """The sealed letter for the invitation's current token, sealing (and keeping) it on first request.

    Sealing runs between two short transactions (a B-LT seal takes a while and writes validation data of
    its own); the letter, its registry entry and whatever ``on_sealed`` records (the audit entry) are
    written together in the second.
    """
    with db.reading() as session:
        found = _kept_or_facts(session, context, invitation_id, sealer)
    if isinstance(found, SealedLetter):
        return found
    facts, token_id, seal = found
    sealed = sealer.seal(seal, letter_pdf(facts), facts.number)
    letter = SealedLetter(facts.invitation_id, sealed.pdf, sealed.document_id, facts.agency, fresh=True)
    with db.transaction() as session:
        sealed.register(session)
        repo.put_letter(
            session,
            InvitationLetter(
                invitation_id=facts.invitation_id,
                token_id=token_id,
                document_id=sealed.document_id,
                organization=facts.agency,
                pdf=sealed.pdf,
                created_at=facts.issued_at,
            ),
        )
        if on_sealed is not None:
            on_sealed(session, letter)
    return letter


def _kept_or_facts(
    session: Session, context: InvitationContext, invitation_id: str, sealer: LetterSealer
) -> SealedLetter | tuple[LetterFacts, str, tuple[str, str]]:
    invitation = repo.invitation(session, invitation_id)
    if invitation is None:
        raise not_found(f"no invitation {invitation_id}")
    if invitation.status != "active":
        raise ServiceError(Kind.CONFLICT, "the invitation was cancelled; it has no letter")
    if invitation.anonymised_at is not None:
        raise ServiceError(Kind.CONFLICT, "the invitation's personal data was anonymised; it has no letter")
    kept = repo.letter(session, invitation.id)
    if kept is not None and kept.token_id == invitation.token_id:
        return SealedLetter(invitation.id, kept.pdf, kept.document_id, kept.organization, fresh=False)
    seal = sealer.seal_for(invitation.host_account_id)
    occurrences = repo.occurrences(session, [invitation.id])[invitation.id]
    venue = repo.venue(session, invitation.venue_code)
    facts = LetterFacts(
        invitation_id=invitation.id,
        agency=seal[1],
        guest_name=invitation.guest_name,
        host_name=invitation.host_name,
        meeting_title=invitation.meeting_title,
        venue_name=venue.name if venue else invitation.venue_code,
        venue_address=venue.address if venue else None,
        windows=[(as_utc(o.starts_at), as_utc(o.ends_at)) for o in occurrences],
        entries=invitation.entries_allowed,
        companions=json.loads(invitation.companions),
        rotating=invitation.rotating,
        token_text=token_text(context, invitation, occurrences),
        issued_at=context.clock.now(),
    )
    return facts, invitation.token_id, seal


def for_mail(
    db: Database,
    context: InvitationContext,
    sealer: LetterSealer,
    on_sealed: Callable[[Session, SealedLetter], None] | None = None,
) -> Callable[[str], bytes | None]:
    """The letter attached to invitation emails; when the host's agency has no seal here the email goes
    without it (logged), rather than not at all."""

    def attach(invitation_id: str) -> bytes | None:
        try:
            return issue(db, context, invitation_id, sealer, on_sealed).pdf
        except ServiceError as exc:
            if exc.kind is Kind.INTERNAL:
                raise
            log.warning("invitation %s is emailed without its letter: %s", invitation_id, exc.message)
            return None

    return attach


# --- layout -------------------------------------------------------------------------------------------
@functools.cache
def _font(face: str) -> GlyphAccumulatorFactory:
    return GlyphAccumulatorFactory(
        str(Path(font_source_sans_pro.font_directory) / f"SourceSansPro-{face}.ttf")
    )


def _date_line(moment: dt.datetime) -> str:
    local = moment.astimezone(VIETNAM)
    return f"TP. Hồ Chí Minh, ngày {local.day:02d} tháng {local.month:02d} năm {local.year}"


def body_paragraphs(facts: LetterFacts) -> list[str]:
    """The body, one paragraph per item (Vietnamese, then a short English summary)."""
    place = facts.venue_name + (f", {facts.venue_address}" if facts.venue_address else "")
    paragraphs = [
        f"Kính gửi: Ông/Bà {facts.guest_name}",
        f"{facts.agency} trân trọng kính mời Ông/Bà tới dự: {facts.meeting_title}.",
        f"Thời gian: {when_text(facts.windows)}.",
        f"Địa điểm: {place}.",
        f"Người mời: {facts.host_name}. Số lượt vào mỗi ngày: {facts.entries}.",
    ]
    if facts.companions:
        paragraphs.append("Người đi cùng: " + ", ".join(facts.companions) + ".")
    paragraphs.append(
        "Khi đến, xin xuất trình mã QR dưới đây (in ra hoặc trên điện thoại) tại bàn an ninh; mã được ký số, "
        "không cần đổi thẻ giấy."
    )
    if facts.rotating:
        paragraphs.append(
            "Thẻ mời này dùng mã QR động: xin mở trang thẻ mời trên điện thoại khi vào cửa (ảnh chụp không "
            "được chấp nhận)."
        )
    first = facts.windows[0][0].astimezone(VIETNAM) if facts.windows else None
    when = f" on {first:%d/%m/%Y at %H:%M} (UTC+07:00)" if first else ""
    paragraphs.append(
        f"Invitation: {facts.agency} invites {facts.guest_name} to “{facts.meeting_title}”{when}, "
        f"at {place}. Show the QR code below at the security desk."
    )
    return paragraphs


def letter_pdf(facts: LetterFacts) -> bytes:
    """The unsigned letter: one A4 page, with room at the top right for the agency's seal block."""
    writer = PdfFileWriter()
    width, height = A4
    inner = width - MARGIN_LEFT - MARGIN_RIGHT
    half = inner / 2
    top = height - MARGIN_TOP - 80  # below the seal block in the top-right margin
    blocks = [
        (_text(writer, "Bold", 10.5, facts.agency.upper(), half - 10, 30, center=True),
         (MARGIN_LEFT, top - 30)),
        (_text(writer, "Regular", 10.5, f"Số: {facts.number}", half - 10, 16, center=True),
         (MARGIN_LEFT, top - 50)),
        (_text(writer, "Bold", 10.5, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", half + 10, 16, center=True),
         (MARGIN_LEFT + half - 10, top - 16)),
        (_text(writer, "Bold", 11, "Độc lập - Tự do - Hạnh phúc", half + 10, 16, center=True),
         (MARGIN_LEFT + half - 10, top - 32)),
        (_text(writer, "It", 10.5, _date_line(facts.issued_at), half + 10, 16, center=True),
         (MARGIN_LEFT + half - 10, top - 56)),
        (_text(writer, "Bold", 16, "GIẤY MỜI", inner, 22, center=True), (MARGIN_LEFT, top - 100)),
        (_text(writer, "Regular", 10, "Invitation letter", inner, 14, center=True), (MARGIN_LEFT, top - 116)),
        (_text(writer, "Regular", 12, "\n\n".join(body_paragraphs(facts)), inner, 330, wrap=True),
         (MARGIN_LEFT, top - 460)),
    ]  # fmt: skip
    resources = PdfResources()
    operations = []
    for box, (x, y) in blocks:
        rendered = box.render()  # rendering registers the font as a resource
        resources += box.resources
        operations.append(b"q 1 0 0 1 %g %g cm " % (x, y) + rendered + b" Q\n")
    rule_y = top - 36
    rule = (MARGIN_LEFT + half + 40, rule_y, width - MARGIN_RIGHT - 60, rule_y)
    operations.append(b"q 0.5 w %g %g m %g %g l S Q\n" % rule)
    qr_x, qr_y = MARGIN_LEFT, 70.0
    operations.append(_qr_squares(facts.token_text, (qr_x, qr_y, qr_x + QR_SIZE, qr_y + QR_SIZE)))
    caption = _text(writer, "Regular", 9, f"Mã thẻ mời / Pass: {facts.invitation_id}", QR_SIZE + 120, 14)
    operations.append(b"q 1 0 0 1 %g %g cm " % (qr_x, qr_y - 18) + caption.render() + b" Q\n")
    resources += caption.resources
    contents = writer.add_object(generic.StreamObject(stream_data=b"".join(operations)))
    writer.insert_page(PageObject(contents, (0, 0, width, height), resources.as_pdf_object()))
    writer.document_meta.title = f"Giấy mời {facts.number}"
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _text(
    writer: PdfFileWriter, face: str, size: float, text: str, width: float, height: float,
    *, center: bool = False, wrap: bool = False,
) -> TextBox:  # fmt: skip
    rule = layout.SimpleBoxLayoutRule(
        x_align=layout.AxisAlignment.ALIGN_MID if center else layout.AxisAlignment.ALIGN_MIN,
        y_align=layout.AxisAlignment.ALIGN_MAX,
    )
    style = TextBoxStyle(font=_font(face), font_size=size, leading=size * 1.35, box_layout_rule=rule)
    constraints = layout.BoxConstraints(width=width, height=height)
    box = TextBox(style, writer=writer, box=constraints, font_name=f"F{next(_font_names)}")
    box.content = _wrap(text, size, width) if wrap else text
    return box


def _wrap(text: str, size: float, width: float) -> str:
    """Greedy line breaking by an average glyph width (Source Sans Pro averages ~0.45 em)."""
    per_line = max(20, int(width / (size * 0.45)))
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            if line and len(line) + 1 + len(word) > per_line:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return "\n".join(lines)


def _qr_squares(text: str, box: Box) -> bytes:
    """The QR (with its quiet zone) as filled squares: sharp at any zoom and in print."""
    matrix = qr.render(text).matrix()
    x1, y1, x2, _ = box
    module = (x2 - x1) / len(matrix)
    squares = []
    for row, cells in enumerate(matrix):
        y = y1 + (len(matrix) - 1 - row) * module
        for column, dark in enumerate(cells):
            if dark:
                squares.append(b"%.3f %.3f %.3f %.3f re" % (x1 + column * module, y, module, module))
    return b"q 0 g " + b" ".join(squares) + b" f Q\n"
