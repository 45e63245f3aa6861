"""The open data API's reads (`envmon api`, pipelines/api): observations with their QC flags,
censoring and original values, assessments with their rule version and target status, quarantine
counts, and what the API's Last-Modified is. The registry and targets come from warehouse/queries.py.

Every read takes the station ids the request may see (decided by pipelines/api/access.py) and limits
the rows to them in SQL; none answers for a station not named. Paged reads ask for one row more
than `limit`, so the caller knows whether a next page exists: observations from a key (the last
row of the previous page; PAGE_KEY), assessments from an `offset`.
Works on PostgreSQL and SQLite.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, Engine, and_, bindparam, false, func, or_, select, text, tuple_, type_coerce

from warehouse import schema

# what the API's CoverageJSON carries of an observation (pipelines/api/coverage.py)
OBSERVATION_COLUMNS = ["station_id", "layer", "source", "parameter", "averaging_period", "observed_at", "value",
                       "unit", "qc_flag", "qc_note", "original_value", "censoring", "detection_limit"]
ASSESSMENT_COLUMNS = ["station_id", "period", "period_start", "domain", "standard", "water_class", "target_class",
                      "is_compliant", "grade", "indicators_assessed", "failing_parameters", "values_used",
                      "is_cross_boundary", "status", "aqi", "primary_pollutants", "rule_version", "target_status"]


def _frame(engine: Engine, query, columns) -> pd.DataFrame:
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=columns, dtype=object)


# The order observations are paged in: the primary key's (warehouse/schema.py), so that PostgreSQL
# reads a station's rows from its index in that order, starting at a page's first key, and stops
# after the page: no sort, no rows skipped by reading them. A page's last row's key is where the
# next page starts (the `after` of the API's next link).
PAGE_KEY = ("station_id", "partition_day", "parameter", "observed_at", "averaging_period", "layer", "source")
# partition_day is the bureau day on which an observation's averaging period starts
# (pipelines/observations.bureau_day): at most this long before observed_at. The sources' periods are
# PT0S, PT1H and PT24H; a month covers any P<n>D up to P31D too, and costs one partition more.
LONGEST_AVERAGING_PERIOD = timedelta(days=31)


def observations_page(engine: Engine, station_ids, *, start: datetime | None, end: datetime | None,
                      parameters=None, parameter_periods=None, averaging_periods=None, qc_flags=None,
                      changed_since: datetime | None = None, limit: int, after: tuple | None = None) -> pd.DataFrame:
    """Observations of `station_ids` with start ≤ observed_at < end, `limit` + 1 of them (fewer at
    the end) in the order of PAGE_KEY, from the first one after `after` (a PAGE_KEY tuple: the last
    row of the previous page), so the caller knows whether a next page exists.

    The stations are read one at a time, in Python's order of their ids (the caller merges pages of
    disjoint station sets in the same order), each from its first key after `after` in PostgreSQL's
    (or SQLite's) own order of the other key columns, until `limit` + 1 rows are in hand: a page
    costs the rows it returns, whichever page it is, so reading every page along the next links is
    linear. observed_at bounds partition_day as well, so that PostgreSQL scans only the monthly
    partitions that can hold the rows (it prunes on partition_day, the partition key, alone).

    parameters: codes whose every averaging period is wanted; parameter_periods: (code, period)
    pairs; a row is read when it matches either (neither given: every parameter). changed_since:
    only the rows stored since then (a new value or a revision): the payload that brought the row
    was received then or later, or, for rows of no logged payload (the nightly batches), their
    partition was loaded then or later. Columns: OBSERVATION_COLUMNS and partition_day."""
    o = schema.observations
    columns = OBSERVATION_COLUMNS + ["partition_day"]
    # observed_at as the driver gives it, made UTC column-wise below (UtcDateTime's row by row
    # conversion was most of a 10,000-row page's read)
    query = select(*(type_coerce(o.c[c], DateTime(timezone=True)).label(c) if c == "observed_at" else o.c[c]
                     for c in columns))
    if changed_since is not None:
        p, log = schema.payloads, schema.partition_log
        query = query.select_from(
            o.outerjoin(p, p.c.payload_id == o.c.payload_id).outerjoin(
                log, (log.c.source == o.c.source) & (log.c.partition_day == o.c.partition_day))
        ).where(func.coalesce(p.c.received_at, log.c.loaded_at) >= changed_since)
    if start is not None:
        query = query.where(o.c.observed_at >= start,
                            o.c.partition_day >= _bureau_day(start - LONGEST_AVERAGING_PERIOD))
    if end is not None:
        query = query.where(o.c.observed_at < end, o.c.partition_day <= _bureau_day(end))
    wanted = []
    if parameters:
        wanted.append(o.c.parameter.in_(sorted(parameters)))
    for code, period in sorted(parameter_periods or ()):
        wanted.append(and_(o.c.parameter == code, o.c.averaging_period == period))
    if parameters is not None or parameter_periods is not None:
        query = query.where(or_(*wanted) if wanted else false())
    if averaging_periods is not None:
        query = query.where(o.c.averaging_period.in_(sorted(averaging_periods)))
    if qc_flags is not None:
        query = query.where(o.c.qc_flag.in_(sorted(qc_flags)))
    query = query.order_by(*(o.c[c] for c in PAGE_KEY))
    rest = [o.c[c] for c in PAGE_KEY[1:]]
    found: list = []
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":  # times in UTC (this transaction only): psycopg then
            connection.execute(text("SET LOCAL TimeZone TO 'UTC'"))  # gives them as UTC, cheaper to convert
        for station_id in sorted(set(station_ids)):
            if after is not None and station_id < after[0]:
                continue
            station_query = query.where(o.c.station_id == station_id)
            if after is not None and station_id == after[0]:
                last = [bindparam(None, value, type_=column.type) for column, value in zip(rest, after[1:])]
                station_query = station_query.where(tuple_(*rest) > tuple_(*last), o.c.partition_day >= after[1])
            found += connection.execute(station_query.limit(limit + 1 - len(found))).all()
            if len(found) > limit:
                break
    return _columns(found, columns)


FLOAT_COLUMNS = ("value", "detection_limit")


def _columns(rows: list, columns: list[str]) -> pd.DataFrame:
    """Rows as a frame built column by column: floats as float64 (NaN for NULL), observed_at as UTC
    times (SQLite gives them naive, in UTC), the rest as the driver's objects (not pandas' str)."""
    data = list(zip(*rows)) if rows else [()] * len(columns)
    frame = {}
    for name, values in zip(columns, data):
        cells = np.fromiter(values, dtype=object, count=len(values))
        if name in FLOAT_COLUMNS:
            frame[name] = pd.to_numeric(pd.Series(cells, dtype=object)).astype("float64")
        elif name == "observed_at":
            frame[name] = pd.to_datetime(pd.Series(cells, dtype=object), utc=True)
        else:
            frame[name] = pd.Series(cells, dtype=object)
    return pd.DataFrame(frame, columns=columns)


def page_key(row) -> tuple:
    """The PAGE_KEY of a row (a mapping or a row of observations_page's frame)."""
    return tuple(row[c] for c in PAGE_KEY)


def _bureau_day(moment: datetime) -> date:
    from pipelines.clock import BUREAU_TZ

    return moment.astimezone(BUREAU_TZ).date()


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
