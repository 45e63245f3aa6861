"""alert episodes, the sections' day verdicts they are made from, the duty officers' actions,
notices and the delivery outbox (issue 13); the old per section-day `alerts` table is kept as it
was and no longer written

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_episodes",
        sa.Column("episode_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("section_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("last_failed_on", sa.Date, nullable=False),
        sa.Column("resolved_on", sa.Date),
        sa.Column("resolution", sa.String(16)),
        sa.Column("worst_class", sa.String(16)),
        sa.Column("target_class", sa.String(16)),
        sa.Column("failing_items", sa.Text, nullable=False),
        sa.Column("days_failed", sa.Integer, nullable=False),
        sa.Column("bases", sa.String(32), nullable=False),
        sa.Column("acknowledged_at", UtcDateTime),
        sa.Column("acknowledged_by", sa.Text),
        sa.Column("escalated_at", UtcDateTime),
        sa.Column("merged_into", sa.Integer),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_alert_episodes_section", "alert_episodes", ["section_id", "status"])
    op.create_table(
        "alert_section_days",
        sa.Column("section_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("is_assessed", sa.Boolean, nullable=False),
        sa.Column("is_failing", sa.Boolean, nullable=False),
        sa.Column("worst_class", sa.String(16)),
        sa.Column("target_class", sa.String(16)),
        sa.Column("failing_items", sa.Text, nullable=False),
        sa.Column("bases", sa.String(32), nullable=False),
    )
    op.create_table(
        "alert_actions",
        sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("episode_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("acted_at", UtcDateTime, nullable=False),
        sa.Column("comment", sa.Text),
    )
    op.create_index("ix_alert_actions_episode", "alert_actions", ["episode_id"])
    op.create_table(
        "alert_notices",
        sa.Column("notice_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notice_key", sa.String(200), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("episode_id", sa.Integer),
        sa.Column("subject_id", sa.String(96), nullable=False),
        sa.Column("is_urgent", sa.Boolean, nullable=False),
        sa.Column("effective_on", sa.Date),
        sa.Column("facts", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("notice_key", name="uq_alert_notices_key"),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("delivery_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notice_id", sa.Integer, nullable=False),
        sa.Column("recipient_id", sa.String(160), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", UtcDateTime),
        sa.Column("claimed_at", UtcDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("notice_id", "recipient_id", name="uq_alert_deliveries_notice_recipient"),
    )
    op.create_index("ix_alert_deliveries_status", "alert_deliveries", ["status"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_status", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_table("alert_notices")
    op.drop_index("ix_alert_actions_episode", table_name="alert_actions")
    op.drop_table("alert_actions")
    op.drop_table("alert_section_days")
    op.drop_index("ix_alert_episodes_section", table_name="alert_episodes")
    op.drop_table("alert_episodes")
