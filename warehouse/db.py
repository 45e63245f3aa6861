"""Connecting, migrating, loading and querying the warehouse. Every SQL statement of envmon
lives here or in warehouse/schema.py."""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime, timezone
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import (
    Engine, MetaData, and_, create_engine, delete, event, func, insert, or_, select, text, true, update,
)
from sqlalchemy.engine import Connection

from warehouse import schema

ALEMBIC_INI = Path(__file__).parent / "alembic.ini"


CONNECT_TIMEOUT_SECONDS = 5  # ENVMON_DB_CONNECT_TIMEOUT: an unreachable server is reported within seconds


class WarehouseUnreachable(RuntimeError):
    """The warehouse cannot be reached: the message is the one line a person needs."""


@cache
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    options = {}
    if url.startswith("postgresql"):
        timeout = int(os.environ.get("ENVMON_DB_CONNECT_TIMEOUT") or CONNECT_TIMEOUT_SECONDS)
        # pre-ping: a pooled connection the server has closed (restart, pg_terminate_backend) is
        # replaced at checkout instead of failing the next statement
        options = {"connect_args": {"connect_timeout": timeout}, "pool_pre_ping": True}
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def operational_reason(error: BaseException) -> str:
    """One line for an error of the database or the disk: the driver's first line, without
    SQLAlchemy's statement and background link."""
    cause = getattr(error, "orig", None) or error
    text_ = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text_[0] if text_ else ''}".rstrip(": ")


