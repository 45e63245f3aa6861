"""COPY fed set-wise (issue 27): db._fill writes a frame to PostgreSQL from one CSV buffer Arrow
makes column-wise, not row by row. Every value must read back as the row-by-row binary COPY writes
it: empty text stays empty and missing stays NULL, quotes, commas, newlines, backslashes and the
text \\N stay text, floats keep every bit, times their microseconds, on the real Beibu sample and on
edge rows; a column Arrow cannot take as its type falls back to the row-by-row writer."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import MetaData, Table, create_engine, text

from pipelines.observations import BUREAU_TZ, conform, with_partition_day
from pipelines.sources import files
from tests.conftest import FORMATS
from warehouse import db, schema


def _row_by_row(connection, table, frame: pd.DataFrame) -> None:
    """The writer before issue 27: binary COPY, one write_row per row."""
    columns = [c.name for c in table.c]
    frame = frame.reindex(columns=columns)
    rows = zip(*(db._copy_values(frame[column]) for column in columns))
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([db._POSTGRES_COPY_TYPES[type(c.type).__name__] for c in table.c])
        for row in rows:
            copy.write_row(row)


def _twin_tables(connection, source_table):
    tables = []
    for name in ("copy_set_wise", "copy_row_wise"):
        table = Table(name, MetaData(), *(c._copy() for c in source_table.c if not c.primary_key or c.name != "quarantine_id"),
                      prefixes=["TEMPORARY"])
        table.create(connection)
        tables.append(table)
    return tables


def _read_back(connection, table) -> pd.DataFrame:
    # floats as their exact bits (float8send), times as microseconds since the epoch
    columns = []
    for c in table.c:
        kind = type(c.type).__name__
        if kind == "Float":
            columns.append(f"encode(float8send({c.name}), 'hex') AS {c.name}")
        elif kind == "UtcDateTime":
            columns.append(f"(extract(epoch FROM {c.name}) * 1000000)::bigint AS {c.name}")
        else:
            columns.append(f"{c.name}::text AS {c.name}")
    rows = connection.execute(text(f"SELECT {', '.join(columns)} FROM {table.name}")).all()
    return pd.DataFrame(rows, columns=[c.name for c in table.c], dtype=object)


def _same_as_row_by_row(url: str, table, frame: pd.DataFrame) -> pd.DataFrame:
    engine = create_engine(url)
    with engine.begin() as connection:
        set_wise, row_wise = _twin_tables(connection, table)
        db._fill(connection, set_wise, frame)
        _row_by_row(connection, row_wise, frame)
        got, expected = _read_back(connection, set_wise), _read_back(connection, row_wise)
    engine.dispose()
    assert len(got) == len(frame)
    pd.testing.assert_frame_equal(got, expected)
    return got


def _beibu_observations() -> pd.DataFrame:
    parsed = files.parse_file("cnemc-air", FORMATS / "cnemc-air" / "beibu6-hourly-2026-03-01-to-03-28.csv",
                              datetime(2026, 3, 29))
    return with_partition_day(conform(parsed.observations)).assign(source="cnemc-air")


def test_the_real_sample_reads_back_as_the_row_by_row_copy_writes_it(postgres_url):
    frame = _beibu_observations().iloc[:20_000]
    assert db._arrow_csv(schema.observations, frame.reindex(columns=[c.name for c in schema.observations.c])) \
        is not None   # the set-wise path, not the fallback
    _same_as_row_by_row(postgres_url, schema.observations, frame)


def test_edge_values_read_back_as_written(postgres_url):
    base = _beibu_observations().iloc[:8].reset_index(drop=True)
    edges = ["", None, 'a "quoted", comma', "two\nlines", "back\\slash", "\\N", "广西 北部湾", "  spaced  "]
    floats = [0.1, 1 / 3, 1e-300, 1.7976931348623157e308, -0.0, np.nan, 123456789.123456789, 5e-324]
    stamps = [datetime(2026, 3, 1, 1, 0, 0, 123456, tzinfo=BUREAU_TZ) + timedelta(hours=h) for h in range(7)] + \
             [datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)]
    frame = base.assign(qc_note=edges, original_value=edges[::-1], value=floats, detection_limit=floats[::-1],
                        observed_at=pd.Series(stamps, dtype="datetime64[us, Asia/Shanghai]"),
                        partition_day=[date(2026, 3, d + 1) for d in range(8)],
                        payload_id=pd.Series([1, None, 3, None, 5, 6, 7, 2**31 - 1], dtype=object))
    got = _same_as_row_by_row(postgres_url, schema.observations, frame)
    assert got["qc_note"].tolist() == [None if e is None else e for e in edges]   # '' stays '', None is NULL


def test_a_column_arrow_cannot_take_as_its_type_falls_back_to_row_by_row(postgres_url):
    frame = _beibu_observations().iloc[:3].reset_index(drop=True)
    mixed = frame.assign(original_value=pd.Series([1.5, "1.5", None], dtype=object))   # text column, a number in it
    assert db._arrow_csv(schema.observations, mixed.reindex(columns=[c.name for c in schema.observations.c])) is None
    with pytest.raises(Exception):   # the row-by-row binary COPY refuses a float for text, as before
        _same_as_row_by_row(postgres_url, schema.observations, mixed)
    assert db._arrow_csv(schema.observations, frame.reindex(columns=[c.name for c in schema.observations.c])) \
        is not None


def test_columns_chunked_unlike_each_other_read_back_as_written(postgres_url):
    # frames put together from payloads: each text column's Arrow chunks fall differently (the CSV
    # writer garbled such a table before its chunks were combined)
    sample = _beibu_observations().iloc[:300].reset_index(drop=True)
    frame = pd.concat([sample.iloc[:100], sample.iloc[100:]], ignore_index=True)
    frame["qc_note"] = pd.concat([sample["qc_note"].iloc[:7], sample["qc_note"].iloc[7:]], ignore_index=True)
    _same_as_row_by_row(postgres_url, schema.observations, frame)
