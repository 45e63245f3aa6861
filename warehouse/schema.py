"""The warehouse schema (SQLAlchemy Core). Alembic migrations in warehouse/migrations create it;
a test checks the two agree."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone

from sqlalchemy import (
    Boolean, Column, Date, DateTime, Float, Index, Integer, LargeBinary, MetaData, PrimaryKeyConstraint, String, Table,
    Text, UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC in, timezone-aware UTC out, on PostgreSQL (timestamptz) and on SQLite
    (which keeps no offset: stored as naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the warehouse stores UTC instants only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


stations = Table(
    "stations", metadata,
    Column("station_id", String(64), primary_key=True),
    Column("name_zh", Text, nullable=False),
    Column("station_type", String(32), nullable=False),
    Column("water_body", Text),
    Column("city", Text),
    Column("county", Text),
    Column("longitude", Float),
    Column("latitude", Float),
    Column("target_class", String(16)),
    Column("is_cross_boundary", Boolean, nullable=False),
    Column("boundary_kind", String(16)),
    Column("upstream_jurisdiction", Text),
    Column("downstream_jurisdiction", Text),
    Column("responsible_bureaus", Text),
    Column("assumptions", Text),
)

parameters = Table(
    "parameters", metadata,
    Column("code", String(32), primary_key=True),
    Column("name_zh", Text, nullable=False),
    Column("name_en", Text, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("standards", Text),
)

observations = Table(  # on PostgreSQL partitioned by month of partition_day (migration 0006)
    "observations", metadata,
    Column("source", String(32), nullable=False),
    Column("station_id", String(64), nullable=False),
    Column("parameter", String(32), nullable=False),
    Column("observed_at", UtcDateTime, nullable=False),
    Column("averaging_period", String(16), nullable=False),
    Column("layer", String(16), nullable=False, server_default=""),   # migration 0003
    Column("partition_day", Date, nullable=False),
    Column("utc_offset_minutes", Integer, nullable=False),
    Column("value", Float),
    Column("unit", String(32), nullable=False),
    Column("qc_flag", String(16), nullable=False),
    Column("qc_note", Text),
    Column("batch_id", String(96), nullable=False),
    Column("original_value", Text),
    Column("sample_id", Text),
    Column("detection_limit", Float),
    Column("censoring", String(2)),
    Column("original_unit", String(32)),
    Column("detail", Text),
    Column("payload_id", Integer),
    # partition_day follows from observed_at and the averaging period, so it adds nothing to the
    # key's meaning; PostgreSQL needs it there to partition on it. Station first: the key doubles
    # as the station-and-day index.
    PrimaryKeyConstraint("station_id", "partition_day", "parameter", "observed_at", "averaging_period", "layer",
                         "source", name="observations_pkey"),
    Index("ix_observations_partition", "source", "partition_day"),
    postgresql_partition_by="RANGE (partition_day)",
)


def is_observation_partition(table_name: str) -> bool:
    """The monthly partitions of observations (PostgreSQL), which the loader creates as data arrives."""
    return OBSERVATION_PARTITION_NAME.fullmatch(table_name) is not None


def include_name(name, type_, _parent_names) -> bool:
    """Alembic's filter: the partitions belong to observations, not to the declared schema."""
    return not (type_ == "table" and is_observation_partition(name))


OBSERVATION_PARTITION_NAME = re.compile(r"observations_y\d{4}m\d{2}")


def observation_partition_name(month_start: date) -> str:
    return f"observations_y{month_start.year:04d}m{month_start.month:02d}"