def check_reachable(url: str) -> None:
    """The pre-flight check of every command that needs the warehouse: connect once, with the
    connect timeout, and raise WarehouseUnreachable with one line if that fails."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.engine import make_url

    try:
        with engine_for(url).connect() as connection:
            connection.execute(text("SELECT 1"))
    except (DBAPIError, OSError) as error:
        shown = make_url(url).render_as_string(hide_password=True)
        raise WarehouseUnreachable(f"cannot reach the warehouse at {shown}: {operational_reason(error)}") from error


def lock_key(*key) -> int:
    """A stable signed 64-bit key of an advisory lock (PostgreSQL) for a tuple of names."""
    digest = hashlib.blake2b("\x1f".join(map(str, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # the wait first: switching a new file to WAL needs a moment's lock another process may hold
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the dashboard) never block the nightly load
    cursor.close()


def partition_lock(connection: Connection, *key) -> None:
    """Serialise the read-modify-writes of one partition (`key`, e.g. ("observations", source,
    day)): call it as the first statement of the transaction that reads the partition and then
    rewrites it. Without it, two loads at once each delete what the other just committed, or both
    insert the same keys. PostgreSQL: a transaction-scoped advisory lock on a stable 64-bit hash of
    the key (the read after it, under READ COMMITTED, sees what the previous holder committed).
    SQLite has no such locks: BEGIN IMMEDIATE takes the database's write lock before the read, and
    a concurrent writer waits for it (busy_timeout) instead of failing."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(*key)})
    elif connection.dialect.name == "sqlite":
        # pysqlite issues its own (deferred) BEGIN only before the first INSERT/UPDATE/DELETE, so a
        # read before it is outside the transaction: begin it here. Already in one = a write has
        # happened, so this connection holds the write lock already.
        if not connection.connection.driver_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def day_lock(engine: Engine, name: str, day: date):
    """Hold a lock on (name, day) across several transactions: a day's assessments are computed
    from a read of its observations and written afterwards, and a second computation at the same
    time must not write from a read that missed the first one's payload. PostgreSQL: a session
    advisory lock on a connection of its own; SQLite: an exclusive file lock beside the database."""
    if engine.dialect.name == "postgresql":
        key = lock_key(name, day)
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield  # one process holds the whole database
        return
    import fcntl

    with open(f"{database}.{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_RANGE_LOCK_FILES: dict[str, int] = {}


@contextmanager
def payload_lock(engine: Engine, payload_id: int, wait: bool = True):
    """Held while a payload is being ingested, so that `envmon ingest --resume` takes up only the
    payloads nobody is working on: a payload left `received` by a process that is still running is
    not one left by a process that was killed. Yields whether the lock was had (wait=False may not
    have it). The lock goes with its holder: a killed process's PostgreSQL session ends, and so do
    its file locks. PostgreSQL: a session advisory lock on a connection of its own; SQLite: a lock
    on byte `payload_id` of one file beside the database (POSIX record locks belong to the
    process, so the file stays open for the life of the process: closing any descriptor of it would
    drop every lock the process holds on it)."""
    if engine.dialect.name == "postgresql":
        key = lock_key("payload", payload_id)
        connection, held = engine.connect(), False
        try:
            if wait:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                held = True
            else:
                held = bool(connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
            connection.commit()  # a session lock outlives the transaction: no transaction stays open
            yield held
        finally:
            with contextlib.suppress(Exception):  # a session that has gone took its lock with it
                if held:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    connection.commit()
            with contextlib.suppress(Exception):
                connection.close()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield True
        return
    held = _lock_payload_byte(database, payload_id, wait)
    try:
        yield held
    finally:
        if held:
            _unlock_payload_byte(database, payload_id)


def _lock_payload_byte(database: str, payload_id: int, wait: bool) -> bool:
    """SQLite has no advisory locks: a payload's lock is byte `payload_id` of a file beside the
    database (fcntl record locks, released by the kernel when the process dies)."""
    import fcntl

    path = f"{database}.payloads.lock"
    descriptor = _RANGE_LOCK_FILES.get(path)
    if descriptor is None:
        descriptor = _RANGE_LOCK_FILES[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB), 1, payload_id)
        return True
    except OSError:
        if wait:
            raise
        return False


def _unlock_payload_byte(database: str, payload_id: int) -> None:
    import fcntl

    descriptor = _RANGE_LOCK_FILES.get(f"{database}.payloads.lock")
    if descriptor is not None:
        fcntl.lockf(descriptor, fcntl.LOCK_UN, 1, payload_id)


class PayloadLocks:
    """The locks of payload_lock for many payloads at once (the archive path of `envmon ingest`
    holds those of a whole batch): PostgreSQL, session advisory locks on ONE connection of its
    own, not one connection each; SQLite, the same byte-range locks payload_lock takes. `add`
    returns whether the lock was had (wait=False may not have it); `release` lets go of them all."""

    def __init__(self, engine: Engine):
        self.engine, self.held, self._connection = engine, [], None

    def add(self, payload_id: int, wait: bool = True) -> bool:
        engine = self.engine
        if engine.dialect.name == "postgresql":
            if self._connection is None:
                self._connection = engine.connect()
            key = lock_key("payload", payload_id)
            if wait:
                self._connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                held = True
            else:
                held = bool(self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
            self._connection.commit()
        elif engine.dialect.name == "sqlite" and engine.url.database and engine.url.database != ":memory:":
            held = _lock_payload_byte(engine.url.database, payload_id, wait)
        else:
            held = True
        if held:
            self.held.append(payload_id)
        return held

    def release(self, payload_ids=None) -> None:
        """Let go of the locks of `payload_ids` (default: all held)."""
        chosen = list(self.held) if payload_ids is None else [p for p in payload_ids if p in self.held]
        for payload_id in chosen:
            self.held.remove(payload_id)
            with contextlib.suppress(Exception):  # a session that has gone took its locks with it
                if self.engine.dialect.name == "postgresql" and self._connection is not None:
                    self._connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                             {"key": lock_key("payload", payload_id)})
                    self._connection.commit()
                elif self.engine.dialect.name == "sqlite":
                    _unlock_payload_byte(self.engine.url.database, payload_id)
        if not self.held and self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def payload_ids_loaded_with(engine: Engine, source: str, sha256s) -> dict[str, dict]:
    """The newest `loaded` payload of `source` with each content (sha256), if any: the archive path
    of `envmon ingest` does not ingest again what the log already holds as loaded."""
    table = schema.payloads
    wanted = sorted(set(sha256s))
    if not wanted:
        return {}
    query = (select(table).where(table.c.source == source, table.c.status == "loaded", table.c.sha256.in_(wanted))
             .order_by(table.c.payload_id))
    with engine.connect() as connection:
        return {row["sha256"]: dict(row) for row in connection.execute(query).mappings().all()}


def mark_loaded(engine: Engine, payload_ids) -> None:
    """Payloads stored and their days assessed: `loaded`, in one statement."""
    ids = sorted(set(payload_ids))
    if not ids:
        return
    table = schema.payloads
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.payload_id.in_(ids)).values(
            status="loaded", error=None, retryable=None, updated_at=schema.utc_now()))


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to an Alembic revision, the newest by default."""
    from alembic import command  # imported when a migration is asked for: a second of a short command's start
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(ALEMBIC_INI.parent / "migrations"))
    with engine.begin() as connection:
        # two processes starting on a fresh warehouse at once (two ingests, two runs) would both
        # create the tables: the second waits for the first, then finds the schema current
        partition_lock(connection, "migrate")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        from warehouse import registry_store  # the registry's seed, version 1, on the first migration (0016)

        registry_store.ensure_seeded(connection)
    registry_store.use_warehouse_registry(engine)  # this process's registry: the warehouse's version in force


def _normalised(value):
    """One representation per value, so rows read back compare equal to rows about to be written."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()  # numpy scalars
    return value


def records(frame: pd.DataFrame, columns) -> list[dict]:
    """Rows as dicts of exactly `columns`; a column the frame lacks is NULL."""
    frame = frame.reindex(columns=list(columns))
    subset = frame.astype(object).where(frame.notna(), None)
    return [{k: _normalised(v) for k, v in row.items()} for row in subset.to_dict(orient="records")]


def _row_key(row: dict, columns) -> tuple:
    return tuple(_normalised(row.get(column)) for column in columns)


def replace_partition(connection: Connection, table, filters: dict, rows: list[dict]) -> bool:
    """Make the rows of `table` matching `filters` exactly `rows`, writing nothing when they
    already are (an unchanged re-run touches no row). Returns whether anything was written."""
    columns = sorted(rows[0]) if rows else []
    condition = and_(*(table.c[name] == value for name, value in filters.items()))
    if columns:
        existing = connection.execute(select(*(table.c[c] for c in columns)).where(condition)).mappings().all()
        unchanged = Counter(_row_key(r, columns) for r in existing) == Counter(_row_key(r, columns) for r in rows)
        if unchanged:
            return False
    else:
        count = connection.execute(select(table.c[next(iter(filters))]).where(condition).limit(1)).first()
        if count is None:
            return False
    connection.execute(delete(table).where(condition))
    if rows:
        connection.execute(insert(table), rows)
    return True


