"""rollups: the highest detection limit of the censored values in a mean, the mean as reported
('< limit' below it) and the censoring method used

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = ("detection_limit", "reported_mean", "censoring_method")


def upgrade() -> None:
    with op.batch_alter_table("rollups") as batch:
        batch.add_column(sa.Column("detection_limit", sa.Float))
        batch.add_column(sa.Column("reported_mean", sa.Text))
        batch.add_column(sa.Column("censoring_method", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("rollups") as batch:
        for column in COLUMNS:
            batch.drop_column(column)
