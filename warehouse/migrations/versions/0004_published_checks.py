"""published results: envmon's own class or AQI beside the publisher's, and whether they agree

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("published_results") as batch:
        batch.add_column(sa.Column("envmon_class", sa.String(16)))
        batch.add_column(sa.Column("envmon_aqi", sa.Integer))
        batch.add_column(sa.Column("agrees", sa.Boolean))


def downgrade() -> None:
    with op.batch_alter_table("published_results") as batch:
        for column in ("agrees", "envmon_aqi", "envmon_class"):
            batch.drop_column(column)
