"""Stewardship (issue 25): a value withdrawn or re-flagged by hand, or withdrawn by a lab's complete
statement, with who, when and why (observation_stewardship, warehouse/stewardship.py); the action in
force on each observation and the flag QC gave it, kept for a restore; the action that replaced a
value's version (observation_history) or a day's result (assessment_history).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-10
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observation_stewardship",
        sa.Column("stewardship_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("flag", sa.String(16)),
        sa.Column("source", sa.String(32)),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("parameter", sa.String(32), nullable=False),
        sa.Column("layer", sa.String(16)),
        sa.Column("observed_from", UtcDateTime, nullable=False),
        sa.Column("observed_to", UtcDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("acted_by", sa.Text, nullable=False),
        sa.Column("acted_at", UtcDateTime, nullable=False),
        sa.Column("origin", sa.String(24), nullable=False),
        sa.Column("payload_id", sa.Integer),
        sa.Column("values_affected", sa.Integer, nullable=False),
        sa.Column("lifted_by_id", sa.Integer),
    )
    op.create_index("ix_observation_stewardship_key", "observation_stewardship", ["station_id", "parameter"])
    # on PostgreSQL observations is partitioned: a column added to the parent reaches every partition
    op.add_column("observations", sa.Column("stewardship_id", sa.Integer))
    op.add_column("observations", sa.Column("qc_flag_tested", sa.String(16)))
    op.add_column("observation_history", sa.Column("stewardship_id", sa.Integer))
    op.add_column("observation_history", sa.Column("superseded_by_stewardship_id", sa.Integer))
    op.add_column("assessment_history", sa.Column("superseded_by_stewardship_id", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("assessment_history") as batch:
        batch.drop_column("superseded_by_stewardship_id")
    with op.batch_alter_table("observation_history") as batch:
        batch.drop_column("superseded_by_stewardship_id")
        batch.drop_column("stewardship_id")
    with op.batch_alter_table("observations", recreate="auto") as batch:
        batch.drop_column("qc_flag_tested")
        batch.drop_column("stewardship_id")
    op.drop_index("ix_observation_stewardship_key", table_name="observation_stewardship")
    op.drop_table("observation_stewardship")
