"""Reads fed by COPY out (issue 27): on PostgreSQL the archive path's assessment reads back what it
loaded through one COPY (query) TO STDOUT that Arrow parses column-wise (db.copied_rows), not a
driver tuple per row. Every frame must be the one the driver's rows make: the same columns, order,
dtypes (pandas' inference of a list of values: text as str, an integer column with a NULL as
float64, a column of NULLs only as None), times in UTC to the microsecond, days as dates, NULL and
empty text kept apart, non-ASCII text, flags, rows across the day and the month (partition)
boundaries, and an empty result. On SQLite the driver's path is the only one, and it reads the same
values."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Boolean, Column, Date, Float, Integer, MetaData, String, Table, Text, create_engine, select

from warehouse import bulk, db, schema
from warehouse.schema import UtcDateTime

SOURCE = "cnemc-air"


def _observations() -> pd.DataFrame:
    """Hourly rows of two stations from 29 January to 2 February 2026 (UTC): bureau days (UTC+8)
    that start at 16:00 UTC, the January partition's last day and February's first, microseconds,
    NULL values, every flag, censoring and layers, non-ASCII names and units, text that CSV must
    quote, and columns NULL throughout."""
    start = datetime(2026, 1, 29, 12, tzinfo=timezone.utc)
    flags = ["pass", "suspect", "fail", "missing"]
    rows = []
    for n in range(4 * 24 + 6):
        instant = start + timedelta(hours=n, microseconds=n % 3 * 250_001)
        for s, station in enumerate(["北海站", "Fángchénggǎng-1"]):
            rows.append(dict(
                source=SOURCE, station_id=station, parameter=["pm2_5", "o3"][n % 2], observed_at=instant,
                averaging_period="1h", layer=["", "表层", "bottom"][n % 3],
                partition_day=(instant - timedelta(hours=1) + timedelta(hours=8)).date(),
                utc_offset_minutes=480, value=None if n % 7 == 0 else n * 0.1 + s / 3, unit="μg/m³",
                qc_flag=flags[n % 4], qc_note=[None, "", 'a "quoted", note\nover two lines', "\\N", "NULL"][n % 5],
                batch_id=f"batch-{n // 24}", original_value=None if n % 2 else f"{n}.0",
                sample_id=None, detection_limit=None if n % 3 else 0.5, censoring=[None, "<", "", ">"][n % 4],
                original_unit=None, detail=None if n % 6 else "{\"lab\": \"广西\"}",
                payload_id=None if n % 5 == 0 else 100 + n, stewardship_id=None, qc_flag_tested=None))
    return pd.DataFrame(rows)


def _warehouse(url: str, frame: pd.DataFrame):
    engine = create_engine(url)
    db.migrate(engine)
    db.ensure_observation_partitions(engine, sorted(set(frame["partition_day"])))
    with engine.begin() as connection:
        bulk.fill(connection, schema.observations, frame)
    return engine


class Spy:
    """Counts the reads that went through COPY; `driver()` turns the COPY path off (the reference)."""

    def __init__(self, monkeypatch):
        self.monkeypatch, self.copied, self.original = monkeypatch, 0, db.copied_rows
        monkeypatch.setattr(db, "copied_rows", self._counting)

    def _counting(self, *args, **kwargs):
        frame = self.original(*args, **kwargs)
        self.copied += frame is not None
        return frame

    def driver(self, read):
        self.monkeypatch.setattr(db, "copied_rows", lambda *args, **kwargs: None)
        try:
            return read()
        finally:
            self.monkeypatch.setattr(db, "copied_rows", self._counting)


def _reads(engine, days):
    first, last = min(days), max(days)
    o = schema.observations
    columns = [*db.KEY, "detail", "payload_id", "qc_flag", "partition_day"]
    statement_query = select(*(bulk._as_text(o, c, {"observed_at", "partition_day"}) for c in columns)).where(
        o.c.source == SOURCE, o.c.station_id.in_(["北海站"]), o.c.partition_day.in_(days), o.c.payload_id < 150)

    def statements_read():   # pipelines/statements.py's read of a lab's stored rows
        with engine.connect() as connection:
            return bulk.read(connection, statement_query, columns, times=["observed_at"], days=["partition_day"])

    return {
        "observations_of_days": lambda: bulk.observations_of_days(engine, days),
        "observations_of_days, every column": lambda: bulk.observations_of_days(engine, days, db.OBSERVATION_COLUMNS),
        "source_observations_between": lambda: bulk.source_observations_between(
            engine, SOURCE, first, last, ["station_id", "parameter", "observed_at", "value", "payload_id", "partition_day"]),
        "db.observations_between": lambda: db.observations_between(engine, first, last),
        "db.observations_between, stations and columns": lambda: db.observations_between(
            engine, first, last, ["Fángchénggǎng-1"],
            ["station_id", "parameter", "partition_day", "observed_at", "averaging_period", "value", "qc_flag"]),
        "statements' bulk.read": statements_read,
        "bulk.observations_between": lambda: bulk.observations_between(engine, first, last),
        "bulk.observations_between, a source left out": lambda: bulk.observations_between(
            engine, first, last, excluded_sources=["cnemc-water"]),
    }


@pytest.mark.parametrize("days", [
    [date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 2)],   # across the partitions
    [date(2026, 1, 31)],
    [date(2026, 3, 1)],                                                           # nothing stored: empty
], ids=["month boundary", "one day", "empty"])
def test_each_read_makes_the_frame_the_drivers_rows_make(warehouse_url, monkeypatch, days):
    frame = _observations()
    engine = _warehouse(warehouse_url, frame)
    spy = Spy(monkeypatch)
    stored = frame[frame["partition_day"].isin(days)]
    for name, read in _reads(engine, days).items():
        got = read()
        expected = spy.driver(read)
        pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=name)
        if name == "db.observations_between":   # and the values are those loaded
            assert len(got) == len(stored)
            mine = got.sort_values(["station_id", "observed_at"]).reset_index(drop=True)
            theirs = stored.sort_values(["station_id", "observed_at"]).reset_index(drop=True)
            assert list(mine["observed_at"]) == list(theirs["observed_at"])
            assert list(mine["partition_day"]) == list(theirs["partition_day"])
            for column in ("station_id", "qc_flag", "qc_note", "censoring", "layer", "detail"):
                assert [None if pd.isna(v) else v for v in mine[column]] == \
                    [None if pd.isna(v) else v for v in theirs[column]], column
            np.testing.assert_array_equal(mine["value"].to_numpy(), theirs["value"].astype("float64").to_numpy())
    engine.dispose()
    on_postgres = warehouse_url.startswith("postgresql")
    assert spy.copied == (len(_reads(engine, days)) if on_postgres else 0)   # PostgreSQL: every read by COPY


def _all_kinds_table(connection):
    table = Table("copy_read_kinds", MetaData(), Column("n", Integer), Column("text", Text), Column("name", String(32)),
                  Column("at", UtcDateTime), Column("day", Date), Column("count", Integer), Column("maybe", Integer),
                  Column("number", Float), Column("flag", Boolean), Column("nothing", Text), Column("no_number", Float),
                  prefixes=["TEMPORARY"])
    table.create(connection)
    base = datetime(2026, 1, 31, 15, 59, 59, 999_999, tzinfo=timezone.utc)
    texts = [None, "", " ", "a,b", 'say "hi"', "line\nbreak", "\\N", "NULL", "NaN", "广西北部湾", "tab\there", "\r\n"]
    numbers = [0.1, None, float("nan"), float("inf"), -float("inf"), -0.0, 1e-300, 1.7976931348623157e308,
               2 / 3, 123456789.123456789, -5.0, 3.0]
    rows = [dict(n=i, text=texts[i], name=f"站{i}", at=base + timedelta(microseconds=i), day=date(2026, 1, 31) + timedelta(days=i),
                 count=i * 1000, maybe=None if i % 4 == 0 else -i, number=numbers[i],
                 flag=None if i % 3 == 0 else bool(i % 2), nothing=None, no_number=None)
            for i in range(len(texts))]
    connection.execute(table.insert(), rows)
    return table


def _driver_frame(connection, query, columns) -> pd.DataFrame:
    rows = connection.execute(query).all()
    return pd.DataFrame(dict(zip(columns, map(list, zip(*rows)))) if rows else {c: [] for c in columns}, columns=columns)


def test_every_column_type_reads_as_the_driver_gives_it(postgres_url):
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        table = _all_kinds_table(connection)
        columns = [c.name for c in table.c]
        for where in (table.c.n >= 0, table.c.n.in_([1, 2, 3]), table.c.n < 0):
            query = select(table).where(where).order_by(table.c.n)
            got = db.copied_rows(connection, query, columns, times=["at"], days=["day"])
            expected = _driver_frame(connection, query, columns)
            expected["at"] = pd.to_datetime(expected["at"], utc=True) if len(expected) else expected["at"]
            assert got is not None
            pd.testing.assert_frame_equal(got, expected, check_exact=True)
        # one column with NULLs: COPY writes a NULL row as an empty line, which must stay a row
        query = select(table.c.text).order_by(table.c.n)
        got = db.copied_rows(connection, query, ["text"])
        pd.testing.assert_frame_equal(got, _driver_frame(connection, query, ["text"]), check_exact=True)
        assert got["text"].isna().tolist()[:2] == [True, False]
    engine.dispose()


def test_what_copy_cannot_take_goes_through_the_driver(postgres_url):
    """A column of a type Arrow is not told about (numeric), a value SQLAlchemy converts before
    binding it (a UTC time), or a time PostgreSQL writes as 'infinity', leaves the read to the driver
    (None), as does SQLite."""
    from sqlalchemy import Numeric, func, literal, literal_column

    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        assert db.copied_rows(connection, select(func.now().label("now")), ["now"], times=["now"]) is not None
        assert db.copied_rows(connection, select(literal(1).label("n"), literal(1.5, Numeric).label("d")), ["n", "d"]) \
            is None
        o = schema.observations
        assert db.copied_rows(connection, select(o.c.value).where(o.c.observed_at > datetime(2026, 1, 1, tzinfo=timezone.utc)),
                              ["value"]) is None
        infinite = select(literal_column("'infinity'::timestamptz").label("at"))
        assert db.copied_rows(connection, infinite, ["at"], times=["at"]) is None
    engine.dispose()
    sqlite = create_engine("sqlite://")
    with sqlite.connect() as connection:
        assert db.copied_rows(connection, select(literal(1).label("n")), ["n"]) is None
