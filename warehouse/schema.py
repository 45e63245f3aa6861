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
    # migration 0019 (warehouse/stewardship.py): the steward's action in force on the value, if any, and
    # the flag QC gave it, kept while a steward's flag stands in qc_flag (a restore puts it back)
    Column("stewardship_id", Integer),
    Column("qc_flag_tested", String(16)),
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
    Column("rule", Text),  # migration 0011: every rule the row fails, by id; `reason` says the same in words
    Index("ix_quarantine_partition", "source", "partition_day"),
    Index("ix_quarantine_station_day", "station_id", "partition_day"),  # migration 0013: the section page
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
    # migration 0013: the data version the dashboard's caches are keyed on, the sources of days shown
    Index("ix_partition_log_loaded_at", "loaded_at"),
    Index("ix_partition_log_day", "partition_day"),
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
    # migration 0009: the rules the result was computed under (standards.rule_version(...).id, e.g.
    # air@2026-03-01#…); NULL for results written before it was recorded
    Column("rule_version", String(64)),
    # migration 0016: the status of the target the verdict was computed against (official | assumed |
    # unset); NULL for results written before it was recorded
    Column("target_status", String(16)),
    Index("ix_assessments_period", "period", "period_start"),
    Index("ix_assessments_domain_day", "period", "domain", "status", "period_start"),  # migration 0013: latest day
)

