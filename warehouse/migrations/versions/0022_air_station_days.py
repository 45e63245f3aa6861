"""Each air station's daily values, stored (issue 27): the HJ 663 annual statistics of a year are
made from its stations' daily values (24-h means, O3 daily maximum 1-h and 8-h); they were
recomputed from the year's stored hourly observations at every run (17 M rows at day 30 of a
national year). air_station_days keeps them per (day, station); air_station_day_bases records per
day what they were computed under (the flags assessed, the registry's air stations, the day's
validity rules), so a day whose basis differs is computed again.

Empty when created: a migration does not import the live rules. The first refresh of a year
(pipelines/assessment/air_annual.station_days_of_year) finds no basis for the stored days and
computes them from the observations, as every refresh did before, so a year already stored gives the
same statistics after the upgrade.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# as warehouse/schema.py declares them at this revision
ITEMS = ("so2", "no2", "co", "pm10", "pm2_5", "o3", "o3_8h")


def upgrade() -> None:
    op.create_table(
        "air_station_days",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        *(sa.Column(code, sa.Float) for code in ITEMS),
        sa.PrimaryKeyConstraint("day", "station_id"),
    )
    op.create_table(
        "air_station_day_bases",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("basis", sa.Text, nullable=False),
        sa.Column("computed_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("air_station_day_bases")
    op.drop_table("air_station_days")
