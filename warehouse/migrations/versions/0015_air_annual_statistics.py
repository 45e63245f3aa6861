"""HJ 663 annual air statistics (issue 20), per station and city, for each year and year to date:
the annual means, the 24-h percentiles, the attainment against GB 3095 in force, the composite
index (综合指数) and the cities' rank, with the rule version they were computed under
(pipelines.assessment.air_annual computes them; the Air page and the annual report read them).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# as warehouse/schema.py declares them at this revision (a migration does not import the schema:
# the schema moves on, a migration stays what it was)
ITEMS = ("so2", "no2", "pm10", "pm2_5", "co", "o3")
MEAN_ITEMS = ("so2", "no2", "pm10", "pm2_5")


def _item_columns() -> list:
    columns = []
    for code in ITEMS:
        columns.append(sa.Column(f"{code}_valid_days", sa.Integer, nullable=False))
        if code in MEAN_ITEMS:
            columns += [sa.Column(f"{code}_annual_mean", sa.Float), sa.Column(f"{code}_mean_limit", sa.Float)]
        columns += [sa.Column(f"{code}_percentile", sa.Float), sa.Column(f"{code}_percentile_p", sa.Float),
                    sa.Column(f"{code}_percentile_limit", sa.Float), sa.Column(f"{code}_attained", sa.Boolean)]
    return columns


def upgrade() -> None:
    op.create_table(
        "air_annual_statistics",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("site_id", sa.String(64), nullable=False),
        sa.Column("city", sa.Text, nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("first_day", sa.Date, nullable=False),
        sa.Column("through_day", sa.Date, nullable=False),
        sa.Column("days_with_data", sa.Integer, nullable=False),
        *_item_columns(),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("is_attained", sa.Boolean),
        sa.Column("exceeding_items", sa.Text, nullable=False),
        sa.Column("composite_index", sa.Float),
        sa.Column("composite_primary", sa.String(16)),
        sa.Column("city_rank", sa.Integer),
        sa.Column("cities_ranked", sa.Integer),
        sa.Column("standard", sa.Text, nullable=False),
        sa.Column("rule_version", sa.String(64), nullable=False),
        sa.Column("rules_from", sa.Date, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("scope", "site_id", "year", "period"),
    )
    op.create_index("ix_air_annual_statistics_year", "air_annual_statistics", ["year", "period"])


def downgrade() -> None:
    op.drop_index("ix_air_annual_statistics_year", table_name="air_annual_statistics")
    op.drop_table("air_annual_statistics")
