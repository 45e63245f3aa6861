"""collection ledger (issue 21)

Revision ID: 0014
Revises:  one row per expected feed hour or snapshot with its fetch status (fetched, late, revised, gap), tries and times:0013
Create Date: 2026-12-07
"""
from alembic import op  # noqa: F401

revision = "0014"
down_revision = " one row per expected feed hour or snapshot with its fetch status (fetched, late, revised, gap), tries and times:0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # placeholder: the table is added by the work of its issue


def downgrade() -> None:
    pass
