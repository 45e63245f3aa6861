"""The registry versioned in the warehouse (issue 23): each version of the registry applied (the
repository's seed, an official list imported, sections adopted from the feeds), the targets in force
by period with their basis, source document and status (official | assumed | unset), the stations
and sections that joined after the seed, and the target status every verdict was computed against.

The seed itself (version 1) is written by warehouse.registry_store.ensure_seeded right after the
migration, from the repository's files of that moment: a migration does not read files that move on.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""
import sqlalchemy as sa
from alembic import op

from warehouse.schema import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for results written before 0016: the status of their target was not recorded
    op.add_column("assessments", sa.Column("target_status", sa.String(16)))
    op.add_column("assessment_history", sa.Column("target_status", sa.String(16)))
    # an unknown air station's coordinates as its payload gives them: `envmon registry adopt` takes them
    op.add_column("unknown_stations", sa.Column("longitude", sa.Float))
    op.add_column("unknown_stations", sa.Column("latitude", sa.Float))
    op.create_table(
        "registry_versions",
        sa.Column("version_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("applied_at", UtcDateTime, nullable=False),
        sa.Column("applied_by", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source_document", sa.Text, nullable=False),
        sa.Column("valid_from", sa.Date),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_table(
        "section_targets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("section_id", sa.String(64), nullable=False),
        sa.Column("target_class", sa.String(16)),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date),
        sa.Column("basis", sa.Text, nullable=False),
        sa.Column("source_document", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("closed_in_version", sa.Integer),
        sa.Column("superseded_in_version", sa.Integer),
    )
    op.create_index("ix_section_targets_section", "section_targets", ["section_id", "valid_from"])
    op.create_table(
        "registry_stations",
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("registry", sa.String(16), nullable=False),
        sa.Column("name_zh", sa.Text, nullable=False),
        sa.Column("water_body", sa.Text),
        sa.Column("basin", sa.Text),
        sa.Column("province", sa.Text),
        sa.Column("city", sa.Text),
        sa.Column("county", sa.Text),
        sa.Column("station_type", sa.String(32), nullable=False),
        sa.Column("longitude", sa.Float),
        sa.Column("latitude", sa.Float),
        sa.Column("coordinate_basis", sa.Text),
        sa.Column("is_cross_boundary", sa.Boolean, nullable=False),
        sa.Column("boundary_kind", sa.String(16)),
        sa.Column("upstream_jurisdiction", sa.Text),
        sa.Column("downstream_jurisdiction", sa.Text),
        sa.Column("responsible_bureaus", sa.Text),
        sa.Column("is_drinking_water_source", sa.Boolean),
        sa.Column("is_background", sa.Boolean),
        sa.Column("network", sa.Text),
        sa.Column("name_basis", sa.Text),
        sa.Column("name_history", sa.Text),
        sa.Column("assumptions", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("feed_key", sa.Text),
        sa.Column("valid_from", sa.Date),
        sa.Column("withdrawn_in_version", sa.Integer),
        sa.Column("withdrawn_from", sa.Date),
        sa.PrimaryKeyConstraint("version_id", "station_id"),
    )
    op.create_index("ix_registry_stations_station", "registry_stations", ["station_id"])


def downgrade() -> None:
    op.drop_index("ix_registry_stations_station", table_name="registry_stations")
    op.drop_table("registry_stations")
    op.drop_index("ix_section_targets_section", table_name="section_targets")
    op.drop_table("section_targets")
    op.drop_table("registry_versions")
    with op.batch_alter_table("unknown_stations") as batch:
        batch.drop_column("latitude")
        batch.drop_column("longitude")
    with op.batch_alter_table("assessment_history") as batch:
        batch.drop_column("target_status")
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("target_status")
