"""initial schema: stations, parameters, observations, quarantine, partition log, assessments, alerts

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stations",
        sa.Column("station_id", sa.String(64), primary_key=True),
        sa.Column("name_zh", sa.Text, nullable=False),
        sa.Column("station_type", sa.String(32), nullable=False),
        sa.Column("water_body", sa.Text),
        sa.Column("city", sa.Text),
        sa.Column("county", sa.Text),
        sa.Column("longitude", sa.Float),
        sa.Column("latitude", sa.Float),
        sa.Column("target_class", sa.String(16)),
        sa.Column("is_cross_boundary", sa.Boolean, nullable=False),
        sa.Column("boundary_kind", sa.String(16)),
        sa.Column("upstream_jurisdiction", sa.Text),
        sa.Column("downstream_jurisdiction", sa.Text),
        sa.Column("responsible_bureaus", sa.Text),
        sa.Column("assumptions", sa.Text),
    )
    op.create_table(
        "parameters",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name_zh", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("standards", sa.Text),
    )
    op.create_table(
        "observations",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("station_id", sa.String(64), primary_key=True),
        sa.Column("parameter", sa.String(32), primary_key=True),
        sa.Column("observed_at", UtcDateTime, primary_key=True),
        sa.Column("averaging_period", sa.String(16), primary_key=True),
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("qc_flag", sa.String(16), nullable=False),
        sa.Column("qc_note", sa.Text),
        sa.Column("batch_id", sa.String(96), nullable=False),
        sa.Column("original_value", sa.Text),
    )
    op.create_index("ix_observations_partition", "observations", ["source", "partition_day"])
    op.create_index("ix_observations_station_day", "observations", ["station_id", "partition_day"])
    op.create_table(
        "quarantine",
        sa.Column("quarantine_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("batch_id", sa.String(96), nullable=False),
        sa.Column("station_id", sa.Text),
        sa.Column("parameter", sa.Text),
        sa.Column("observed_at", UtcDateTime),
        sa.Column("averaging_period", sa.String(16)),
        sa.Column("value", sa.Float),
        sa.Column("unit", sa.Text),
        sa.Column("qc_flag", sa.Text),
        sa.Column("original_value", sa.Text),
        sa.Column("expectation", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_quarantine_partition", "quarantine", ["source", "partition_day"])
    op.create_table(
        "partition_log",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("partition_day", sa.Date, primary_key=True),
        sa.Column("domain", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.String(96), nullable=False),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("rows_loaded", sa.Integer, nullable=False),
        sa.Column("rows_quarantined", sa.Integer, nullable=False),
        sa.Column("suite_name", sa.Text, nullable=False),
        sa.Column("loaded_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "assessments",
        sa.Column("station_id", sa.String(64), primary_key=True),
        sa.Column("period", sa.String(8), primary_key=True),
        sa.Column("period_start", sa.Date, primary_key=True),
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
    )
    op.create_index("ix_assessments_period", "assessments", ["period", "period_start"])
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_key", sa.String(160), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("period", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("raised_at", UtcDateTime, nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("delivery_status", sa.String(24), nullable=False),
        sa.Column("delivery_detail", sa.Text),
        sa.Column("sent_at", UtcDateTime),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.UniqueConstraint("alert_key", name="uq_alerts_alert_key"),
    )


def downgrade() -> None:
    for table in ("alerts", "assessments", "partition_log", "quarantine", "observations", "parameters", "stations"):
        op.drop_table(table)
