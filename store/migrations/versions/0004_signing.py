"""signing: credentials, one-time authorisations, registry of signed documents

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_credentials",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("certificate_serial", sa.String(length=42), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("created_at", store.types.UtcDateTime(), nullable=False),
        sa.Column("disabled_at", store.types.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["certificate_serial"], ["certificates.serial"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signing_credentials_account_id", "signing_credentials", ["account_id"])
    op.create_table(
        "signing_authorizations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("document_hashes", sa.Text(), nullable=False),
        sa.Column("created_at", store.types.UtcDateTime(), nullable=False),
        sa.Column("expires_at", store.types.UtcDateTime(), nullable=False),
        sa.Column("used_at", store.types.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["credential_id"], ["signing_credentials.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signing_authorizations_account_id", "signing_authorizations", ["account_id"])
    op.create_table(
        "signed_documents",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("input_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("certificate_serial", sa.String(length=42), nullable=False),
        sa.Column("signer_name", sa.String(length=200), nullable=False),
        sa.Column("organization", sa.String(length=200), nullable=True),
        sa.Column("reference_number", sa.String(length=100), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("signed_at", store.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signed_documents_sha256", "signed_documents", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_signed_documents_sha256", table_name="signed_documents")
    op.drop_table("signed_documents")
    op.drop_index("ix_signing_authorizations_account_id", table_name="signing_authorizations")
    op.drop_table("signing_authorizations")
    op.drop_index("ix_signing_credentials_account_id", table_name="signing_credentials")
    op.drop_table("signing_credentials")