def sync_reference_tables(connection: Connection, stations: pd.DataFrame, parameters: pd.DataFrame) -> None:
    """The registry and parameter table as the warehouse's own tables, for joins and exports. Two
    processes preparing the warehouse at once (two runs, two ingests) take turns: each would
    otherwise delete and insert the same rows."""
    partition_lock(connection, "reference_tables")
    replace_partition(connection, schema.stations, {}, records(stations, [c.name for c in schema.stations.c]))
    replace_partition(connection, schema.parameters, {}, records(parameters, [c.name for c in schema.parameters.c]))


OBSERVATION_COLUMNS = [c.name for c in schema.observations.c]
QUARANTINE_COLUMNS = [c.name for c in schema.quarantine.c if c.name != "quarantine_id"]


def load_partition(engine: Engine, source: str, day: date, good: pd.DataFrame, quarantined: pd.DataFrame,
                   log_row: dict) -> bool:
    """Load one (source, day) partition idempotently, in one transaction: the batch goes to a
    staging table (COPY on PostgreSQL), rows the batch no longer holds are deleted, and one
    set-based upsert writes only the rows whose values differ. Returns whether anything changed."""
    ensure_observation_partitions(engine, [day])
    with engine.begin() as connection:
        partition_lock(connection, "observations", source, day)  # the same key as merge_partition
        from warehouse import stewardship  # a value withdrawn or re-flagged stays so (issue 25)

        good = stewardship.applied(connection, source, good)
        changed = replace_observations(connection, source, day, good)
        changed |= replace_partition(connection, schema.quarantine,
                                     {"source": source, "partition_day": day},
                                     records(quarantined, QUARANTINE_COLUMNS))
        log_filter = {"source": source, "partition_day": day}
        existing = connection.execute(
            select(schema.partition_log).where(and_(*(schema.partition_log.c[k] == v for k, v in log_filter.items())))
        ).mappings().first()
        comparable = {k: v for k, v in log_row.items() if k != "loaded_at"}
        if existing is None:
            connection.execute(insert(schema.partition_log), [{**log_row}])
            changed = True
        elif changed or any(existing[k] != v for k, v in comparable.items()):
            connection.execute(update(schema.partition_log).where(
                and_(*(schema.partition_log.c[k] == v for k, v in log_filter.items()))).values(**log_row))
            changed = True
    return changed


KEY_COLUMNS = [c.name for c in schema.observations.primary_key.columns]
STAGING = "staging_observations"


def _staging_table():
    from sqlalchemy import Table

    return Table(STAGING, MetaData(), *(c._copy() for c in schema.observations.c), prefixes=["TEMPORARY"])


# binary COPY needs each column's PostgreSQL type
_POSTGRES_COPY_TYPES = {"String": "text", "Text": "text", "UtcDateTime": "timestamptz", "Date": "date",
                        "Integer": "int4", "Float": "float8", "Boolean": "bool"}


def _as_integers(column: pd.Series) -> pd.Series:
    """An integer column that may hold missing values (NaN in a float column), as Python ints and
    None: binary COPY of int4 takes no floats."""
    return pd.Series([None if pd.isna(v) else int(v) for v in column.tolist()], index=column.index, dtype=object)


def _copy_values(column: pd.Series) -> list:
    """A column as Python values for COPY, missing as None (column-wise: far faster than per cell)."""
    missing = column.isna()
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        values = column.dt.to_pydatetime()
    else:
        values = column.to_numpy(dtype=object)
    if missing.any():
        values = np.where(missing.to_numpy(), None, values)
    return values.tolist()


