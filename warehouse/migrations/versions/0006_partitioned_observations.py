"""observations: partitioned by month of partition_day on PostgreSQL; partition_day joins the key,
which now leads with the station and doubles as the station-and-day index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""
import warnings
from datetime import date

import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEY = ["station_id", "partition_day", "parameter", "observed_at", "averaging_period", "layer", "source"]


def _columns() -> list[sa.Column]:
    return [
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("parameter", sa.String(32), nullable=False),
        sa.Column("observed_at", UtcDateTime, nullable=False),
        sa.Column("averaging_period", sa.String(16), nullable=False),
        sa.Column("layer", sa.String(16), nullable=False, server_default=""),
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("qc_flag", sa.String(16), nullable=False),
        sa.Column("qc_note", sa.Text),
        sa.Column("batch_id", sa.String(96), nullable=False),
        sa.Column("original_value", sa.Text),
        sa.Column("sample_id", sa.Text),
        sa.Column("detection_limit", sa.Float),
        sa.Column("censoring", sa.String(2)),
        sa.Column("original_unit", sa.String(32)),
        sa.Column("detail", sa.Text),
        sa.Column("payload_id", sa.Integer),
    ]


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _upgrade_postgresql(bind) -> None:
    op.execute("ALTER TABLE observations RENAME TO observations_unpartitioned")
    op.execute("ALTER TABLE observations_unpartitioned RENAME CONSTRAINT observations_pkey "
               "TO observations_unpartitioned_pkey")
    op.drop_index("ix_observations_partition", table_name="observations_unpartitioned")
    op.drop_index("ix_observations_station_day", table_name="observations_unpartitioned")
    op.create_table("observations", *_columns(), sa.PrimaryKeyConstraint(*KEY, name="observations_pkey"),
                    postgresql_partition_by="RANGE (partition_day)")
    op.create_index("ix_observations_partition", "observations", ["source", "partition_day"])
    months = bind.execute(sa.text(
        "SELECT DISTINCT date_trunc('month', partition_day)::date FROM observations_unpartitioned")).scalars()
    for month in months:
        op.execute(f"CREATE TABLE observations_y{month.year:04d}m{month.month:02d} PARTITION OF observations "
                   f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_next_month(month).isoformat()}')")
    names = ", ".join(column.name for column in _columns())
    op.execute(f"INSERT INTO observations ({names}) SELECT {names} FROM observations_unpartitioned")
    op.drop_table("observations_unpartitioned")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _upgrade_postgresql(bind)
        return
    warnings.filterwarnings("ignore", message="Table '_alembic_tmp_observations' specifies columns")
    with op.batch_alter_table("observations", recreate="always") as batch:
        batch.drop_index("ix_observations_station_day")
        batch.create_primary_key("observations_pkey", KEY)


OLD_KEY = ["source", "station_id", "parameter", "observed_at", "averaging_period", "layer"]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.create_table("observations_unpartitioned", *_columns(),
                        sa.PrimaryKeyConstraint(*OLD_KEY, name="observations_unpartitioned_pkey"))
        names = ", ".join(column.name for column in _columns())
        op.execute(f"INSERT INTO observations_unpartitioned ({names}) SELECT {names} FROM observations")
        op.drop_table("observations")  # its partitions go with it
        op.rename_table("observations_unpartitioned", "observations")
        op.execute("ALTER TABLE observations RENAME CONSTRAINT observations_unpartitioned_pkey TO observations_pkey")
        op.create_index("ix_observations_partition", "observations", ["source", "partition_day"])
        op.create_index("ix_observations_station_day", "observations", ["station_id", "partition_day"])
        return
    warnings.filterwarnings("ignore", message="Table '_alembic_tmp_observations' specifies columns")
    with op.batch_alter_table("observations", recreate="always") as batch:
        batch.create_primary_key("observations_pkey", OLD_KEY)
        batch.create_index("ix_observations_station_day", ["station_id", "partition_day"])