quarantine = Table(
    "quarantine", metadata,
    Column("quarantine_id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("partition_day", Date, nullable=False),
    Column("batch_id", String(96), nullable=False),
    Column("station_id", Text),
    Column("parameter", Text),
    Column("observed_at", UtcDateTime),
    Column("averaging_period", String(16)),
    Column("value", Float),
    Column("unit", Text),
    Column("qc_flag", Text),
    Column("original_value", Text),
    Column("expectation", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_quarantine_partition", "source", "partition_day"),
)

partition_log = Table(
    "partition_log", metadata,
    Column("source", String(32), primary_key=True),
    Column("partition_day", Date, primary_key=True),
    Column("domain", String(16), nullable=False),
    Column("batch_id", String(96), nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_loaded", Integer, nullable=False),
    Column("rows_quarantined", Integer, nullable=False),
    Column("suite_name", Text, nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
)

assessments = Table(
    "assessments", metadata,
    Column("station_id", String(64), primary_key=True),
    Column("period", String(8), primary_key=True),
    Column("period_start", Date, primary_key=True),
    Column("domain", String(16), nullable=False),
    Column("standard", Text, nullable=False),
    Column("water_class", String(16)),
    Column("target_class", String(16)),
    Column("is_compliant", Boolean),
    Column("grade", Text),
    Column("indicators_assessed", Text, nullable=False),
    Column("failing_parameters", Text, nullable=False),
    Column("values_used", Integer, nullable=False),
    Column("is_cross_boundary", Boolean, nullable=False),
    Column("status", String(24), nullable=False),
    Column("aqi", Integer),                 # air only (migration 0002)
    Column("primary_pollutants", Text),     # air only: parameter codes, ';'-separated
    Index("ix_assessments_period", "period", "period_start"),
)

alerts = Table(
    "alerts", metadata,
    Column("alert_id", Integer, primary_key=True, autoincrement=True),
    Column("alert_key", String(160), nullable=False),
    Column("station_id", String(64), nullable=False),
    Column("period", String(8), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("recipients", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("delivery_status", String(24), nullable=False),
    Column("delivery_detail", Text),
    Column("sent_at", UtcDateTime),
    Column("attempts", Integer, nullable=False),
    UniqueConstraint("alert_key", name="uq_alerts_alert_key"),
)


payloads = Table(  # every payload of a real source, archived as received (migration 0003)
    "payloads", metadata,
    Column("payload_id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("fetched_at", UtcDateTime, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("archive_path", Text, nullable=False),
    Column("origin", Text),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("rows_read", Integer),
    Column("rows_loaded", Integer),
    Column("rows_quarantined", Integer),
    Column("rows_out_of_scope", Integer),
    Index("ix_payloads_source_sha", "source", "sha256"),
)

published_results = Table(  # what the publisher reported beside the values (class, AQI, names)
    "published_results", metadata,
    Column("source", String(32), primary_key=True),
    Column("station_id", String(64), primary_key=True),
    Column("observed_at", UtcDateTime, primary_key=True),
    Column("published_class", String(16)),
    Column("published_aqi", Integer),
    Column("published_primary_pollutants", Text),
    Column("published_name", Text),
    Column("station_status", Text),
    Column("payload_id", Integer),
    Column("envmon_class", String(16)),     # migration 0004: envmon's own, from the same values
    Column("envmon_aqi", Integer),
    Column("agrees", Boolean),
)

observation_history = Table(  # values replaced by a later payload: nothing is overwritten unseen
    "observation_history", metadata,
    Column("history_id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("station_id", String(64), nullable=False),
    Column("parameter", String(32), nullable=False),
    Column("observed_at", UtcDateTime, nullable=False),
    Column("averaging_period", String(16), nullable=False),
    Column("layer", String(16), nullable=False),
    Column("value", Float),
    Column("original_value", Text),
    Column("qc_flag", String(16)),
    Column("batch_id", String(96)),
    Column("payload_id", Integer),
    Column("superseded_at", UtcDateTime, nullable=False),
    Column("superseded_by_payload_id", Integer),
    Index("ix_observation_history_key", "source", "station_id", "parameter", "observed_at"),
)

watermarks = Table(  # the newest observation each real source has delivered
    "watermarks", metadata,
    Column("source", String(32), primary_key=True),
    Column("last_observed_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)


rollups = Table(  # daily and monthly means kept current by the nightly run (migration 0005)
    "rollups", metadata,
    Column("station_id", String(64), primary_key=True),
    Column("parameter", String(32), primary_key=True),
    Column("averaging_period", String(16), primary_key=True),
    Column("period", String(8), primary_key=True),        # "day" or "month"
    Column("period_start", Date, primary_key=True),
    Column("mean", Float),                                 # of the assessable values; censored at half the limit
    Column("minimum", Float),
    Column("maximum", Float),
    Column("values_assessable", Integer, nullable=False),
    Column("values_flagged", Integer, nullable=False),     # suspect or fail: kept, not averaged
    Column("values_censored", Integer, nullable=False),
    Column("days_with_data", Integer, nullable=False),
    Column("detection_limit", Float),    # migration 0007: the highest limit of the censored values in the mean
    Column("reported_mean", Text),       # '< limit' when the mean lies below it, else the mean
    Column("censoring_method", Text),    # how censored values entered the mean, where they did
    Index("ix_rollups_period", "period", "period_start"),
)

staged_batches = Table(  # batches between the tasks of one run, where every worker reaches them (migration 0008)
    "staged_batches", metadata,
    Column("source", String(32), primary_key=True),
    Column("partition_day", Date, primary_key=True),
    Column("stage", String(16), primary_key=True),        # ingested, valid, quarantined
    Column("batch_id", String(128), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("parquet", LargeBinary, nullable=False),        # the frame as Parquet: types and time zones kept
    Column("staged_at", UtcDateTime, nullable=False),
)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