def _fill(connection: Connection, staging, frame: pd.DataFrame) -> None:
    """Write the frame into a table: COPY on PostgreSQL (a CSV buffer Arrow writes column-wise; the
    row-by-row binary COPY where Arrow cannot take a column as its table's type), executemany
    elsewhere."""
    columns = [c.name for c in staging.c]
    frame = frame.reindex(columns=columns)
    if connection.dialect.name == "postgresql":
        buffer = _arrow_csv(staging, frame)
        cursor = connection.connection.driver_connection.cursor()
        if buffer is not None:
            with cursor.copy(f"COPY {staging.name} ({', '.join(columns)}) FROM STDIN (FORMAT CSV)") as copy:
                copy.write(buffer)
            return
        rows = zip(*(_copy_values(_as_integers(frame[c.name]) if type(c.type).__name__ == "Integer" else frame[c.name])
                     for c in staging.c))
        with cursor.copy(f"COPY {staging.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([_POSTGRES_COPY_TYPES[type(c.type).__name__] for c in staging.c])
            for row in rows:
                copy.write_row(row)
        return
    connection.execute(insert(staging), records(frame, columns))


# What Arrow must have made of a column for its CSV to read back as the table's type: a text column
# only text (a number would be written unquoted and bare), times only with their zone.
def _arrow_kinds():
    import pyarrow as pa

    text = (pa.types.is_string, pa.types.is_large_string)
    return {"String": text, "Text": text, "Integer": (pa.types.is_integer,),
            "UtcDateTime": (lambda kind: pa.types.is_timestamp(kind) and kind.tz is not None,),
            "Date": (pa.types.is_date32,), "Float": (pa.types.is_floating, pa.types.is_integer),
            "Boolean": (pa.types.is_boolean,)}


def _arrow_csv(table, frame: pd.DataFrame) -> bytes | None:
    """The frame as CSV for COPY ... (FORMAT CSV), written by Arrow column-wise: text always quoted,
    so an empty string stays one and a missing value (unquoted, empty) is NULL; floats in their
    shortest exact form; times as ISO with their offset. None where a column is not of its table
    type's kind (then the caller writes row by row)."""
    import pyarrow as pa
    import pyarrow.csv as arrow_csv

    try:
        arrow = pa.Table.from_arrays([_arrow_column(frame[c.name], type(c.type).__name__) for c in table.c],
                                     names=[c.name for c in table.c]).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return None
    kinds = _arrow_kinds()
    for column in table.c:
        kind = arrow.schema.field(column.name).type
        if not (pa.types.is_null(kind) or any(is_kind(kind) for is_kind in kinds[type(column.type).__name__])):
            return None
    buffer = pa.BufferOutputStream()   # one chunk per column: the writer garbled columns chunked unlike each other
    arrow_csv.write_csv(arrow, buffer, arrow_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return buffer.getvalue().to_pybytes()


def _arrow_column(column: pd.Series, kind: str):
    """A column for Arrow: NULLs where nothing is known (a column the frame lacked comes as NaN),
    integers of a float column (NaN for missing) as integers."""
    import pyarrow as pa

    missing = column.isna()
    if missing.all():   # typed: the CSV writer's cast of an untyped null column read stray memory
        kind_of = {"String": pa.large_string(), "Text": pa.large_string(), "Integer": pa.int64(),
                   "Float": pa.float64(), "UtcDateTime": pa.timestamp("us", tz="UTC"), "Date": pa.date32(),
                   "Boolean": pa.bool_()}
        return pa.array([None] * len(column), type=kind_of[kind])
    if kind == "Integer" and pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy()
        if not np.array_equal(values[~missing.to_numpy()], np.round(values[~missing.to_numpy()])):
            raise ValueError("an integer column holds fractions")
        return pa.array(column.astype("Int64"), from_pandas=True)
    return pa.array(column, from_pandas=True)


# --- many rows read at once: COPY out, parsed by Arrow column-wise (issue 27) ---------------------
# The assessment of an archive reads back a month of what it loaded (10^5-10^6 rows): through the
# driver that is a Python tuple per row and a pandas inference per column; COPY ... TO STDOUT hands
# PostgreSQL's CSV to Arrow, which parses it into typed columns at once.

def _arrow_read_types():
    import pyarrow as pa

    return {"String": pa.string(), "Text": pa.string(), "Integer": pa.int64(), "Float": pa.float64(),
            "Boolean": pa.bool_(), "UtcDateTime": pa.timestamp("us", tz="UTC"), "Date": pa.date32()}


def copied_rows(connection: Connection, query, columns: list[str], times=(), days=()) -> pd.DataFrame | None:
    """On PostgreSQL, the rows of `query` (a select of `columns`, in that order) as the frame pandas
    makes of the driver's rows column by column (`pd.DataFrame({column: list of values})`: text as
    str with NaN where NULL, integers as int64 or, with a NULL, float64, a column of NULLs only as
    None objects, no rows as empty columns), read through one COPY (query) TO STDOUT (FORMAT CSV)
    that Arrow parses into typed columns: `times` (text or timestamptz) as UTC timestamps and `days`
    as dates already. None on other databases, or where a column's type, a bound value or the text
    does not go through Arrow (then the caller reads the rows through the driver)."""
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":   # COPY: psycopg 3's
        return None
    import pyarrow as pa
    import pyarrow.csv as arrow_csv

    kinds = _arrow_read_types()
    types = {}
    for name, column in zip(columns, query.selected_columns, strict=True):
        kind = "UtcDateTime" if name in times else "Date" if name in days else type(column.type).__name__
        if kind not in kinds:
            return None
        types[name] = kinds[kind]
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    if any(bind.type.bind_processor(connection.dialect) is not None for bind in compiled.binds.values()):
        return None   # a value SQLAlchemy converts before binding: the driver's path converts it
    cursor = connection.connection.driver_connection.cursor()
    # the values merged client-side by psycopg (COPY takes no parameters), as it binds them
    with cursor.copy(f"COPY ({compiled.string}) TO STDOUT (FORMAT CSV, ENCODING 'UTF8')", compiled.params) as copy:
        data = b"".join(copy)
    if not data:
        return pd.DataFrame({c: [] for c in columns}, columns=columns)
    try:
        table = arrow_csv.read_csv(
            pa.py_buffer(data),
            read_options=arrow_csv.ReadOptions(column_names=columns),
            # a text value may hold a newline (quoted); an empty line is a row whose one column is NULL
            parse_options=arrow_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            # NULL is unquoted and empty, an empty text "" (quoted); booleans are t and f
            convert_options=arrow_csv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                                     quoted_strings_can_be_null=False, true_values=["t"],
                                                     false_values=["f"]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):   # e.g. a time PostgreSQL writes as 'infinity'
        return None
    frame = {}
    for name in columns:
        column = table.column(name)
        if column.null_count == len(column):
            frame[name] = np.full(len(column), None, dtype=object)   # as pandas makes of a list of None
        elif name in days:
            frame[name] = column.to_pandas(date_as_object=True)
        else:
            frame[name] = column.to_pandas()
    return pd.DataFrame(frame, columns=columns)


def ensure_observation_partitions(engine: Engine, days) -> None:
    """On PostgreSQL, the monthly partitions of observations that rows of `days` go to, each made in
    a short transaction of its own: creating a partition locks the parent table, which a load must
    not hold for its whole length. The advisory lock keeps two sources loading in parallel from
    creating the same partition at once; a month that has its partition costs one catalog lookup."""
    if engine.dialect.name != "postgresql":
        return
    for month in sorted({date(day.year, day.month, 1) for day in days}):
        name = schema.observation_partition_name(month)
        with engine.begin() as connection:
            if connection.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is not None:
                continue
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('envmon observation partitions'))"))
            following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
            connection.execute(text(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF observations "
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')"))


def replace_observations(connection: Connection, source: str, day: date, good: pd.DataFrame) -> bool:
    o = schema.observations
    batch = good.assign(source=source, partition_day=day)
    partition = and_(o.c.source == source, o.c.partition_day == day)
    if connection.execute(select(o.c.source).where(partition).limit(1)).first() is None:
        _fill(connection, o, batch)  # a new partition: straight in, no conflicts to resolve
        return bool(len(good))
    staging = _staging_table()
    staging.drop(connection, checkfirst=True)
    staging.create(connection)
    try:
        _fill(connection, staging, batch)
        same_key = and_(*(staging.c[k] == o.c[k] for k in KEY_COLUMNS))
        gone = connection.execute(delete(o).where(o.c.source == source, o.c.partition_day == day,
                                                  ~select(staging.c.source).where(same_key).exists()))
        values = [c.name for c in o.c if c.name not in KEY_COLUMNS]
        if connection.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert
        # `WHERE true`: SQLite cannot otherwise tell ON CONFLICT from a join constraint after SELECT
        statement = upsert(o).from_select([c.name for c in o.c], select(*staging.c).where(true()))
        differs = or_(*(o.c[v].is_distinct_from(statement.excluded[v]) for v in values))
        statement = statement.on_conflict_do_update(index_elements=KEY_COLUMNS,
                                                    set_={v: statement.excluded[v] for v in values}, where=differs)
        # rowcount of INSERT … SELECT … ON CONFLICT is not reported by every driver: count what it returns
        if connection.dialect.name == "postgresql":
            upserted = statement.returning(o.c.source).cte("upserted")
            written = connection.execute(select(func.count()).select_from(upserted)).scalar()
        else:
            written = len(connection.execute(statement.returning(o.c.source)).all())
        return bool(gone.rowcount or written)
    finally:
        staging.drop(connection, checkfirst=True)


def series_context(engine: Engine, source: str, first: date, last: date) -> pd.DataFrame:
    """The stored readings of a source from day `first` to `last`, as neighbours for the QC series
    tests (only the columns they read)."""
    o = schema.observations
    columns = ["station_id", "parameter", "averaging_period", "layer", "observed_at", "value", "censoring"]
    query = select(*(o.c[c] for c in columns)).where(o.c.source == source, o.c.partition_day >= first,
                                                     o.c.partition_day <= last)
    with engine.connect() as connection:
        frame = _frame(connection, query, columns)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    frame["value"] = frame["value"].astype("float64")
    return frame


def partition_batch(engine: Engine, source: str, day: date) -> str | None:
    """The batch id the (source, day) partition was last loaded from: a content hash."""
    log = schema.partition_log
    with engine.connect() as connection:
        return connection.execute(select(log.c.batch_id).where(log.c.source == source, log.c.partition_day == day)).scalar()


def observations_for_day(engine: Engine, day: date, station_ids=None) -> pd.DataFrame:
    query = select(schema.observations).where(schema.observations.c.partition_day == day)
    if station_ids is not None:
        query = query.where(schema.observations.c.station_id.in_(list(station_ids)))
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=OBSERVATION_COLUMNS)


def replace_assessments(engine: Engine, domain: str, day: date, rows: list[dict], period: str = "day") -> bool:
    """Make the (domain, period, day) assessments exactly `rows`. A stored result that a row computed
    under another rule version replaces goes to assessment_history first: what was reported then
    stays beside what the rules in force say now. (A recomputation under the same rules, after a
    data revision, replaces it in place, as before.)"""
    with engine.begin() as connection:
        partition_lock(connection, "assessments", domain, period, day)
        _keep_superseded_rule_versions(connection, domain, period, day, rows)
        return replace_partition(connection, schema.assessments,
                                 {"domain": domain, "period": period, "period_start": day}, rows)


ASSESSMENT_COLUMNS = [c.name for c in schema.assessments.c]


def is_superseded(stored: dict, incoming: dict | None) -> bool:
    """Whether a stored result that `incoming` replaces is kept in assessment_history: computed under
    another rule version, or against another target (its class or status: a registry version changed
    it, issue 23). A recomputation under the same rules and target, after a data revision, is not."""
    if incoming is None:
        return False
    def differs(column):
        return _normalised(incoming.get(column)) != _normalised(stored.get(column))
    # a row written before 0016 has no target_status: recording it now replaces nothing
    status_changed = stored.get("target_status") is not None and differs("target_status")
    return differs("rule_version") or differs("target_class") or status_changed


def _keep_superseded_rule_versions(connection: Connection, domain: str, period: str, day: date, rows: list[dict]) -> None:
    a = schema.assessments
    incoming = {row["station_id"]: row for row in rows}
    stored = connection.execute(select(a).where(a.c.domain == domain, a.c.period == period,
                                                a.c.period_start == day)).mappings().all()
    replaced = [dict(row) for row in stored if is_superseded(dict(row), incoming.get(row["station_id"]))]
    if replaced:
        from pipelines.clock import now

        superseded_at = now()
        connection.execute(insert(schema.assessment_history), [
            {**row, "superseded_at": superseded_at,
             "superseded_by_rule_version": incoming[row["station_id"]].get("rule_version")}
            for row in replaced])


def assessment_partitions(engine: Engine, first: date, last: date) -> list[tuple[str, str, date]]:
    """The (domain, period, period_start) partitions of stored assessments from `first` to `last`."""
    a = schema.assessments
    query = (select(a.c.domain, a.c.period, a.c.period_start).distinct()
             .where(a.c.period_start >= first, a.c.period_start <= last)
             .order_by(a.c.period_start, a.c.domain, a.c.period))
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query).all()]


