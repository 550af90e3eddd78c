"""invitations: the guest's honorific and the host's contact; a venue's retention; evacuation roll-call marks

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.types import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("guest_title", sa.String(length=30), nullable=True))  # "Ông", "Bà", …
        batch.add_column(sa.Column("host_contact", sa.String(length=100), nullable=True))  # phone
    with op.batch_alter_table("venues") as batch:
        # days after an invitation ends before its guest is anonymised; NULL: KYSO_INVITATION_RETENTION_DAYS
        batch.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
    op.create_table(
        "rollcall_marks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("venue_code", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("marked_at", UtcDateTime(), nullable=False),
        sa.Column("marked_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["checkin_id"], ["checkins.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rollcall_marks_checkin_id", "rollcall_marks", ["checkin_id"])


def downgrade() -> None:
    op.drop_index("ix_rollcall_marks_checkin_id", table_name="rollcall_marks")
    op.drop_table("rollcall_marks")
    with op.batch_alter_table("venues") as batch:
        batch.drop_column("retention_days")
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("host_contact")
        batch.drop_column("guest_title")
