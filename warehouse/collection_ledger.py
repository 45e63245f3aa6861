"""The collection ledger's SQL (table collection_ledger, migration 0014): one row per expected feed
hour or snapshot of a source, read and written by pipelines/ingest/collect.py, listed by
`envmon collect status` and the app's Data quality page."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, and_, delete, func, insert, or_, select

from warehouse import schema

L = schema.collection_ledger
STATUSES = ("pending", "failed", "fetched", "late", "revised", "gap")
UNFINISHED = ("pending", "failed")   # asked again at every collection until fetched or a gap
COLUMNS = [c.name for c in L.columns]


def entries_to_collect(engine: Engine, source: str, window_start: datetime) -> dict[datetime, dict]:
    """The rows a collection needs: every unfinished one, however old, and every one from
    `window_start` on (the look-back window), by expected time."""
    query = select(L).where(L.c.source == source,
                            or_(L.c.status.in_(UNFINISHED), L.c.expected_at >= window_start))
    with engine.connect() as connection:
        return {row["expected_at"]: dict(row) for row in connection.execute(query).mappings()}


def newest_expected(engine: Engine, source: str) -> datetime | None:
    with engine.connect() as connection:
        return connection.execute(select(func.max(L.c.expected_at)).where(L.c.source == source)).scalar()


def delivering(engine: Engine, source: str, received=("fetched", "late", "revised")) -> bool:
    """Whether the feed delivers: it has delivered an hour, and nothing before its newest delivered
    hour is still unfinished (a feed merely slow with its latest hour is delivering)."""
    newest = (select(func.max(L.c.expected_at)).where(L.c.source == source, L.c.status.in_(received))
              .scalar_subquery())
    behind = select(func.count()).where(L.c.source == source, L.c.status.in_(UNFINISHED), L.c.expected_at < newest)
    with engine.connect() as connection:
        has_newest = connection.execute(select(newest)).scalar() is not None
        return has_newest and connection.execute(behind).scalar() == 0


def save(engine: Engine, rows: list[dict]) -> None:
    """Write these rows, replacing those of the same (source, expected_at), in one transaction."""
    if not rows:
        return
    with engine.begin() as connection:
        for row in rows:
            connection.execute(delete(L).where(and_(L.c.source == row["source"], L.c.expected_at == row["expected_at"])))
        connection.execute(insert(L), [{c: row.get(c) for c in COLUMNS} for row in rows])


def ledger(engine: Engine, source: str | None = None, since: datetime | None = None) -> pd.DataFrame:
    """The ledger's rows, oldest first (of one source, from `since` on, where given)."""
    query = select(L).order_by(L.c.source, L.c.expected_at)
    if source is not None:
        query = query.where(L.c.source == source)
    if since is not None:
        query = query.where(L.c.expected_at >= since)
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    return pd.DataFrame(rows, columns=COLUMNS)


def totals(engine: Engine, source: str | None = None) -> dict[str, dict[str, int]]:
    """Per source, how many of its hours or snapshots are in each status (every status named)."""
    query = select(L.c.source, L.c.status, func.count()).group_by(L.c.source, L.c.status)
    if source is not None:
        query = query.where(L.c.source == source)
    counts: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        for row_source, status, count in connection.execute(query):
            counts.setdefault(row_source, {s: 0 for s in STATUSES})[status] = int(count)
    return counts


def gaps(engine: Engine, since: datetime | None = None) -> pd.DataFrame:
    """The hours and snapshots recorded as gaps (never delivered after the tries allowed), newest first."""
    query = (select(L.c.source, L.c.expected_at, L.c.tries, L.c.last_tried_at, L.c.last_error)
             .where(L.c.status == "gap").order_by(L.c.expected_at.desc(), L.c.source))
    if since is not None:
        query = query.where(L.c.expected_at >= since)
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(query).mappings()]
    return pd.DataFrame(rows, columns=["source", "expected_at", "tries", "last_tried_at", "last_error"])
