"""HJ 663 annual air statistics (issue 20), per station and city, for each year and year to date

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""
from alembic import op  # noqa: F401

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder: the table is added by the work of its issue


def downgrade() -> None:
    pass
