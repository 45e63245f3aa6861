"""Reserved for issue 10 (rule versions recorded with each assessment): no schema change yet.

The revision is kept so that the chain 0008 → 0011 exists while the work lands.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
