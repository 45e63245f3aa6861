"""collection ledger (issue 21): one row per expected feed hour (air) or snapshot (water) with its
fetch status (pending, failed, fetched, late, revised, gap), tries, times, sha256 and rows, so
that one missing hour is recorded as a gap instead of holding a watermark back, and the recent
hours are fetched again until they stop changing (pipelines/ingest/collect.py, warehouse/collection_ledger.py)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collection_ledger",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("expected_at", UtcDateTime, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("fetches", sa.Integer, nullable=False),
        sa.Column("unchanged_fetches", sa.Integer, nullable=False),
        sa.Column("first_fetched_at", UtcDateTime),
        sa.Column("last_fetched_at", UtcDateTime),
        sa.Column("last_tried_at", UtcDateTime),
        sa.Column("sha256", sa.String(64)),
        sa.Column("rows", sa.Integer),
        sa.Column("stations", sa.Integer),
        sa.Column("payload_id", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_collection_ledger_status", "collection_ledger", ["source", "status"])


def downgrade() -> None:
    op.drop_index("ix_collection_ledger_status", table_name="collection_ledger")
    op.drop_table("collection_ledger")
