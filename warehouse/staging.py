"""Batches between the tasks of a run, kept in the warehouse (table `staged_batches`).

A validate task may run on another Celery worker than the ingest task before it, without that
worker's disk: the warehouse is the one place every worker reaches. A batch is stored as Parquet
bytes, so its column types and time zones come back exactly as they were written.
"""
from __future__ import annotations

import io
from datetime import date

import pandas as pd
from sqlalchemy import Engine, and_, delete, insert, select

from warehouse import schema


def _where(source: str, day: date, stage: str | None = None):
    table = schema.staged_batches
    clause = and_(table.c.source == source, table.c.partition_day == day)
    return clause if stage is None else and_(clause, table.c.stage == stage)


def put(engine: Engine, source: str, day: date, stage: str, frame: pd.DataFrame, batch_id: str) -> None:
    """Stage a frame, replacing what the same stage of the partition held."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    from warehouse.db import partition_lock

    with engine.begin() as connection:
        # two runs of one partition at once would both delete, then both insert the same key
        partition_lock(connection, "staged_batches", source, day, stage)
        connection.execute(delete(schema.staged_batches).where(_where(source, day, stage)))
        connection.execute(insert(schema.staged_batches).values(
            source=source, partition_day=day, stage=stage, batch_id=batch_id, rows=len(frame),
            parquet=buffer.getvalue(), staged_at=schema.utc_now()))


def get(engine: Engine, source: str, day: date, stage: str, columns: list[str] | None = None) -> pd.DataFrame:
    with engine.connect() as connection:
        blob = connection.execute(select(schema.staged_batches.c.parquet).where(_where(source, day, stage))).scalar()
    if blob is None:
        raise LookupError(f"no {stage} batch of {source} for {day} is staged: run the task before this one first")
    return pd.read_parquet(io.BytesIO(blob), columns=columns)


def staged_batch_ids(engine: Engine, source: str, day: date) -> dict[str, str]:
    """The batch id of each stage that is staged for the partition."""
    table = schema.staged_batches
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.stage, table.c.batch_id).where(_where(source, day))).all()
    return {stage: batch for stage, batch in rows}
