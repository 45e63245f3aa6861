"""Reserved for issue 11 (payload completion and recovery): no schema change yet.

The revision is kept so that the chain 0008 → 0011 exists while the work lands.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
