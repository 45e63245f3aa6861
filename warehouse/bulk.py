"""Multi-day writes and reads for backfills (pipelines/ingest/history.py).

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
        from warehouse import stewardship  # a value withdrawn or re-flagged stays so (issue 25)

        good = stewardship.applied_by_source(connection, good)

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
    with engine.connect() as connection:   # PostgreSQL: one COPY Arrow parses (db.copied_rows); no rows: as before
        frame = db.copied_rows(connection, query, db.OBSERVATION_COLUMNS, times=["observed_at"], days=["partition_day"])
        if frame is None or not len(frame):
            frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=db.OBSERVATION_COLUMNS)
    if len(frame):
        frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    return frame


# --- the archive path of `envmon ingest` (pipelines/ingest/batches.py) ---------------------------
# Many payloads of one source stored in one transaction: each (source, day) partition merged
# exactly as the payloads would be merged one after another (a later value
# wins, the one it replaces goes to observation_history, a payload logged earlier than the stored
# value's does not undo it), but set-based: one read of what the touched partitions hold, one
# COPY (or one executemany) per table, one upsert for the keys that were there already.

import uuid  # noqa: E402 - the archive path's own imports, kept with it
from concurrent.futures import Future  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from sqlalchemy import Text, and_, delete, func, true, type_coerce  # noqa: E402

REVISION_COLUMNS = db.REVISION_COLUMNS
MERGE_KEY = db.KEY
HISTORY_COLUMNS = [c.name for c in schema.observation_history.c if c.name != "history_id"]


def _sqlite_values(column: pd.Series, kind: str) -> list:
    """A column as the values SQLAlchemy binds on SQLite for its type (UtcDateTime and DateTime as
    naive UTC text with microseconds, Date as ISO text, Boolean as 0/1), missing as None: the
    rows read back exactly as those db writes through SQLAlchemy."""
    missing = column.isna().to_numpy()
    if kind in ("UtcDateTime", "DateTime"):
        stamps = pd.to_datetime(column, utc=True).dt.tz_localize(None).astype("datetime64[us]").to_numpy()
        values = np.char.replace(np.datetime_as_string(stamps, unit="us").astype(str), "T", " ").astype(object)
    elif kind == "Date":
        values = db_lookup(column, lambda d: d.isoformat() if hasattr(d, "isoformat") else str(d)).to_numpy(dtype=object)
    elif kind == "Boolean":
        values = column.map(lambda v: None if v is None or v is pd.NA or v != v else int(bool(v))).to_numpy(dtype=object)
    elif kind == "Integer":
        values = np.array([None if m else int(v) for v, m in zip(column.tolist(), missing)], dtype=object)
    elif kind == "Float":
        values = column.astype("float64").to_numpy().astype(object)
    else:
        values = column.to_numpy(dtype=object)
    if missing.any():
        values = np.where(missing, None, values)
    return values.tolist()


def db_lookup(keys: pd.Series, function) -> pd.Series:
    """function(key) once per distinct key (a column of few distinct days, hours or codes)."""
    from pipelines.observations import lookup

    return lookup(keys, function, default=None)


def _integers(column: pd.Series) -> pd.Series:
    """An integer column that may hold missing values, as Python ints and None (binary COPY of
    int4 takes no floats)."""
    return pd.Series([None if pd.isna(v) else int(v) for v in column.tolist()], index=column.index, dtype=object)


def fill(connection: Connection, table, frame: pd.DataFrame, columns: list[str] | None = None) -> None:
    """Append the frame's `columns` (default: all the table's) to `table`: binary COPY on
    PostgreSQL, one executemany of values converted column by column elsewhere. Columns left out
    take their defaults (an autoincrement id)."""
    if frame.empty:
        return
    columns = columns or [c.name for c in table.c]
    frame = frame.reindex(columns=columns)
    if connection.dialect.name == "postgresql":   # db._fill takes integer columns with NaN as they are
        target = table if len(columns) == len(table.c) else \
            Table(table.name, MetaData(), *(table.c[c]._copy() for c in columns))
        db._fill(connection, target, frame)
        return
    for name in columns:
        if type(table.c[name].type).__name__ == "Integer":
            frame[name] = _integers(frame[name])
    values = [_sqlite_values(frame[name], type(table.c[name].type).__name__) for name in columns]
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    connection.exec_driver_sql(statement, list(zip(*values)))


def read(connection: Connection, query, columns: list[str], times=(), days=()) -> pd.DataFrame:
    """The rows of a query as a frame, times as UTC timestamps and days as dates, converted column
    by column (SQLite hands them over as text); on PostgreSQL through one COPY that Arrow parses
    into typed columns (db.copied_rows), the same frame."""
    frame = db.copied_rows(connection, query, columns, times=times, days=days)
    if frame is None:
        rows = connection.execute(query).all()
        # column by column from plain tuples: a frame made of Row objects asks each row for its keys
        frame = pd.DataFrame(dict(zip(columns, map(list, zip(*rows)))) if rows else {c: [] for c in columns},
                             columns=columns)
    for column in times:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="mixed") if len(frame) else \
            pd.Series(pd.DatetimeIndex([], tz="UTC"), dtype="datetime64[us, UTC]")
    for column in days:
        frame[column] = db_lookup(frame[column], lambda d: d if isinstance(d, date) else date.fromisoformat(str(d)[:10]))
    return frame


def _as_text(table, column: str, times) -> object:
    return type_coerce(table.c[column], Text).label(column) if column in times else table.c[column]


ASSESSMENT_READ_COLUMNS = ["source", "station_id", "parameter", "observed_at", "averaging_period", "layer", "value",
                           "qc_flag", "censoring", "detection_limit", "partition_day"]


def source_observations_between(engine: Engine, source: str, first, last, columns: list[str]) -> pd.DataFrame:
    """`columns` of a source's stored observations on bureau days first..last, in one query (the
    QC neighbours of a batch of its payloads); value and payload_id as numbers."""
    o = schema.observations
    query = select(*(_as_text(o, c, {"observed_at", "partition_day"}) for c in columns)).where(
        o.c.source == source, o.c.partition_day >= first, o.c.partition_day <= last)
    with engine.connect() as connection:
        frame = read(connection, query, columns, times=[c for c in columns if c == "observed_at"],
                     days=[c for c in columns if c == "partition_day"])
    for column in ("value", "payload_id"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column])
    if "value" in frame:
        frame["value"] = frame["value"].astype("float64")
    return frame


def observations_of_days(engine: Engine, days, columns: list[str] | None = None) -> pd.DataFrame:
    """The stored observations of every source on `days` (bureau days), only `columns` (default:
    those the day rules read), in one query: what nightly.assess reads day by day."""
    o = schema.observations
    columns = list(columns or ASSESSMENT_READ_COLUMNS)
    days = sorted(set(days))
    times = {"observed_at", "partition_day"}
    query = select(*(_as_text(o, c, times) for c in columns)).where(o.c.partition_day.in_(days))
    with engine.connect() as connection:
        frame = read(connection, query, columns, times=[c for c in columns if c == "observed_at"],
                     days=[c for c in columns if c == "partition_day"])
    for column in ("value", "detection_limit"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
    for column in ("censoring", "layer", "qc_flag"):
        if column in frame:
            frame[column] = frame[column].fillna("").astype(str)
    return frame


@dataclass
class PayloadRows:
    """What one payload of a batch stores: its QC'd good rows (with partition_day), its
    quarantined rows (with partition_day), what the publisher reported (with envmon's own), and
    the row of the payload log it leaves `stored` (days, counts, encoding, notes). `published` may
    be a Future the caller resolves while store_batch loads the rest in another thread: store_batch
    waits for it inside its transaction, and a Future that fails rolls the whole batch back."""
    payload_id: int
    batch_id: str
    good: pd.DataFrame
    quarantined: pd.DataFrame
    published: pd.DataFrame | None | Future
    log: dict
    revised: int = 0
    days: list = field(default_factory=list)   # the partitions it touches: days of good and quarantined rows


def merge_versions(stored: pd.DataFrame, incoming: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The versions of each key as merging the payloads one after another leaves them when the payloads of
    `incoming` (rows with payload_id, in ascending payload order) are merged one after the other
    into partitions holding `stored`. Returns (rows to write: the incoming rows that are current in
    the end, new or replacing a stored one; the superseded rows for observation_history, each with
    superseded_by_payload_id; the revisions each payload made, by payload_id)."""
    incoming = incoming.reset_index(drop=True)
    none = pd.DataFrame(columns=[*MERGE_KEY, "value", "original_value", "qc_flag", "batch_id", "payload_id",
                                 "superseded_by_payload_id"])
    repeated = incoming.duplicated(MERGE_KEY, keep=False).to_numpy()
    if len(stored):
        held = incoming[MERGE_KEY].merge(stored[MERGE_KEY].drop_duplicates(), on=MERGE_KEY, how="left",
                                         indicator=True)["_merge"].eq("both").to_numpy()
    else:
        held = np.zeros(len(incoming), dtype=bool)
    contested = repeated | held
    if not contested.any():  # every key new, once: everything is written, nothing revised
        return incoming, none, pd.Series(dtype="int64")
    mine = incoming[contested].assign(_stored=False, _order=np.flatnonzero(contested))
    keys = mine[MERGE_KEY].drop_duplicates()
    theirs = stored.merge(keys, on=MERGE_KEY, how="inner").assign(_stored=True, _order=-1) if len(stored) else \
        stored.iloc[:0].assign(_stored=True, _order=-1)
    versions = pd.concat([theirs, mine], ignore_index=True)
    versions["_pid"] = pd.to_numeric(versions["payload_id"], errors="coerce")
    versions = versions.sort_values([*MERGE_KEY, "_stored", "_pid", "_order"], ascending=[*([True] * len(MERGE_KEY)), False,
                                                                                      True, True],
                                    kind="stable").reset_index(drop=True)
    group = versions.groupby(MERGE_KEY, sort=False, dropna=False).ngroup().to_numpy()
    # a payload logged before the stored value's payload does not undo it (resume of an old payload)
    stored_pid = pd.Series(np.where(versions["_stored"], versions["_pid"], np.nan)).groupby(group).transform("max").to_numpy()
    older = ~versions["_stored"].to_numpy() & (versions["_pid"].to_numpy() < stored_pid)
    versions = versions[~older].reset_index(drop=True)
    group = group[~older]
    first = np.r_[True, group[1:] != group[:-1]]
    differs = np.zeros(len(versions), dtype=bool)
    for column in REVISION_COLUMNS:  # a revision: not equal, and not both missing
        values = versions[column].astype(object)
        previous = values.shift(1)
        same = (values == previous) | (values.isna() & previous.isna())
        differs |= ~same.to_numpy(dtype=bool)
    changed = ~first & differs
    anchor = np.where(first | changed, np.arange(len(versions)), -1)
    current = np.maximum.accumulate(anchor)           # the version in force after each one
    before = np.r_[-1, current[:-1]]                   # ... and before it
    superseded = versions.iloc[before[changed]]
    kept = [c for c in ("stewardship_id",) if c in superseded]  # the steward's action in force on it (issue 25)
    history = superseded[[*MERGE_KEY, "value", "original_value", "qc_flag", "batch_id", "payload_id", *kept]].assign(
        superseded_by_payload_id=versions["payload_id"].to_numpy()[changed]).reset_index(drop=True)
    revisions = pd.Series(versions["payload_id"].to_numpy()[changed]).value_counts()
    last = np.r_[group[1:] != group[:-1], True]
    final = versions.iloc[current[last]]
    final = final[~final["_stored"].to_numpy()]
    written = pd.concat([incoming[~contested], incoming.iloc[final["_order"].to_numpy()]], ignore_index=True)
    return written, history, revisions


def _staging(connection: Connection, table, columns: list[str]):
    """A temporary table of `columns` of `table`, dropped at the end of the transaction."""
    name = f"staging_{table.name}_{uuid.uuid4().hex[:8]}"
    staging = Table(name, MetaData(), *(table.c[c]._copy() for c in columns), prefixes=["TEMPORARY"])
    staging.create(connection)
    return staging


def _upsert(connection: Connection, table, frame: pd.DataFrame, key: list[str]) -> None:
    """Insert the frame's rows, each replacing the stored row of its key (every other column)."""
    if frame.empty:
        return
    columns = [c.name for c in table.c]
    staging = _staging(connection, table, columns)
    try:
        fill(connection, staging, frame, columns)
        if connection.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        statement = upsert(table).from_select(columns, select(*staging.c).where(true()))
        statement = statement.on_conflict_do_update(
            index_elements=key, set_={c: statement.excluded[c] for c in columns if c not in key})
        connection.execute(statement)
    finally:
        staging.drop(connection)


def _delete_keys(connection: Connection, table, frame: pd.DataFrame, key: list[str], where=()) -> None:
    """Delete the stored rows of `table` whose `key` is one of the frame's."""
    if frame.empty:
        return
    staging = _staging(connection, table, key)
    try:
        fill(connection, staging, frame[key].drop_duplicates(), key)
        same = and_(*(staging.c[k] == table.c[k] for k in key))
        connection.execute(delete(table).where(*where, select(staging.c[key[0]]).where(same).exists()))
    finally:
        staging.drop(connection)


def store_batch(engine: Engine, source: str, domain: str, suite_name: str, payloads: list[PayloadRows],
                after_merge=None) -> dict:
    """Everything the payloads of a batch write, in ONE transaction: each (source, day) partition they touch merged payload after payload, their
    quarantined rows (replacing earlier rows of the same batch id), the partition log, what the
    publisher reported (a later payload's row of a station and hour wins), the source's watermark,
    and each payload's own status `stored` with its days and counts. A fault before the commit
    leaves none of them stored; after it, all. Locks in the one order every writer takes them:
    the partitions by day, then the published results, then the watermark. Returns the counts of
    new, revised and unchanged observations; each PayloadRows gets its `revised`. The actions of
    stewardship in force are applied to the rows written (a withdrawn value stays so), and
    `after_merge(connection)`, if given, runs in the same transaction once the rows are merged (a
    lab's complete statement, pipelines/statements.py). A payload's `published` given as a Future
    is waited for after the observations, quarantine and partition log are written: the caller
    computes it in its own thread while this one (pipelines/ingest/batches.py) waits on the COPY."""
    o, q, log = schema.observations, schema.quarantine, schema.partition_log
    touched = sorted({day for p in payloads for day in p.days})
    db.ensure_observation_partitions(engine, touched)
    goods = [p.good.assign(source=source, payload_id=p.payload_id) for p in payloads if len(p.good)]
    incoming = pd.concat(goods, ignore_index=True) if goods else pd.DataFrame(columns=db.OBSERVATION_COLUMNS)
    totals = {"new": 0, "revised": 0, "unchanged": 0}
    with engine.begin() as connection:
        for day in touched:  # the locks every writer takes, in one order
            db.partition_lock(connection, "observations", source, day)
        from warehouse import stewardship  # under the locks: an action committed before is seen (issue 25)

        incoming = stewardship.applied(connection, source, incoming)
        stored = pd.DataFrame(columns=[*MERGE_KEY, *REVISION_COLUMNS, "batch_id", "payload_id", "stewardship_id"])
        if len(incoming):
            occupied = sorted(day for (day,) in connection.execute(
                select(o.c.partition_day).where(o.c.source == source, o.c.partition_day.in_(touched))
                .group_by(o.c.partition_day)).all())
            if occupied:
                columns = [*MERGE_KEY, *REVISION_COLUMNS, "batch_id", "payload_id", "stewardship_id"]
                stored = read(connection, select(*(_as_text(o, c, {"observed_at"}) for c in columns)).where(
                    o.c.source == source, o.c.partition_day.in_(occupied)), columns, times=["observed_at"])
                stored["value"] = pd.to_numeric(stored["value"]).astype("float64")
        written, history, revisions = merge_versions(stored, incoming)
        if len(history):
            fill(connection, schema.observation_history,
                 history.assign(source=source, superseded_at=schema.utc_now()), HISTORY_COLUMNS)
        replacing = written.merge(stored[MERGE_KEY], on=MERGE_KEY, how="left", indicator=True)["_merge"].eq("both") \
            if len(stored) and len(written) else pd.Series(False, index=written.index)
        fill(connection, o, written[~replacing.to_numpy()], db.OBSERVATION_COLUMNS)
        _upsert(connection, o, written[replacing.to_numpy()], db.KEY_COLUMNS)
        for p in payloads:
            p.revised = int(revisions.get(p.payload_id, 0))
            if p.days:  # its earlier quarantined rows (same content, same batch id) are replaced
                connection.execute(delete(q).where(q.c.source == source, q.c.batch_id == p.batch_id,
                                                   q.c.partition_day.in_(p.days)))
        held = [p.quarantined.assign(source=source, _order=n) for n, p in enumerate(payloads) if len(p.quarantined)]
        if held:
            held = pd.concat(held, ignore_index=True)
            last = held.groupby(["batch_id", "partition_day"])["_order"].transform("max")
            fill(connection, q, held[held["_order"] == last], db.QUARANTINE_COLUMNS)
        if after_merge is not None:
            after_merge(connection)
        _write_partition_log(connection, source, domain, suite_name, payloads, touched)
        for p in payloads:  # computed meanwhile in the caller's thread: waited for here, under the locks
            if isinstance(p.published, Future):
                p.published = p.published.result()
        published = [p.published.assign(payload_id=p.payload_id) for p in payloads
                     if p.published is not None and len(p.published)]
        if published:
            published = pd.concat(published, ignore_index=True).drop_duplicates(
                subset=["source", "station_id", "observed_at"], keep="last")
            table = schema.published_results
            db.partition_lock(connection, "published_results", source)  # two payloads may share an hour
            _delete_keys(connection, table, published, ["source", "station_id", "observed_at"],
                         [table.c.source == source])
            fill(connection, table, published, [c.name for c in table.c])
        if len(incoming):
            db._advance_watermark(connection, source, incoming["observed_at"].max().to_pydatetime())
        for p in payloads:
            db._update_payload(connection, p.payload_id, status="stored", error=None, retryable=None, **p.log)
    totals["revised"] = int(revisions.sum()) if len(revisions) else 0
    totals["new"] = len(written) - totals["revised"]
    totals["unchanged"] = len(incoming) - len(written)
    return totals


def _write_partition_log(connection: Connection, source: str, domain: str, suite_name: str,
                         payloads: list[PayloadRows], touched: list[date]) -> None:
    """The log row of each touched partition as the last payload that touched it leaves it: that
    payload's batch id and the partition's counts."""
    if not touched:
        return
    o, q, log = schema.observations, schema.quarantine, schema.partition_log
    counts = {}
    for table, name in ((o, "loaded"), (q, "quarantined")):
        for day, n in connection.execute(select(table.c.partition_day, func.count()).where(
                table.c.source == source, table.c.partition_day.in_(touched)).group_by(table.c.partition_day)).all():
            day = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
            counts.setdefault(day, {})[name] = n
    batch_of = {}
    for p in payloads:
        for day in p.days:
            batch_of[day] = p.batch_id
    now = schema.utc_now()
    connection.execute(delete(log).where(log.c.source == source, log.c.partition_day.in_(touched)))
    rows = []
    for day in touched:
        loaded, held = counts.get(day, {}).get("loaded", 0), counts.get(day, {}).get("quarantined", 0)
        rows.append({"source": source, "partition_day": day, "domain": domain, "batch_id": batch_of[day],
                     "rows_read": loaded + held, "rows_loaded": loaded, "rows_quarantined": held,
                     "suite_name": suite_name, "loaded_at": now})
    connection.execute(insert(log), rows)


# --- day rollups and assessments of many days ---------------------------------------------------

def replace_day_rollups(engine: Engine, days, frame: pd.DataFrame) -> None:
    """The day rollups of `days` become exactly `frame`'s rows (db.replace_rollups of each day), in
    one transaction under the same locks."""
    r = schema.rollups
    days = sorted(set(days))
    if not days:
        return
    with engine.begin() as connection:
        for day in days:
            db.partition_lock(connection, "rollups", "day", day)
        connection.execute(delete(r).where(r.c.period == "day", r.c.period_start.in_(days)))
        fill(connection, r, frame, db.ROLLUP_COLUMNS)


def replace_day_assessments(engine: Engine, days, rows: list[dict], domains=("surface_water", "seawater", "air")) -> None:
    """The day assessments of `domains` on `days` become exactly `rows` (db.replace_assessments of
    each domain and day), in one transaction under the same locks: a stored result that a row
    computed under another rule version replaces goes to assessment_history first."""
    a = schema.assessments
    days = sorted(set(days))
    if not days:
        return
    with engine.begin() as connection:
        for day in days:
            for domain in domains:
                db.partition_lock(connection, "assessments", domain, "day", day)
        stored = connection.execute(select(a).where(a.c.period == "day", a.c.period_start.in_(days),
                                                    a.c.domain.in_(list(domains)))).mappings().all()
        if stored:
            incoming = {(row["domain"], row["period_start"], row["station_id"]): row for row in rows}
            replaced = []
            for row in stored:
                start = row["period_start"] if isinstance(row["period_start"], date) else \
                    date.fromisoformat(str(row["period_start"])[:10])
                key = (row["domain"], start, row["station_id"])
                if db.is_superseded(dict(row), incoming.get(key)):  # other rules, or another target (issue 23)
                    replaced.append({**dict(row), "superseded_by_rule_version": incoming[key].get("rule_version")})
            if replaced:
                from pipelines.clock import now

                superseded_at = now()
                connection.execute(insert(schema.assessment_history),
                                   [{**row, "superseded_at": superseded_at} for row in replaced])
            connection.execute(delete(a).where(a.c.period == "day", a.c.period_start.in_(days),
                                               a.c.domain.in_(list(domains))))
        if rows:
            connection.execute(insert(a), rows)
