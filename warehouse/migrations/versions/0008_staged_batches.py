"""staged_batches: the batches passed between a run's tasks, in the warehouse every worker reaches
(they were Parquet files on one worker's disk)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staged_batches",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("partition_day", sa.Date, primary_key=True),
        sa.Column("stage", sa.String(16), primary_key=True),
        sa.Column("batch_id", sa.String(128), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("parquet", sa.LargeBinary, nullable=False),
        sa.Column("staged_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("staged_batches")