def assessments_between(engine: Engine, first: date, last: date) -> pd.DataFrame:
    a = schema.assessments
    query = select(a).where(a.c.period_start >= first, a.c.period_start <= last).order_by(
        a.c.period_start, a.c.domain, a.c.period, a.c.station_id)
    with engine.connect() as connection:
        return _frame(connection, query, ASSESSMENT_COLUMNS)


def read_table(engine: Engine, table_name: str, order_by=None) -> pd.DataFrame:
    table = schema.metadata.tables[table_name]
    query = select(table)
    if order_by:
        query = query.order_by(*(table.c[c] for c in order_by))
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in table.c])


def read_observations_with_names(engine: Engine) -> pd.DataFrame:
    o, s = schema.observations, schema.stations
    query = (
        select(o.c.station_id, s.c.name_zh.label("station_name"), o.c.parameter, o.c.observed_at,
               o.c.utc_offset_minutes, o.c.averaging_period, o.c.value, o.c.unit, o.c.qc_flag, o.c.qc_note,
               o.c.source, o.c.batch_id, o.c.original_value, o.c.partition_day)
        .join(s, s.c.station_id == o.c.station_id, isouter=True)
        .order_by(o.c.source, o.c.station_id, o.c.parameter, o.c.observed_at)
    )
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all())


