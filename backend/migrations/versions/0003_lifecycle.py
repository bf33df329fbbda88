"""The report lifecycle: its history of changes (the updates feed), the citizen's rating, reopens.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_REPORT_COLUMNS = ("resolved_at", "rating", "rating_comment", "rated_at", "reopened")


def upgrade() -> None:
    # Plain ADD COLUMN: a batch operation would copy the table on SQLite and lose its AUTOINCREMENT.
    op.add_column("reports", sa.Column("resolved_at", sa.DateTime()))
    op.add_column("reports", sa.Column("rating", sa.Integer()))
    op.add_column("reports", sa.Column("rating_comment", sa.Text()))
    op.add_column("reports", sa.Column("rated_at", sa.DateTime()))
    op.add_column("reports", sa.Column("reopened", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "report_updates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "report_id", sa.Integer(), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("agency_name", sa.String(200), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("media_url", sa.String(1000)),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_report_updates_report_id", "report_updates", ["report_id"])
    op.create_index("ix_report_updates_created_at", "report_updates", ["created_at"])


def downgrade() -> None:
    op.drop_table("report_updates")
    # SQLite drops columns only since 3.35; the downgrade is for PostgreSQL and recent SQLite.
    for column in reversed(_REPORT_COLUMNS):
        op.drop_column("reports", column)
