"""The source partner-edr (issue 26): what each partner's pull has reached, per partner URL: the
watermark (the `changed-since` of the next pull, on the partner's clock, from its Last-Modified),
the ETag of the first page last asked for (If-None-Match: an unchanged partner answers 304), the
partner organisation, and how the last pull went (warehouse/partner_store.py).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_pulls",
        sa.Column("partner_url", sa.Text, primary_key=True),
        sa.Column("organisation", sa.Text, nullable=False),
        sa.Column("collection", sa.String(64), nullable=False),
        sa.Column("watermark", UtcDateTime),
        sa.Column("last_modified", UtcDateTime),
        sa.Column("first_page_url", sa.Text),
        sa.Column("first_page_etag", sa.Text),
        sa.Column("last_pulled_at", UtcDateTime, nullable=False),
        sa.Column("last_status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("rows_received", sa.Integer, nullable=False),
        sa.Column("payloads", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("partner_pulls")
