"""Batches between the tasks of a run, kept in the warehouse (table `staged_batches`).

A validate task may run on another Celery worker than the ingest task before it, without that
worker's disk: the warehouse is the one place every worker reaches. A batch is stored as Parquet
bytes, so its column types and time zones come back exactly as they were written.

Staging holds what a run in flight needs, not every night twice: once a batch is loaded (the load's
transaction committed), its Parquet copies are pruned (prune_loaded): the rows stay, with their
batch ids and row counts and no bytes, so a re-run of any task of that night still tells the batch
is loaded already (pipelines.nightly._already_loaded) and touches nothing. A batch staged and not
loaded yet (a run stopped between its tasks) keeps its copies until its load.
"""
from __future__ import annotations

import io
from datetime import date

import pandas as pd
from sqlalchemy import Engine, and_, delete, insert, select, update

from warehouse import schema


PRUNED = b""   # the bytes of a staged batch once loaded (the column is NOT NULL)


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
    if blob == PRUNED:
        raise LookupError(f"the {stage} batch of {source} for {day} is loaded and its staged copy pruned: "
                          "run the day again from its ingest task")
    return pd.read_parquet(io.BytesIO(blob), columns=columns)


def staged_batch_ids(engine: Engine, source: str, day: date) -> dict[str, str]:
    """The batch id of each stage that is staged for the partition."""
    table = schema.staged_batches
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.stage, table.c.batch_id).where(_where(source, day))).all()
    return {stage: batch for stage, batch in rows}


def staged_rows(engine: Engine, source: str, day: date) -> dict[str, int]:
    """The rows of each stage staged for the partition (kept when its copy is pruned)."""
    table = schema.staged_batches
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.stage, table.c.rows).where(_where(source, day))).all()
    return {stage: int(count) for stage, count in rows}


def prune_loaded(engine: Engine, source: str, day: date, batch_id: str | None) -> int:
    """Drop the Parquet copies of the partition's stages that hold `batch_id`, the batch its load
    committed; keep their rows (batch id, row count). Returns how many copies were pruned."""
    if not batch_id:
        return 0
    from warehouse.db import partition_lock

    table = schema.staged_batches
    with engine.begin() as connection:
        partition_lock(connection, "staged_batches", source, day, "prune")
        result = connection.execute(update(table).where(_where(source, day), table.c.batch_id == batch_id,
                                                        table.c.parquet != PRUNED).values(parquet=PRUNED))
    return result.rowcount
