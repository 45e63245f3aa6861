"""Multi-day writes and reads for backfills (pipelines/history.py).

warehouse/db.py loads one (source, day) partition, or rewrites one day's rollups or assessments,
per transaction: right for a nightly run, thousands of round trips for years of history. Here a
chunk of days goes in with one COPY (or one multi-row insert) per table, writing exactly the rows
db.load_partition, db.replace_rollups and db.replace_assessments would write, under the same
partition locks. Only partitions that hold nothing yet are written here; the ones that already
hold rows are returned, and the caller hands each to the one-partition function of db, which
compares and writes only what differs (so a re-run changes nothing); for observations,
unchanged_partitions first finds, with one read per table, the partitions that already hold
exactly the rows a load would write, which need no load at all.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import Engine, MetaData, Table, insert, select
from sqlalchemy.engine import Connection

from warehouse import db, schema


def _occupied(connection: Connection, table, key_columns: list[str], filters) -> set[tuple]:
    """The distinct values of `key_columns` among the rows of `table` matching `filters`."""
    query = select(*(table.c[c] for c in key_columns)).where(*filters).group_by(*(table.c[c] for c in key_columns))
    return {tuple(row) for row in connection.execute(query).all()}


def _copy_or_insert(connection: Connection, table, frame: pd.DataFrame, columns: list[str]) -> None:
    """Append the frame's `columns` to `table`: binary COPY on PostgreSQL, executemany elsewhere
    (db's own writer, so values are converted exactly as a one-partition load converts them).
    Columns left out (an autoincrement id) take their defaults."""
    if frame.empty:
        return
    target = table if len(columns) == len(table.c) else \
        Table(table.name, MetaData(), *(table.c[c]._copy() for c in columns))
    db._fill(connection, target, frame)


def load_new_partitions(engine: Engine, good: pd.DataFrame, quarantined: pd.DataFrame,
                        log_rows: list[dict]) -> set[tuple[str, date]]:
    """Load the (source, day) partitions of `log_rows` that hold nothing yet (no observations, no
    quarantined rows, no log row), in one transaction: their observations by one COPY, their
    quarantined rows and log rows in one statement each. `good` and `quarantined` carry `source`
    and `partition_day`. Returns the partitions that already held rows, untouched: load those with
    db.load_partition."""
    wanted = sorted({(row["source"], row["partition_day"]) for row in log_rows})
    if not wanted:
        return set()
    db.ensure_observation_partitions(engine, [day for _, day in wanted])
    sources = sorted({source for source, _ in wanted})
    first, last = wanted[0][1], max(day for _, day in wanted)
    with engine.begin() as connection:
        for source, day in wanted:  # the locks db.load_partition takes, in one order
            db.partition_lock(connection, "observations", source, day)
        occupied = set()
        for table in (schema.observations, schema.quarantine, schema.partition_log):
            occupied |= _occupied(connection, table, ["source", "partition_day"],
                                  [table.c.source.in_(sources), table.c.partition_day >= first,
                                   table.c.partition_day <= last])
        existing = occupied & set(wanted)
        fresh = set(wanted) - existing
        if not fresh:
            return existing

        def of_fresh(frame: pd.DataFrame) -> pd.DataFrame:
            if frame.empty or not existing:
                return frame
            keys = pd.MultiIndex.from_arrays([frame["source"], frame["partition_day"]])
            return frame[keys.isin(list(fresh))]

        _copy_or_insert(connection, schema.observations, of_fresh(good), db.OBSERVATION_COLUMNS)
        _copy_or_insert(connection, schema.quarantine, of_fresh(quarantined), db.QUARANTINE_COLUMNS)
        connection.execute(insert(schema.partition_log),
                           [row for row in log_rows if (row["source"], row["partition_day"]) in fresh])
    return existing


def insert_new_rollups(engine: Engine, period: str, frame: pd.DataFrame, period_starts) -> set[date]:
    """The rollups of `period` ("day") for `period_starts` whose partitions hold nothing yet, in one
    COPY under db.replace_rollups' locks. Returns the periods that held rows: rewrite those with
    db.replace_rollups (a period with no rollup rows in `frame` and none stored needs nothing)."""
    starts = sorted(set(period_starts))
    if not starts:
        return set()
    r = schema.rollups
    with engine.begin() as connection:
        for start in starts:
            db.partition_lock(connection, "rollups", period, start)
        existing = {day for (day,) in _occupied(connection, r, ["period_start"],
                                                [r.c.period == period, r.c.period_start >= starts[0],
                                                 r.c.period_start <= starts[-1]])} & set(starts)
        rows = frame if frame.empty or not existing else frame[~frame["period_start"].isin(existing)]
        _copy_or_insert(connection, r, rows, db.ROLLUP_COLUMNS)
    return existing


def insert_new_assessments(engine: Engine, rows: list[dict], partitions) -> set[tuple[str, date]]:
    """Day assessments for the (domain, day) `partitions` that hold nothing yet, in one insert
    under db.replace_assessments' locks. `rows` are the rule functions' dicts, as db writes them.
    Returns the (domain, day) partitions that held rows: rewrite those with db.replace_assessments."""
    wanted = sorted(set(partitions))
    if not wanted:
        return set()
    a = schema.assessments
    with engine.begin() as connection:
        for domain, day in wanted:
            db.partition_lock(connection, "assessments", domain, "day", day)
        existing = _occupied(connection, a, ["domain", "period_start"],
                             [a.c.period == "day", a.c.domain.in_(sorted({d for d, _ in wanted})),
                              a.c.period_start >= wanted[0][1],
                              a.c.period_start <= max(day for _, day in wanted)]) & set(wanted)
        fresh = [row for row in rows if (row["domain"], row["period_start"]) not in existing]
        if fresh:
            connection.execute(insert(a), fresh)
    return existing


def _row_hashes(frame: pd.DataFrame, table, columns: list[str]) -> np.ndarray:
    """One 64-bit hash per row over `columns`, in one representation for rows read back and rows
    about to be written: NULL and "" stay distinct, as they are to the database."""
    canonical = {}
    frame = frame.reindex(columns=columns)
    for name in columns:
        column, kind = frame[name], type(table.c[name].type).__name__
        if kind == "UtcDateTime":
            stamps = pd.to_datetime(column, utc=True).dt.tz_localize(None).astype("datetime64[us]")
            canonical[name] = stamps.to_numpy().view("int64")
        elif kind in ("Float", "Integer"):
            canonical[name] = pd.to_numeric(column).astype("float64").to_numpy()
        else:
            canonical[name] = column.astype(object).where(column.notna(), "\x00null").astype(str).to_numpy(dtype=object)
    return pd.util.hash_pandas_object(pd.DataFrame(canonical), index=False).to_numpy()


def _same_rows(stored: pd.DataFrame, incoming: pd.DataFrame, table, columns: list[str]) -> bool:
    if len(stored) != len(incoming):
        return False
    if not len(stored):
        return True
    return bool(np.array_equal(np.sort(_row_hashes(stored, table, columns)),
                               np.sort(_row_hashes(incoming, table, columns))))


def unchanged_partitions(engine: Engine, partitions: dict[tuple[str, date], tuple[pd.DataFrame, pd.DataFrame, dict]]
                         ) -> set[tuple[str, date]]:
    """Of the (source, day) partitions given as (observations, quarantined rows, log row), those
    whose stored rows are exactly these already (the log row but for `loaded_at`): on those,
    db.load_partition would write nothing. One read per table for all of them, so that re-running
    a backfill costs reads, not a staged upsert per partition."""
    if not partitions:
        return set()
    keys = sorted(partitions)
    sources = sorted({source for source, _ in keys})
    first, last = keys[0][1], max(day for _, day in keys)
    o, q, log = schema.observations, schema.quarantine, schema.partition_log
    quarantine_columns = db.QUARANTINE_COLUMNS
    with engine.connect() as connection:
        def read(table, columns):
            query = select(*(table.c[c] for c in columns)).where(
                table.c.source.in_(sources), table.c.partition_day >= first, table.c.partition_day <= last)
            return pd.DataFrame(connection.execute(query).mappings().all(), columns=columns)

        stored = {name: dict(tuple(frame.groupby(["source", "partition_day"], sort=False))) if len(frame) else {}
                  for name, frame in (("observations", read(o, db.OBSERVATION_COLUMNS)),
                                      ("quarantine", read(q, quarantine_columns)),
                                      ("partition_log", read(log, [c.name for c in log.c])))}
    log_columns = [c.name for c in log.c if c.name != "loaded_at"]
    unchanged = set()
    for key in keys:
        good, held, log_row = partitions[key]
        empty = {name: pd.DataFrame() for name in stored}
        mine = {name: stored[name].get(key, empty[name]) for name in stored}
        if (_same_rows(mine["observations"], good.assign(source=key[0], partition_day=key[1]), o,
                       db.OBSERVATION_COLUMNS)
                and _same_rows(mine["quarantine"], held.assign(source=key[0], partition_day=key[1]), q,
                               quarantine_columns)
                and _same_rows(mine["partition_log"], pd.DataFrame([log_row]), log, log_columns)):
            unchanged.add(key)
    return unchanged


def observations_between(engine: Engine, first: date, last: date, excluded_sources=()) -> pd.DataFrame:
    """The stored observations of days `first` to `last` (one query), leaving out `excluded_sources`:
    what a backfill did not itself bring, but a day's assessment reads."""
    o = schema.observations
    query = select(o).where(o.c.partition_day >= first, o.c.partition_day <= last)
    if excluded_sources:
        query = query.where(o.c.source.not_in(list(excluded_sources)))
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=db.OBSERVATION_COLUMNS)
    if len(frame):
        frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    return frame