def assessments_for_day(engine: Engine, day: date) -> list[dict]:
    query = select(schema.assessments).where(schema.assessments.c.period == "day",
                                             schema.assessments.c.period_start == day)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]


def partition_log_for_days(engine: Engine, days) -> list[dict]:
    query = select(schema.partition_log).where(schema.partition_log.c.partition_day.in_(list(days)))
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]


def counts_for_days(engine: Engine, table_name: str, column: str, days) -> dict[str, dict[str, int]]:
    """Rows of observations or quarantine on `days`, counted per source and per value of `column`
    (qc_flag, expectation)."""
    table = {"observations": schema.observations, "quarantine": schema.quarantine}[table_name]
    query = (select(table.c.source, table.c[column], func.count()).where(table.c.partition_day.in_(list(days)))
             .group_by(table.c.source, table.c[column]))
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        for source, value, count in connection.execute(query).all():
            counts.setdefault(source, {})[value] = count
    return counts


def assessments_for_days(engine: Engine, days) -> list[dict]:
    query = select(schema.assessments).where(schema.assessments.c.period == "day",
                                             schema.assessments.c.period_start.in_(list(days)))
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]


def observations_for_partition(engine: Engine, source: str, day: date) -> pd.DataFrame:
    query = select(schema.observations).where(schema.observations.c.source == source,
                                              schema.observations.c.partition_day == day)
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all(), columns=OBSERVATION_COLUMNS)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    return frame


def quarantine_for_partition(engine: Engine, source: str, day: date) -> pd.DataFrame:
    query = select(*(schema.quarantine.c[c] for c in QUARANTINE_COLUMNS)).where(
        schema.quarantine.c.source == source, schema.quarantine.c.partition_day == day)
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=QUARANTINE_COLUMNS)


# --- real sources: payload log, merge with history, published results, watermarks ------------

KEY = ["station_id", "parameter", "observed_at", "averaging_period", "layer"]
REVISION_COLUMNS = ["value", "original_value", "qc_flag", "censoring"]


def insert_payload(engine: Engine, row: dict) -> int:
    with engine.begin() as connection:
        result = connection.execute(insert(schema.payloads).returning(schema.payloads.c.payload_id),
                                    [{"updated_at": schema.utc_now(), **row}])
        return int(result.scalar_one())


def update_payload(engine: Engine, payload_id: int, **values) -> None:
    with engine.begin() as connection:
        _update_payload(connection, payload_id, **values)


def _update_payload(connection: Connection, payload_id: int, **values) -> None:
    table = schema.payloads
    connection.execute(update(table).where(table.c.payload_id == payload_id)
                       .values(updated_at=schema.utc_now(), **values))


