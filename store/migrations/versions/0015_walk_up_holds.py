"""invitations: a hold without a block-list entry — a walk-up guest waiting for the host's approval

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 02:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blocklist_holds") as batch:
        batch.alter_column("entry_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("blocklist_holds") as batch:
        batch.alter_column("entry_id", existing_type=sa.Integer(), nullable=False)
