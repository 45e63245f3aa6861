"""ingest recovery (issue 11): what the payload log needs to finish what a fault left

- payloads.retryable: a failed payload that `envmon ingest --resume` (and the next collection of
  its source) takes up again (a fault: the warehouse went away, the disk filled, a crash), as
  opposed to one refused for its content, which fails the same way every time;
- payloads.attempts: how many times the payload's ingest was begun;
- payloads.updated_at: when its status last changed;
- payloads.days: the bureau days its good rows went to (ISO dates, comma-separated), written with
  them, so that a payload left `stored` has its days assessed without being merged again.

The payload statuses stay text: received (logged, nothing of it stored), stored (its rows, published
results and watermark committed in one transaction, its days not yet assessed), loaded (all done),
failed (with its error).

Bad input (the parsers' half): quarantine.rule (every rule a row fails, by id, beside the reason in
words), payloads.encoding and payloads.notes (the encoding a payload was read in; the year taken for
times printed without one, and warnings), and the table unknown_stations (what `envmon registry
unknown` lists).

Each issue-11 change keeps an op block of its own below.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # --- payload recovery (faults half of issue 11) ---
    with op.batch_alter_table("payloads") as batch:
        batch.add_column(sa.Column("retryable", sa.Boolean))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("updated_at", UtcDateTime))
        batch.add_column(sa.Column("days", sa.Text))
    op.create_index("ix_payloads_status", "payloads", ["status"])
    _upgrade_bad_input()


def _upgrade_bad_input() -> None:
    # --- bad input (parsers half of issue 11) ---
    # quarantine.rule: every rule a quarantined row fails, by id, beside `reason` in words;
    # payloads.encoding / notes: the encoding a payload was read in, and what was said of it as a
    # whole (the year taken for times printed without one, warnings);
    # unknown_stations: stations and sections of the registry's cities that the registry lacks.
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("rule", sa.Text))
    with op.batch_alter_table("payloads") as batch:
        batch.add_column(sa.Column("encoding", sa.String(16)))
        batch.add_column(sa.Column("notes", sa.Text))
    op.create_table(
        "unknown_stations",
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("station_key", sa.String(200), primary_key=True),
        sa.Column("name_zh", sa.Text, nullable=False),
        sa.Column("city", sa.Text, nullable=False),
        sa.Column("water_body", sa.Text),
        sa.Column("city_basis", sa.Text, nullable=False),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.Column("first_payload_id", sa.Integer),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("last_payload_id", sa.Integer),
        sa.Column("payloads_seen", sa.Integer, nullable=False),
        sa.Column("values_seen", sa.Integer, nullable=False),
    )


def _downgrade_bad_input() -> None:
    # --- bad input (parsers half of issue 11) ---
    op.drop_table("unknown_stations")
    with op.batch_alter_table("payloads") as batch:
        batch.drop_column("notes")
        batch.drop_column("encoding")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("rule")


def downgrade() -> None:
    _downgrade_bad_input()
    # --- payload recovery (faults half of issue 11) ---
    op.drop_index("ix_payloads_status", table_name="payloads")
    with op.batch_alter_table("payloads") as batch:
        batch.drop_column("days")
        batch.drop_column("updated_at")
        batch.drop_column("attempts")
        batch.drop_column("retryable")
