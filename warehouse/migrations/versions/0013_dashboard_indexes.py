"""dashboard indexes (issue 12): what the bureaus' dashboard app asks for most, answered from an
index instead of a scan of years of rows (bench/dashboard.py on ten years of Beibu history)

- assessments (period, domain, status, period_start): the latest day with assessed data of a
  domain (every page asks it: max() becomes one step down the index, was a scan of every daily row
  of the domain, 100-200 ms on ten years), and a domain's days between two dates;
- rollups (station_id, period, period_start): one section's daily series (the primary key leads
  with the parameter after the station, so a range of days of all its parameters read every day
  of ten years);
- quarantine (station_id, partition_day): one section's quarantined readings (the section page);
- partition_log (loaded_at) and (partition_day): the data version the app's caches are keyed on
  (the newest load) and the sources of the days shown.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_assessments_domain_day", "assessments", ["period", "domain", "status", "period_start"]),
    ("ix_rollups_station_day", "rollups", ["station_id", "period", "period_start"]),
    ("ix_quarantine_station_day", "quarantine", ["station_id", "partition_day"]),
    ("ix_partition_log_loaded_at", "partition_log", ["loaded_at"]),
    ("ix_partition_log_day", "partition_log", ["partition_day"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
