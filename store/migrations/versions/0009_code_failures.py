"""code failures: consecutive wrong one-time codes per account (the 100 cap); audit entries by target

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("code_failures", sa.Integer(), server_default="0", nullable=False))
    # an account owner's own activity (GET /api/v1/auth/activity) reads the entries about them
    op.create_index("ix_audit_entries_target", "audit_entries", ["target"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_target", table_name="audit_entries")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("code_failures")
