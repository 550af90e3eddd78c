"""invitations: venues and desks, invitations with their occurrences, check-ins, offline sync records,
trusted seal keys, and the notification outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "venues",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "desks",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("venue_code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["venue_code"], ["venues.code"]),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_desks_venue_code", "desks", ["venue_code"])
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("host_account_id", sa.Integer(), nullable=False),
        sa.Column("host_name", sa.String(length=200), nullable=False),
        sa.Column("venue_code", sa.String(length=40), nullable=False),
        sa.Column("meeting_title", sa.String(length=300), nullable=False),
        sa.Column("guest_name", sa.String(length=200), nullable=False),
        sa.Column("guest_email", sa.String(length=254), nullable=True),
        sa.Column("guest_phone", sa.String(length=20), nullable=True),
        sa.Column("cccd_hash", sa.String(length=32), nullable=True),
        sa.Column("cccd_masked", sa.String(length=12), nullable=True),
        sa.Column("companions", sa.Text(), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("entries_allowed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("token_id", sa.String(length=16), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("rotating", sa.Boolean(), nullable=False),
        sa.Column("rotating_secret", sa.LargeBinary(), nullable=True),
        sa.Column("notify_webhook", sa.String(length=500), nullable=True),
        sa.Column("notify_email", sa.String(length=254), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("cancelled_at", UtcDateTime(), nullable=True),
        sa.Column("anonymised_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["host_account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["venue_code"], ["venues.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_invitations_host_account_id", "invitations", ["host_account_id"])
    op.create_index("ix_invitations_venue_starts", "invitations", ["venue_code", "starts_at"])
    op.create_table(
        "invitation_occurrences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invitation_id", sa.String(length=20), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("entries_used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invitation_id", "number", name="uq_invitation_occurrences_number"),
    )
    op.create_index("ix_invitation_occurrences_day", "invitation_occurrences", ["day"])
    op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invitation_id", sa.String(length=20), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("venue_code", sa.String(length=40), nullable=False),
        sa.Column("desk_code", sa.String(length=40), nullable=False),
        sa.Column("admitted_at", UtcDateTime(), nullable=False),
        sa.Column("checked_out_at", UtcDateTime(), nullable=True),
        sa.Column("checkout_by", sa.String(length=10), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_checkins_invitation_id", "checkins", ["invitation_id"])
    op.create_index("ix_checkins_venue_admitted", "checkins", ["venue_code", "admitted_at"])
    op.create_table(
        "offline_checkins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("desk_code", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("invitation_id", sa.String(length=20), nullable=True),
        sa.Column("token_id", sa.String(length=16), nullable=True),
        sa.Column("scanned_at", UtcDateTime(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", UtcDateTime(), nullable=True),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("desk_code", "record_id", name="uq_offline_checkins_record"),
    )
    op.create_index("ix_offline_checkins_invitation_id", "offline_checkins", ["invitation_id"])
    op.create_table(
        "invitation_keys",
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("retired_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invitation_id", sa.String(length=20), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_status_due", "outbox", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_status_due", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("invitation_keys")
    op.drop_index("ix_offline_checkins_invitation_id", table_name="offline_checkins")
    op.drop_table("offline_checkins")
    op.drop_index("ix_checkins_venue_admitted", table_name="checkins")
    op.drop_index("ix_checkins_invitation_id", table_name="checkins")
    op.drop_table("checkins")
    op.drop_index("ix_invitation_occurrences_day", table_name="invitation_occurrences")
    op.drop_table("invitation_occurrences")
    op.drop_index("ix_invitations_venue_starts", table_name="invitations")
    op.drop_index("ix_invitations_host_account_id", table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("ix_desks_venue_code", table_name="desks")
    op.drop_table("desks")
    op.drop_table("venues")
