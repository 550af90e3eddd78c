"""Data retention: some days after an invitation ended, the guest's personal data is anonymised.

Kept: the invitation id, venue, host, meeting title, times and the check-ins (the building's visitor
register, without names). Removed: the guest's name (replaced by a placeholder), email, phone, CCCD hash
and masked number, the accompanying guests' names (their count stays), the rotating secret, the
notification targets, and the payloads of delivered notifications that named the guest.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy.orm import Session

from core.clock import as_utc
from store import invitations_repo as repo

ANONYMOUS = "(đã ẩn danh)"


def anonymise(session: Session, now: dt.datetime, after_days: int) -> list[str]:
    """Anonymise invitations that ended more than their venue's retention days ago (``after_days`` where
    the venue sets none); returns their ids."""
    done = []
    kept = {v.code: v.retention_days for v in repo.venues(session) if v.retention_days is not None}
    shortest = min([after_days, *kept.values()])
    for invitation in repo.ended_before(session, now - dt.timedelta(days=shortest)):
        days = kept.get(invitation.venue_code, after_days)
        if as_utc(invitation.ends_at) >= now - dt.timedelta(days=days):
            continue
        count = len(json.loads(invitation.companions))
        invitation.guest_name = ANONYMOUS
        invitation.guest_email = invitation.guest_phone = invitation.guest_title = None
        invitation.cccd_hash = invitation.cccd_masked = None
        invitation.companions = json.dumps([ANONYMOUS] * count, ensure_ascii=False)
        invitation.rotating_secret = None
        invitation.notify_webhook = invitation.notify_email = None
        invitation.anonymised_at = now
        repo.delete_letter(session, invitation.id)  # it names the guest
        for message in repo.outbox_for(session, invitation.id):
            message.payload = "{}"
            if message.purpose == "invitation":
                message.target = ANONYMOUS
        done.append(invitation.id)
    session.flush()
    return done
