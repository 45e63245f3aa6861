"""The open data API's reads (`envmon api`, pipelines/api): observations with their QC flags,
censoring and original values, assessments with their rule version and target status, quarantine
counts, and what the API's Last-Modified is. The registry and targets come from warehouse/queries.py.

Every read takes the station ids the request may see (decided by pipelines/api/access.py) and limits
the rows to them in SQL; none answers for a station not named. Paged reads take `limit` and
`offset` and ask for one row more than `limit`, so the caller knows whether a next page exists.
Works on PostgreSQL and SQLite.
"""
from __future__ import annotations

from datetime import date, datetime

import pandas as pd
from sqlalchemy import Engine, func, select

from warehouse import schema

OBSERVATION_COLUMNS = ["station_id", "layer", "source", "parameter", "averaging_period", "observed_at", "value",
                       "unit", "qc_flag", "qc_note", "original_value", "censoring", "detection_limit",
                       "original_unit", "utc_offset_minutes", "payload_id"]
ASSESSMENT_COLUMNS = ["station_id", "period", "period_start", "domain", "standard", "water_class", "target_class",
                      "is_compliant", "grade", "indicators_assessed", "failing_parameters", "values_used",
                      "is_cross_boundary", "status", "aqi", "primary_pollutants", "rule_version", "target_status"]


def _frame(engine: Engine, query, columns) -> pd.DataFrame:
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=columns, dtype=object)


def observations_page(engine: Engine, station_ids, *, start: datetime | None, end: datetime | None,
                      parameters=None, averaging_periods=None, qc_flags=None, changed_since: datetime | None = None,
                      limit: int, offset: int) -> pd.DataFrame:
    """Observations of `station_ids` with start ≤ observed_at < end, in a stable order (station,
    layer, source, time, parameter), `limit` + 1 rows from `offset`. changed_since: only the rows
    stored since then (a new value or a revision): the payload that brought the row was received
    then or later, or, for rows of no logged payload (the nightly batches), their partition was
    loaded then or later."""
    o = schema.observations
    query = select(*(o.c[c] for c in OBSERVATION_COLUMNS)).where(o.c.station_id.in_(sorted(station_ids)))
    if changed_since is not None:
        p, log = schema.payloads, schema.partition_log
        query = query.select_from(
            o.outerjoin(p, p.c.payload_id == o.c.payload_id).outerjoin(
                log, (log.c.source == o.c.source) & (log.c.partition_day == o.c.partition_day))
        ).where(func.coalesce(p.c.received_at, log.c.loaded_at) >= changed_since)
    if start is not None:
        query = query.where(o.c.observed_at >= start)
    if end is not None:
        query = query.where(o.c.observed_at < end)
    if parameters is not None:
        query = query.where(o.c.parameter.in_(sorted(parameters)))
    if averaging_periods is not None:
        query = query.where(o.c.averaging_period.in_(sorted(averaging_periods)))
    if qc_flags is not None:
        query = query.where(o.c.qc_flag.in_(sorted(qc_flags)))
    query = query.order_by(o.c.station_id, o.c.layer, o.c.source, o.c.observed_at, o.c.parameter,
                           o.c.averaging_period).limit(limit + 1).offset(offset)
    return _frame(engine, query, OBSERVATION_COLUMNS)


def quarantine_counts(engine: Engine, station_ids, first_day: date | None, last_day: date | None) -> pd.DataFrame:
    """Quarantined rows per station and parameter over the bureau days [first_day, last_day]."""
    q = schema.quarantine
    query = select(q.c.station_id, q.c.parameter, func.count().label("rows")).where(
        q.c.station_id.in_(sorted(station_ids)))
    if first_day is not None:
        query = query.where(q.c.partition_day >= first_day)
    if last_day is not None:
        query = query.where(q.c.partition_day <= last_day)
    query = query.group_by(q.c.station_id, q.c.parameter)
    return _frame(engine, query, ["station_id", "parameter", "rows"])


def assessments_page(engine: Engine, station_ids, *, first: date | None, last: date | None, period: str | None,
                     domain: str | None, limit: int, offset: int) -> pd.DataFrame:
    """Stored assessments of `station_ids` (newest rule's result per station, period and day),
    `limit` + 1 rows from `offset`, with target_status filled for rows from before it was stored."""
    from pipelines import target_status

    a = schema.assessments
    query = select(*(a.c[c] for c in ASSESSMENT_COLUMNS)).where(a.c.station_id.in_(sorted(station_ids)))
    if first is not None:
        query = query.where(a.c.period_start >= first)
    if last is not None:
        query = query.where(a.c.period_start <= last)
    if period is not None:
        query = query.where(a.c.period == period)
    if domain is not None:
        query = query.where(a.c.domain == domain)
    query = query.order_by(a.c.station_id, a.c.period, a.c.period_start).limit(limit + 1).offset(offset)
    frame = _frame(engine, query, ASSESSMENT_COLUMNS)
    return target_status.filled(frame) if len(frame) else frame


def last_modified(engine: Engine) -> datetime | None:
    """When the data last changed: the newest partition load, payload or superseded assessment."""
    log, p, h = schema.partition_log, schema.payloads, schema.assessment_history
    with engine.connect() as connection:
        stamps = connection.execute(select(
            select(func.max(log.c.loaded_at)).scalar_subquery(),
            select(func.max(p.c.received_at)).scalar_subquery(),
            select(func.max(h.c.superseded_at)).scalar_subquery())).one()
    known = [_utc(s) for s in stamps if s is not None]
    return max(known) if known else None


def _utc(stamp) -> datetime:
    from datetime import timezone

    if isinstance(stamp, str):  # a scalar subquery on SQLite comes back untyped
        stamp = datetime.fromisoformat(stamp)
    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp.astimezone(timezone.utc)