def begin_attempt(engine: Engine, payload_id: int) -> int:
    """Count one more attempt at a payload; returns the count."""
    table = schema.payloads
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.payload_id == payload_id).values(
            attempts=table.c.attempts + 1, updated_at=schema.utc_now()))
        return int(connection.execute(select(table.c.attempts).where(table.c.payload_id == payload_id)).scalar())


def get_payload(engine: Engine, payload_id: int) -> dict | None:
    with engine.connect() as connection:
        row = connection.execute(select(schema.payloads).where(schema.payloads.c.payload_id == payload_id)).mappings().first()
    return dict(row) if row else None


UNFINISHED = ("received", "stored")  # and failed with retryable true


def unfinished_payloads(engine: Engine, source: str | None = None) -> list[dict]:
    """Payloads a fault left unfinished, oldest first: `received` (nothing stored: the ingest was
    killed, or is still running), `stored` (its rows committed, its days not yet assessed) and
    `failed` for a reason that was not the payload's content (retryable)."""
    table = schema.payloads
    query = select(table).where(or_(table.c.status.in_(UNFINISHED),
                                    and_(table.c.status == "failed", table.c.retryable.is_(True))))
    if source is not None:
        query = query.where(table.c.source == source)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query.order_by(table.c.payload_id)).mappings().all()]


def _frame(connection: Connection, query, columns) -> pd.DataFrame:
    return pd.DataFrame(connection.execute(query).mappings().all(), columns=columns)


def advance_watermark(engine: Engine, source: str, newest: datetime) -> None:
    with engine.begin() as connection:
        _advance_watermark(connection, source, newest)


def _advance_watermark(connection: Connection, source: str, newest: datetime) -> None:
    table = schema.watermarks
    partition_lock(connection, "watermarks", source)  # two first payloads of a source would both insert
    current = connection.execute(select(table.c.last_observed_at).where(table.c.source == source)).scalar()
    if current is None:
        connection.execute(insert(table), [{"source": source, "last_observed_at": newest,
                                            "updated_at": schema.utc_now()}])
    elif newest > current:
        connection.execute(update(table).where(table.c.source == source).values(
            last_observed_at=newest, updated_at=schema.utc_now()))


def watermark(engine: Engine, source: str) -> datetime | None:
    with engine.connect() as connection:
        return connection.execute(select(schema.watermarks.c.last_observed_at)
                                  .where(schema.watermarks.c.source == source)).scalar()


def published_disagreements_for_days(engine: Engine, days) -> int:
    """Readings of the days whose published class or AQI differs from envmon's own."""
    from datetime import timedelta as _timedelta

    from pipelines.observations import bureau_day_bounds

    if not days:
        return 0
    start, _ = bureau_day_bounds(min(days))
    _, end = bureau_day_bounds(max(days))
    table = schema.published_results
    query = select(func.count()).select_from(table).where(table.c.agrees.is_(False), table.c.observed_at >= start,
                                                         table.c.observed_at < end + _timedelta(hours=1))
    with engine.connect() as connection:
        return int(connection.execute(query).scalar())


ROLLUP_COLUMNS = [c.name for c in schema.rollups.c]


def replace_rollups(engine: Engine, period: str, period_start: date, frame: pd.DataFrame) -> bool:
    with engine.begin() as connection:
        partition_lock(connection, "rollups", period, period_start)
        return replace_partition(connection, schema.rollups, {"period": period, "period_start": period_start},
                                 records(frame, ROLLUP_COLUMNS) if len(frame) else [])


def daily_rollups_between(engine: Engine, first: date, last: date) -> pd.DataFrame:
    r = schema.rollups
    query = select(r).where(r.c.period == "day", r.c.period_start >= first, r.c.period_start <= last)
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=ROLLUP_COLUMNS)


def rollups(engine: Engine, period: str, parameters=None) -> pd.DataFrame:
    r = schema.rollups
    query = select(r).where(r.c.period == period).order_by(r.c.station_id, r.c.parameter, r.c.period_start)
    if parameters is not None:
        query = query.where(r.c.parameter.in_(list(parameters)))
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=ROLLUP_COLUMNS)


def rollups_for(engine: Engine, period: str, period_start: date) -> pd.DataFrame:
    r = schema.rollups
    query = select(r).where(r.c.period == period, r.c.period_start == period_start)
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=ROLLUP_COLUMNS)


VERSION_COLUMNS = ["source", "station_id", "parameter", "observed_at", "averaging_period", "layer", "value",
                   "original_value", "qc_flag", "batch_id", "payload_id", "stewardship_id"]


