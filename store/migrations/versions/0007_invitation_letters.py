"""invitations: the sealed invitation letter of each invitation's current token

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.types import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invitation_letters",
        sa.Column("invitation_id", sa.String(length=20), nullable=False),
        sa.Column("token_id", sa.String(length=16), nullable=False),
        sa.Column("document_id", sa.String(length=40), nullable=False),
        sa.Column("organization", sa.String(length=200), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["invitation_id"], ["invitations.id"]),
        sa.PrimaryKeyConstraint("invitation_id"),
    )


def downgrade() -> None:
    op.drop_table("invitation_letters")
