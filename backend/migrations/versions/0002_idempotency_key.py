"""Reports remember the caller's idempotency key, unique, so that a repeated create files nothing.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE INDEX: a batch operation would copy the table on SQLite and lose
    # its AUTOINCREMENT (report codes must never be reused).
    op.add_column("reports", sa.Column("idempotency_key", sa.String(64)))
    op.create_index("ix_reports_idempotency_key", "reports", ["idempotency_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_reports_idempotency_key", "reports")
    op.drop_column("reports", "idempotency_key")