def value_versions(engine: Engine, station_id: str, parameter: str, observed_at: datetime | None = None) -> pd.DataFrame:
    """Every version of a station's values of one parameter (at one time, if given): the superseded
    ones from observation_history, oldest first, then the current one, each with its payload."""
    o, h, p = schema.observations, schema.observation_history, schema.payloads
    current = select(*(o.c[c] for c in VERSION_COLUMNS)).where(o.c.station_id == station_id, o.c.parameter == parameter)
    superseded = select(*(h.c[c] for c in VERSION_COLUMNS), h.c.superseded_at, h.c.superseded_by_payload_id,
                        h.c.superseded_by_stewardship_id).where(h.c.station_id == station_id, h.c.parameter == parameter)
    if observed_at is not None:
        current, superseded = current.where(o.c.observed_at == observed_at), superseded.where(h.c.observed_at == observed_at)
    with engine.connect() as connection:
        now = _frame(connection, current, VERSION_COLUMNS).assign(version="current")
        before = _frame(connection, superseded.order_by(h.c.history_id),
                        VERSION_COLUMNS + ["superseded_at", "superseded_by_payload_id", "superseded_by_stewardship_id"]
                        ).assign(version="superseded")
        payloads = _frame(connection, select(p.c.payload_id, p.c.origin, p.c.received_at),
                          ["payload_id", "origin", "received_at"])
    versions = pd.concat([frame for frame in (before, now) if len(frame)], ignore_index=True) \
        if len(before) or len(now) else now.assign(superseded_at=None, superseded_by_payload_id=None,
                                                   superseded_by_stewardship_id=None)
    for column in ("superseded_at", "superseded_by_payload_id", "superseded_by_stewardship_id"):
        if column not in versions:  # no superseded version
            versions[column] = None
    versions = versions.merge(payloads.rename(columns={"origin": "payload_origin", "received_at": "payload_received_at"}),
                              on="payload_id", how="left")
    versions["observed_at"] = pd.to_datetime(versions["observed_at"], utc=True)
    order = versions["version"].eq("current").astype(int)  # superseded first, in the order they were replaced
    return versions.assign(_order=order).sort_values(["observed_at", "averaging_period", "layer", "_order"],
                                                     kind="stable").drop(columns="_order").reset_index(drop=True)


def payload_status_by_sha(engine: Engine, source: str, sha256: str) -> str | None:
    """The status of the newest logged payload of a source with this content, if any: collection
    is idempotent by content (the water feed serves one snapshot for four hours)."""
    table = schema.payloads
    query = (select(table.c.status).where(table.c.source == source, table.c.sha256 == sha256)
             .order_by(table.c.payload_id.desc()).limit(1))
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def logged_payload(engine: Engine, source: str, sha256: str) -> dict | None:
    """The newest logged payload of a source with this content (status, retryable, error and
    archive_path), if any: the inbox moves a file aside once it is logged and archived."""
    table = schema.payloads
    query = (select(table.c.status, table.c.retryable, table.c.error, table.c.archive_path)
             .where(table.c.source == source, table.c.sha256 == sha256).order_by(table.c.payload_id.desc()).limit(1))
    with engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    return dict(row) if row else None

# --- reports: the bulletin's and the annual assessment's reads ----------------------------------

def observations_between(engine: Engine, first: date, last: date, station_ids=None, columns=None) -> pd.DataFrame:
    """The stored observations of bureau days `first` … `last` (of `station_ids`, if given), only
    `columns` (default: all): observed_at as UTC timestamps, partition_day as dates. A month of a
    domain is 10^5 rows, so the times come as the driver gives them (SQLite: UTC text) and are
    converted column by column, not row by row; on PostgreSQL the rows come through one COPY that
    Arrow parses into typed columns (copied_rows), the same frame."""
    from sqlalchemy import Text, type_coerce

    o = schema.observations
    columns = list(columns or OBSERVATION_COLUMNS)
    times = {"observed_at", "partition_day"}
    query = select(*(type_coerce(o.c[c], Text).label(c) if c in times else o.c[c] for c in columns)).where(
        o.c.partition_day >= first, o.c.partition_day <= last)
    if station_ids is not None:
        query = query.where(o.c.station_id.in_(list(station_ids)))
    with engine.connect() as connection:   # PostgreSQL: one COPY Arrow parses (copied_rows)
        frame = copied_rows(connection, query, columns, times=[c for c in columns if c == "observed_at"],
                            days=[c for c in columns if c == "partition_day"])
        if frame is None:
            rows = connection.execute(query).all()
            frame = pd.DataFrame(dict(zip(columns, map(list, zip(*rows)))) if rows else {c: [] for c in columns},
                                 columns=columns)
    if "observed_at" in frame:
        frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True, format="mixed")  # SQLite: naive UTC
    if "partition_day" in frame:
        frame["partition_day"] = [d if isinstance(d, date) else date.fromisoformat(d[:10]) for d in frame["partition_day"]]
    for column in ("value", "detection_limit"):
        if column in frame:
            frame[column] = frame[column].astype("float64")
    return frame


def partition_log_between(engine: Engine, first: date, last: date) -> pd.DataFrame:
    """The (source, day) partitions of days `first` … `last`: the batch each was last loaded from."""
    log = schema.partition_log
    query = (select(log).where(log.c.partition_day >= first, log.c.partition_day <= last)
             .order_by(log.c.partition_day, log.c.source))
    with engine.connect() as connection:
        return _frame(connection, query, [c.name for c in log.c])


def payloads_by_id(engine: Engine, payload_ids) -> pd.DataFrame:
    p = schema.payloads
    columns = ["payload_id", "source", "origin", "sha256", "received_at", "fetched_at", "status"]
    query = select(*(p.c[c] for c in columns)).where(p.c.payload_id.in_(list(payload_ids))).order_by(p.c.payload_id)
    with engine.connect() as connection:
        return _frame(connection, query, columns)