assessment_history = Table(  # results replaced by a computation under other rules (migration 0009)
    "assessment_history", metadata,
    Column("history_id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("period", String(8), nullable=False),
    Column("period_start", Date, nullable=False),
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
    Column("aqi", Integer),
    Column("primary_pollutants", Text),
    Column("rule_version", String(64)),
    Column("superseded_at", UtcDateTime, nullable=False),
    Column("superseded_by_rule_version", String(64)),
    Column("target_status", String(16)),    # migration 0016
    Column("superseded_by_stewardship_id", Integer),  # migration 0019: a value withdrawn or re-flagged changed it
    Index("ix_assessment_history_key", "station_id", "period", "period_start"),
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
)  # one e-mail per failed section-day, as alerts were before migration 0010: kept, no longer written

# Alerts since migration 0010 (pipelines/alerts): episodes of a section out of its target, the
# duty officers' actions on them, the notices of each state change, and the outbox of deliveries.
alert_episodes = Table(
    "alert_episodes", metadata,
    Column("episode_id", Integer, primary_key=True, autoincrement=True),
    Column("section_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),          # open, resolved, withdrawn, merged
    Column("opened_on", Date, nullable=False),             # bureau days of the assessments
    Column("last_failed_on", Date, nullable=False),
    Column("resolved_on", Date),
    Column("resolution", String(16)),                      # compliant, manual, revised (withdrawn), merged
    Column("worst_class", String(16)),
    Column("target_class", String(16)),
    Column("failing_items", Text, nullable=False),         # JSON: per parameter its worst class and multiple
    Column("days_failed", Integer, nullable=False),
    Column("bases", String(32), nullable=False),           # day;month: daily and/or month-to-date failures
    Column("acknowledged_at", UtcDateTime),
    Column("acknowledged_by", Text),
    Column("escalated_at", UtcDateTime),
    Column("merged_into", Integer),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_alert_episodes_section", "section_id", "status"),
)

alert_section_days = Table(  # each day's verdict of a section for its episodes: the day's assessment and the
    "alert_section_days", metadata,   # month to date as of that day (recomputed with them; see pipelines/alerts)
    Column("section_id", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("is_assessed", Boolean, nullable=False),
    Column("is_failing", Boolean, nullable=False),
    Column("worst_class", String(16)),
    Column("target_class", String(16)),
    Column("failing_items", Text, nullable=False),         # JSON, each item with its basis (day, month)
    Column("bases", String(32), nullable=False),
)

alert_actions = Table(  # the audit trail: who acknowledged or resolved an episode, when, and why
    "alert_actions", metadata,
    Column("action_id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", Integer, nullable=False),
    Column("action", String(16), nullable=False),          # acknowledge, resolve
    Column("actor", Text, nullable=False),
    Column("acted_at", UtcDateTime, nullable=False),
    Column("comment", Text),
    Index("ix_alert_actions_episode", "episode_id"),
)

alert_notices = Table(  # one per state change (or operational event), however often its day is re-run
    "alert_notices", metadata,
    Column("notice_id", Integer, primary_key=True, autoincrement=True),
    Column("notice_key", String(200), nullable=False),
    Column("category", String(16), nullable=False),        # section, operational
    Column("kind", String(32), nullable=False),            # opened, worsened, resolved, escalated, ...
    Column("episode_id", Integer),
    Column("subject_id", String(96), nullable=False),      # the section, or the source / DAG / station
    Column("is_urgent", Boolean, nullable=False),          # non-urgent notices wait out quiet hours
    Column("effective_on", Date),                          # the bureau day of the change
    Column("facts", Text, nullable=False),                 # JSON the messages are rendered from
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("notice_key", name="uq_alert_notices_key"),
)

alert_deliveries = Table(  # the outbox: each (notice, recipient) recorded before it is sent
    "alert_deliveries", metadata,
    Column("delivery_id", Integer, primary_key=True, autoincrement=True),
    Column("notice_id", Integer, nullable=False),
    Column("recipient_id", String(160), nullable=False),   # bureau/channel/name from the routing file
    Column("channel", String(16), nullable=False),         # email, wecom, dingtalk, webhook
    Column("target", Text, nullable=False),                # an address or a robot's name, never a secret
    Column("language", String(8), nullable=False),
    Column("status", String(16), nullable=False),          # pending, sending, sent, held, failed
    Column("attempts", Integer, nullable=False),
    Column("not_before", UtcDateTime),                     # quiet hours, back-off, rate limits
    Column("claimed_at", UtcDateTime),
    Column("last_error", Text),
    Column("sent_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("notice_id", "recipient_id", name="uq_alert_deliveries_notice_recipient"),
    Index("ix_alert_deliveries_status", "status"),
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
    # migration 0011: recovery. status: received → stored (rows, published results and watermark
    # committed together) → loaded (its days assessed too), or failed; a failed payload that is
    # retryable (a fault, not its content) is taken up again by `envmon ingest --resume`
    Column("retryable", Boolean),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("updated_at", UtcDateTime),
    Column("days", Text),  # the bureau days its good rows went to (the days to assess), ISO, comma-separated
    # migration 0011, bad input: the encoding it was read in, and what was said of it as a whole
    # (the year inferred for times printed without one, warnings), one line each
    Column("encoding", String(16)),
    Column("notes", Text),
    Index("ix_payloads_source_sha", "source", "sha256"),
    Index("ix_payloads_status", "status"),
)

unknown_stations = Table(  # migration 0011: stations and sections the payloads name in the registry's cities
    "unknown_stations", metadata,    # that the registry lacks (`envmon registry unknown`)
    Column("source", String(32), primary_key=True),
    Column("station_key", String(200), primary_key=True),  # the air station code; province/basin/name of a section
    Column("name_zh", Text, nullable=False),
    Column("city", Text, nullable=False),
    Column("water_body", Text),
    Column("city_basis", Text, nullable=False),            # how its city is known (the payload's tooltip, area)
    Column("longitude", Float),                            # migration 0016: as the payload gives them (air), for
    Column("latitude", Float),                             # `envmon registry adopt`; the water feed gives none
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("first_payload_id", Integer),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("last_payload_id", Integer),
    Column("payloads_seen", Integer, nullable=False),
    Column("values_seen", Integer, nullable=False),        # its values counted out of scope, over those payloads
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
    Column("stewardship_id", Integer),                  # migration 0019: the steward's action in force on it
    Column("superseded_by_stewardship_id", Integer),    # the steward's action that replaced it (no payload did)
    Index("ix_observation_history_key", "source", "station_id", "parameter", "observed_at"),
)

collection_ledger = Table(  # migration 0014: each expected feed hour (air) or snapshot (water) and how its fetch went
    "collection_ledger", metadata,
    Column("source", String(32), primary_key=True),
    Column("expected_at", UtcDateTime, primary_key=True),   # the hour's end (air) or the snapshot's 4-h slot (water)
    Column("status", String(16), nullable=False),           # pending, failed, fetched, late, revised, gap
    Column("tries", Integer, nullable=False),               # collections that asked and got nothing usable
    Column("fetches", Integer, nullable=False),             # payloads received for it (the first and each re-fetch)
    Column("unchanged_fetches", Integer, nullable=False),   # re-fetches in a row with the same sha256: settled at 2
    Column("first_fetched_at", UtcDateTime),
    Column("last_fetched_at", UtcDateTime),
    Column("last_tried_at", UtcDateTime),
    Column("sha256", String(64)),                           # of the newest payload
    Column("rows", Integer),                                # values read from the newest payload
    Column("stations", Integer),                            # stations or sections it named
    Column("payload_id", Integer),                          # the newest payload ingested for it
    Column("last_error", Text),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_collection_ledger_status", "source", "status"),
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
    Index("ix_rollups_station_day", "station_id", "period", "period_start"),  # migration 0013: one section's series
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


# HJ 663 annual air statistics (migration 0015), one row per station or city, year and period: the
# closed year, or the year to date through `through_day`. Computed by pipelines.assessment.air_annual
# (the one implementation: the Air page and the annual report read these rows). Concentrations in
# the unit of GB 3095: µg/m³, CO mg/m³; o3 is the daily maximum 8-h mean. `status` uses the words of
# assessments.status: assessed, insufficient data (数据不足: fewer daily values than GB 3095 Table 4
# asks, or a year to date), no data, indicators incomplete, target unset (a limit in force not known).
AIR_ANNUAL_ITEMS = ("so2", "no2", "pm10", "pm2_5", "co", "o3")
AIR_ANNUAL_MEAN_ITEMS = ("so2", "no2", "pm10", "pm2_5")


def _air_annual_item_columns() -> list[Column]:
    columns = []
    for code in AIR_ANNUAL_ITEMS:
        columns.append(Column(f"{code}_valid_days", Integer, nullable=False))   # valid daily values counted
        if code in AIR_ANNUAL_MEAN_ITEMS:
            columns += [Column(f"{code}_annual_mean", Float), Column(f"{code}_mean_limit", Float)]
        columns += [Column(f"{code}_percentile", Float),          # HJ 663 Annex A, of the 24-h (O3 8-h) values
                    Column(f"{code}_percentile_p", Float),        # 98, 95 or 90 (hj663_annual_statistics.csv)
                    Column(f"{code}_percentile_limit", Float),
                    Column(f"{code}_attained", Boolean)]          # NULL unless the year is assessed
    return columns


air_annual_statistics = Table(
    "air_annual_statistics", metadata,
    Column("scope", String(8), nullable=False),           # station or city
    Column("site_id", String(64), nullable=False),        # the station's id, or the city's name
    Column("city", Text, nullable=False),
    Column("year", Integer, nullable=False),
    Column("period", String(16), nullable=False),         # year (closed) or year_to_date
    Column("first_day", Date, nullable=False),
    Column("through_day", Date, nullable=False),
    Column("days_with_data", Integer, nullable=False),
    *_air_annual_item_columns(),
    Column("status", String(24), nullable=False),
    Column("is_attained", Boolean),                       # all six items attained; NULL unless assessed
    Column("exceeding_items", Text, nullable=False),      # codes, ';'-separated
    Column("composite_index", Float),                     # 综合指数 Σ Ci/Si
    Column("composite_primary", String(16)),
    Column("city_rank", Integer),                         # cities by composite index, ascending (1 = best)
    Column("cities_ranked", Integer),
    Column("standard", Text, nullable=False),
    Column("rule_version", String(64), nullable=False),   # standards.rule_version("air", rules_from).id
    Column("rules_from", Date, nullable=False),           # the day whose rules apply (period_changeover.csv air/year)
    Column("notes", Text, nullable=False),
    PrimaryKeyConstraint("scope", "site_id", "year", "period"),
    Index("ix_air_annual_statistics_year", "year", "period"),
)


# Each air station's daily values (migration 0022, issue 27): what air_annual.year_statistics reads,
# kept so a year's statistics need not re-read the year's hourly observations at every run. A day's
# rows are exactly air_annual.station_day_values of its stored observations under the `basis`
# recorded in air_station_day_bases (the flags assessed, the registry's air stations, the day's
# validity rules); a day without a basis row, with another basis, or changed by the run is
# recomputed from its observations (pipelines/assessment/air_annual.py, station_days_of_year).
air_station_days = Table(
    "air_station_days", metadata,
    Column("day", Date, nullable=False),
    Column("station_id", String(64), nullable=False),
    *(Column(code, Float) for code in ("so2", "no2", "co", "pm10", "pm2_5", "o3", "o3_8h")),  # NULL: not valid
    PrimaryKeyConstraint("day", "station_id"),
)

air_station_day_bases = Table(
    "air_station_day_bases", metadata,
    Column("day", Date, primary_key=True),
    Column("basis", Text, nullable=False),
    Column("computed_at", UtcDateTime, nullable=False),
)


# The registry versioned in the warehouse (migration 0016, issue 23; warehouse/registry_store.py writes
# and reads it). Version 1 is the repository's seed; each import or adoption is a new version.
registry_versions = Table(
    "registry_versions", metadata,
    Column("version_id", Integer, primary_key=True, autoincrement=True),
    Column("applied_at", UtcDateTime, nullable=False),
    Column("applied_by", Text, nullable=False),
    Column("kind", String(16), nullable=False),            # seed | import | adopt
    Column("source_document", Text, nullable=False),
    Column("valid_from", Date),
    Column("file_sha256", String(64)),
    Column("summary", Text, nullable=False),                # JSON: what the version changed
)

section_targets = Table(  # each section's target by period, as the rule tables keep their periods
    "section_targets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("section_id", String(64), nullable=False),
    Column("target_class", String(16)),                    # NULL when the target is unset
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),                               # NULL: open-ended
    Column("basis", Text, nullable=False),
    Column("source_document", Text, nullable=False),
    Column("status", String(16), nullable=False),           # official | assumed | unset
    Column("version_id", Integer, nullable=False),         # the version that opened the row
    Column("closed_in_version", Integer),                  # the version that set its valid_to
    Column("superseded_in_version", Integer),              # a later version replaced all of it
    Index("ix_section_targets_section", "section_id", "valid_from"),
)

registry_stations = Table(  # stations and sections that joined after the seed (adopted, imported) or left it
    "registry_stations", metadata,
    Column("version_id", Integer, nullable=False),
    Column("station_id", String(64), nullable=False),
    Column("registry", String(16), nullable=False),         # sections | air
    Column("name_zh", Text, nullable=False),
    Column("water_body", Text),
    Column("basin", Text),
    Column("province", Text),
    Column("city", Text),
    Column("county", Text),
    Column("station_type", String(32), nullable=False),
    Column("longitude", Float),
    Column("latitude", Float),
    Column("coordinate_basis", Text),
    Column("is_cross_boundary", Boolean, nullable=False),
    Column("boundary_kind", String(16)),
    Column("upstream_jurisdiction", Text),
    Column("downstream_jurisdiction", Text),
    Column("responsible_bureaus", Text),
    Column("is_drinking_water_source", Boolean),
    Column("is_background", Boolean),
    Column("network", Text),
    Column("name_basis", Text),
    Column("name_history", Text),
    Column("assumptions", Text),
    Column("source", Text),
    Column("feed_key", Text),
    Column("valid_from", Date),                            # the day it joins (its version's valid_from)
    Column("withdrawn_in_version", Integer),
    Column("withdrawn_from", Date),                        # no longer listed from this day
    PrimaryKeyConstraint("version_id", "station_id"),
    Index("ix_registry_stations_station", "station_id"),
)


security_audit = Table(  # migration 0017: who signed in, who failed, who changed what (warehouse/security_audit.py)
    "security_audit", metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("event", String(32), nullable=False),           # security_audit.EVENTS: sign_in, sign_in_failed, lockout, ...
    Column("user_name", Text),                             # the account acted on or named in a sign-in (as typed)
    Column("address", String(64)),                         # the client's address, or cli:<OS user> for envmon users
    Column("detail", Text),                                # why (wrong password, locked, episode 12); never a secret
    Index("ix_security_audit_user", "user_name", "occurred_at"),
    Index("ix_security_audit_occurred", "occurred_at"),
)


observation_stewardship = Table(  # migration 0019: values withdrawn or re-flagged, who, when, why (warehouse/stewardship.py)
    "observation_stewardship", metadata,
    Column("stewardship_id", Integer, primary_key=True, autoincrement=True),
    Column("action", String(16), nullable=False),          # withdraw | flag | restore
    Column("flag", String(16)),                            # the flag it sets (withdrawn, suspect, ...); restore: none
    Column("source", String(32)),                          # NULL: the values of every source
    Column("station_id", String(64), nullable=False),
    Column("parameter", String(32), nullable=False),
    Column("layer", String(16)),                           # NULL: every layer
    Column("observed_from", UtcDateTime, nullable=False),  # the values observed from … to, both included
    Column("observed_to", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("acted_by", Text, nullable=False),
    Column("acted_at", UtcDateTime, nullable=False),
    Column("origin", String(24), nullable=False),          # manual (envmon observations) | complete_statement
    Column("payload_id", Integer),                         # the lab file whose complete statement withdrew it
    Column("values_affected", Integer, nullable=False),
    Column("lifted_by_id", Integer),                       # the restore that ended it; NULL: in force
    Index("ix_observation_stewardship_key", "station_id", "parameter"),
)


# The open data API (migration 0018, issue 26; warehouse/api_store.py): partner keys, hashed, and the
# log of every partner request.
api_keys = Table(
    "api_keys", metadata,
    Column("key_id", Integer, primary_key=True, autoincrement=True),
    Column("organisation", Text, nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),   # SHA-256 of the key; the key is never stored
    Column("key_prefix", String(16), nullable=False),              # its first characters, to tell keys apart
    Column("scope", Text, nullable=False),                         # 'city:玉林市;section:jiuzhou-shijiao'
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("revoked_by", Text),
)

api_access_log = Table(
    "api_access_log", metadata,
    Column("access_id", Integer, primary_key=True, autoincrement=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("key_id", Integer, nullable=False),
    Column("organisation", Text, nullable=False),
    Column("address", String(64)),
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),
    Column("query", Text),
    Column("collection", String(64)),
    Column("status", Integer, nullable=False),
    Column("rows", Integer, nullable=False),        # features, or observation values, answered
    Index("ix_api_access_log_key", "key_id", "occurred_at"),
    Index("ix_api_access_log_occurred", "occurred_at"),
)


# The source partner-edr (migration 0020, issue 26; warehouse/partner_store.py): per partner URL, the
# watermark of its next pull (the partner's clock), the ETag of the first page, how the last pull went.
partner_pulls = Table(
    "partner_pulls", metadata,
    Column("partner_url", Text, primary_key=True),
    Column("organisation", Text, nullable=False),
    Column("collection", String(64), nullable=False),
    Column("watermark", UtcDateTime),               # changed-since of the next pull; NULL: everything
    Column("last_modified", UtcDateTime),           # the partner's Last-Modified at the last pull
    Column("first_page_url", Text),                 # the first page asked, and its ETag (If-None-Match)
    Column("first_page_etag", Text),
    Column("last_pulled_at", UtcDateTime, nullable=False),
    Column("last_status", String(16), nullable=False),   # pulled | not_modified | failed
    Column("last_error", Text),
    Column("pages", Integer, nullable=False),            # of the last pull
    Column("rows_received", Integer, nullable=False),
    Column("payloads", Integer, nullable=False),
)


def utc_now() -> datetime:
    """Time stamps of rows (loaded, staged, raised, superseded...): pipelines.clock.now(), the one clock."""
    from pipelines.clock import now

    return now()
