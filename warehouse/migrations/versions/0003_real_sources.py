"""real sources: observation layer (in the key), censoring, units, lineage; payload archive log,
published results, observation history, watermarks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
import warnings

import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEY = ["source", "station_id", "parameter", "observed_at", "averaging_period"]


def upgrade() -> None:
    bind = op.get_bind()
    # SQLite rebuilds the table to change its key; SQLAlchemy warns that the copy's key differs,
    # which is the point of this step.
    warnings.filterwarnings("ignore", message="Table '_alembic_tmp_observations' specifies columns")
    with op.batch_alter_table("observations", recreate="always" if bind.dialect.name == "sqlite" else "auto") as batch:
        batch.add_column(sa.Column("layer", sa.String(16), nullable=False, server_default=""))
        for column in (sa.Column("sample_id", sa.Text), sa.Column("detection_limit", sa.Float),
                       sa.Column("censoring", sa.String(2)), sa.Column("original_unit", sa.String(32)),
                       sa.Column("detail", sa.Text), sa.Column("payload_id", sa.Integer)):
            batch.add_column(column)
        if bind.dialect.name != "sqlite":
            batch.drop_constraint("observations_pkey", type_="primary")
        batch.create_primary_key("observations_pkey", [*KEY, "layer"])
    op.create_table(
        "payloads",
        sa.Column("payload_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.Column("fetched_at", UtcDateTime, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("archive_path", sa.Text, nullable=False),
        sa.Column("origin", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("rows_read", sa.Integer),
        sa.Column("rows_loaded", sa.Integer),
        sa.Column("rows_quarantined", sa.Integer),
        sa.Column("rows_out_of_scope", sa.Integer),
    )
    op.create_index("ix_payloads_source_sha", "payloads", ["source", "sha256"])
    op.create_table(
        "published_results",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("station_id", sa.String(64), primary_key=True),
        sa.Column("observed_at", UtcDateTime, primary_key=True),
        sa.Column("published_class", sa.String(16)),
        sa.Column("published_aqi", sa.Integer),
        sa.Column("published_primary_pollutants", sa.Text),
        sa.Column("published_name", sa.Text),
        sa.Column("station_status", sa.Text),
        sa.Column("payload_id", sa.Integer),
    )
    op.create_table(
        "observation_history",
        sa.Column("history_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("parameter", sa.String(32), nullable=False),
        sa.Column("observed_at", UtcDateTime, nullable=False),
        sa.Column("averaging_period", sa.String(16), nullable=False),
        sa.Column("layer", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("original_value", sa.Text),
        sa.Column("qc_flag", sa.String(16)),
        sa.Column("batch_id", sa.String(96)),
        sa.Column("payload_id", sa.Integer),
        sa.Column("superseded_at", UtcDateTime, nullable=False),
        sa.Column("superseded_by_payload_id", sa.Integer),
    )
    op.create_index("ix_observation_history_key", "observation_history",
                    ["source", "station_id", "parameter", "observed_at"])
    op.create_table(
        "watermarks",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("last_observed_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("watermarks", "observation_history", "published_results", "payloads"):
        op.drop_table(table)
    bind = op.get_bind()
    with op.batch_alter_table("observations", recreate="always" if bind.dialect.name == "sqlite" else "auto") as batch:
        if bind.dialect.name != "sqlite":
            batch.drop_constraint("observations_pkey", type_="primary")
        for column in ("payload_id", "detail", "original_unit", "censoring", "detection_limit", "sample_id", "layer"):
            batch.drop_column(column)
        batch.create_primary_key("observations_pkey", KEY)
