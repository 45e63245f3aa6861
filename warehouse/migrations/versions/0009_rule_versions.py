"""rule versions: each assessment records the rules it was computed under (`rule_version`), and a
result replaced by one computed under other rules is kept in assessment_history (issue 10)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("rule_version", sa.String(64)))
    op.create_table(
        "assessment_history",
        sa.Column("history_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("domain", sa.String(16), nullable=False),
        sa.Column("standard", sa.Text, nullable=False),
        sa.Column("water_class", sa.String(16)),
        sa.Column("target_class", sa.String(16)),
        sa.Column("is_compliant", sa.Boolean),
        sa.Column("grade", sa.Text),
        sa.Column("indicators_assessed", sa.Text, nullable=False),
        sa.Column("failing_parameters", sa.Text, nullable=False),
        sa.Column("values_used", sa.Integer, nullable=False),
        sa.Column("is_cross_boundary", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("aqi", sa.Integer),
        sa.Column("primary_pollutants", sa.Text),
        sa.Column("rule_version", sa.String(64)),
        sa.Column("superseded_at", UtcDateTime, nullable=False),
        sa.Column("superseded_by_rule_version", sa.String(64)),
    )
    op.create_index("ix_assessment_history_key", "assessment_history", ["station_id", "period", "period_start"])


def downgrade() -> None:
    op.drop_index("ix_assessment_history_key", table_name="assessment_history")
    op.drop_table("assessment_history")
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("rule_version")
