"""The open data API's partner keys and access log (issue 26): one key per organisation, scoped to
sections or cities, kept as a SHA-256 hash (the key itself is printed once, by `envmon apikeys
add`), and every partner request with who made it, what it asked and how many rows it got
(warehouse/api_store.py writes and reads both).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-10
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("organisation", sa.Text, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("revoked_at", UtcDateTime),
        sa.Column("revoked_by", sa.Text),
    )
    op.create_table(
        "api_access_log",
        sa.Column("access_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("organisation", sa.Text, nullable=False),
        sa.Column("address", sa.String(64)),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("query", sa.Text),
        sa.Column("collection", sa.String(64)),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
    )
    op.create_index("ix_api_access_log_key", "api_access_log", ["key_id", "occurred_at"])
    op.create_index("ix_api_access_log_occurred", "api_access_log", ["occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_api_access_log_occurred", table_name="api_access_log")
    op.drop_index("ix_api_access_log_key", table_name="api_access_log")
    op.drop_table("api_access_log")
    op.drop_table("api_keys")
