"""invitations: the block list shared by every venue and the holds it puts on guests at the desk

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 02:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.types import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blocklist_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=True),  # casefolded, without diacritics
        sa.Column("cccd_key", sa.String(length=64), nullable=True),  # keyed hash of the CCCD (hex)
        sa.Column("label", sa.String(length=200), nullable=False),  # what the approver sees
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.Column("removed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_blocklist_entries_name_key", "blocklist_entries", ["name_key"])
    op.create_index("ix_blocklist_entries_cccd_key", "blocklist_entries", ["cccd_key"])
    op.create_table(
        "blocklist_holds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invitation_id", sa.String(length=20), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("matched_on", sa.String(length=10), nullable=False),  # name | cccd
        sa.Column("status", sa.String(length=10), nullable=False),  # pending | admitted | refused
        sa.Column("held_at", UtcDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("note", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["entry_id"], ["blocklist_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invitation_id", name="uq_blocklist_holds_invitation"),
    )
    with op.batch_alter_table("invitations") as batch:
        # the hold's status, beside the columns the desk's decision reads (no join on the hot path)
        batch.add_column(sa.Column("hold", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("hold")
    op.drop_table("blocklist_holds")
    op.drop_index("ix_blocklist_entries_cccd_key", table_name="blocklist_entries")
    op.drop_index("ix_blocklist_entries_name_key", table_name="blocklist_entries")
    op.drop_table("blocklist_entries")
