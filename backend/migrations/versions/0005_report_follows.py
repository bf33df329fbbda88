"""Citizens who follow a report instead of filing the same problem again (the duplicate offer).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch operation would copy the table on SQLite and lose its AUTOINCREMENT.
    op.add_column("reports", sa.Column("followers", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "report_follows",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "report_id", sa.Integer(), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("report_id", "account_id"),
    )


def downgrade() -> None:
    op.drop_table("report_follows")
    # SQLite drops columns only since 3.35; the downgrade is for PostgreSQL and recent SQLite.
    op.drop_column("reports", "followers")
