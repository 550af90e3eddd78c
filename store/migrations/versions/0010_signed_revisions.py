"""signed revisions: a registered document signed or sealed again keeps its id, each revision recorded

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signed_revisions",
        sa.Column("registered_id", sa.String(length=24), nullable=False),
        sa.Column("document_id", sa.String(length=24), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("previous_size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["registered_id"], ["signed_documents.id"]),
        sa.ForeignKeyConstraint(["document_id"], ["signed_documents.id"]),
        sa.PrimaryKeyConstraint("registered_id"),
        sa.UniqueConstraint("document_id", "number", name="uq_signed_revisions_number"),
    )
    op.create_index("ix_signed_revisions_sha256", "signed_revisions", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_signed_revisions_sha256", table_name="signed_revisions")
    op.drop_table("signed_revisions")
