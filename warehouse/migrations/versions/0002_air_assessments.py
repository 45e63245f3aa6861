"""assessments: AQI and primary pollutants, for the daily air assessment

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("aqi", sa.Integer, nullable=True))
        batch.add_column(sa.Column("primary_pollutants", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("primary_pollutants")
        batch.drop_column("aqi")
