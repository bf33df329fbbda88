"""Reports and their photos.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("service_code", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lat", sa.Float()),
        sa.Column("long", sa.Float()),
        sa.Column("address", sa.String(500)),
        sa.Column("ward_code", sa.String(8), nullable=False),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("agency_name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status_notes", sa.Text()),
        sa.Column("phone", sa.String(32)),
        sa.Column("device_id", sa.String(128)),
        sa.Column("account_id", sa.String(128)),
        sa.Column("channel", sa.String(32)),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("expected_at", sa.DateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    for column in ("service_code", "state", "device_id", "account_id", "requested_at"):
        op.create_index(f"ix_reports_{column}", "reports", [column])
    op.create_table(
        "report_media",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "report_id", sa.Integer(), sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.UniqueConstraint("report_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("report_media")
    op.drop_table("reports")
