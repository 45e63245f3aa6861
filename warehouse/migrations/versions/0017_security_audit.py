"""The security audit log (issue 24): sign-in successes and failures, lockouts, logouts, users
added, disabled, re-enabled or given a new password, acknowledgements and API keys added or
revoked, each with the user, the address and the time (warehouse/security_audit.py writes and
reads it). The dashboard's sign-in lockout is counted from it, so it holds across the app's
processes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_audit",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("user_name", sa.Text),
        sa.Column("address", sa.String(64)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_security_audit_user", "security_audit", ["user_name", "occurred_at"])
    op.create_index("ix_security_audit_occurred", "security_audit", ["occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_security_audit_occurred", table_name="security_audit")
    op.drop_index("ix_security_audit_user", table_name="security_audit")
    op.drop_table("security_audit")
