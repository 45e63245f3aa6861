"""rollups: daily and monthly means per station and parameter with counts and completeness

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("station_id", sa.String(64), primary_key=True),
        sa.Column("parameter", sa.String(32), primary_key=True),
        sa.Column("averaging_period", sa.String(16), primary_key=True),
        sa.Column("period", sa.String(8), primary_key=True),
        sa.Column("period_start", sa.Date, primary_key=True),
        sa.Column("mean", sa.Float),
        sa.Column("minimum", sa.Float),
        sa.Column("maximum", sa.Float),
        sa.Column("values_assessable", sa.Integer, nullable=False),
        sa.Column("values_flagged", sa.Integer, nullable=False),
        sa.Column("values_censored", sa.Integer, nullable=False),
        sa.Column("days_with_data", sa.Integer, nullable=False),
    )
    op.create_index("ix_rollups_period", "rollups", ["period", "period_start"])


def downgrade() -> None:
    op.drop_table("rollups")
