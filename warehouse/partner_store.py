"""What the source partner-edr keeps in the warehouse (migration 0020, issue 26): each partner's
pull state (partner_pulls, one row per partner URL), and the reads that tell a page already held
from one that brings something new. Works on PostgreSQL and SQLite."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from warehouse import schema

STATE_COLUMNS = [c.name for c in schema.partner_pulls.c]
# what a page must repeat, row for row, to bring nothing new: the revision columns of the merge
# (warehouse/db.REVISION_COLUMNS) less the flag, which envmon's QC may have raised, and the
# partner's own flag and provenance instead (the row's detail)
COMPARED = ["value", "original_value", "censoring", "detail"]
KEY = ["station_id", "parameter", "observed_at", "averaging_period", "layer"]


def state(engine: Engine, partner_url: str) -> dict | None:
    table = schema.partner_pulls
    with engine.connect() as connection:
        row = connection.execute(select(table).where(table.c.partner_url == partner_url)).mappings().first()
    return dict(row) if row else None


def save_state(engine: Engine, row: dict) -> None:
    """The partner's row as given (replacing the one kept)."""
    table = schema.partner_pulls
    row = {column: row.get(column) for column in STATE_COLUMNS}
    with engine.begin() as connection:
        connection.execute(delete(table).where(table.c.partner_url == row["partner_url"]))
        connection.execute(insert(table).values(**row))


def states(engine: Engine) -> pd.DataFrame:
    table = schema.partner_pulls
    with engine.connect() as connection:
        rows = connection.execute(select(table).order_by(table.c.partner_url)).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=STATE_COLUMNS, dtype=object)


def held_rows(engine: Engine, source: str, station_ids, first: datetime, last: datetime) -> pd.DataFrame:
    """The stored rows of `source` at `station_ids` observed first … last: the key and COMPARED."""
    o = schema.observations
    query = select(*(o.c[c] for c in KEY + COMPARED)).where(
        o.c.source == source, o.c.station_id.in_(sorted(set(station_ids))),
        o.c.observed_at >= first, o.c.observed_at <= last,
        # the partition of each row lies within a day of its time (its averaging period's start)
        o.c.partition_day >= (first - timedelta(days=2)).date(), o.c.partition_day <= (last + timedelta(days=1)).date())
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    frame = pd.DataFrame([dict(r) for r in rows], columns=KEY + COMPARED)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    return frame


def brings_nothing_new(engine: Engine, source: str, observations: pd.DataFrame) -> bool:
    """True when every row of a parsed page is stored already as it is (same value as printed,
    censoring and the partner's flag and provenance): the page is not ingested again."""
    if observations.empty:
        return True
    times = pd.to_datetime(observations["observed_at"], utc=True)
    held = held_rows(engine, source, observations["station_id"], times.min().to_pydatetime(),
                     times.max().to_pydatetime())
    if len(held) < len(observations):
        return False
    page = observations[KEY + COMPARED].assign(observed_at=times)
    joined = page.merge(held, on=KEY, how="left", suffixes=("", "_held"), indicator=True)
    if not joined["_merge"].eq("both").all():
        return False
    for column in COMPARED:
        mine, theirs = joined[column], joined[f"{column}_held"]
        if column == "value":
            mine, theirs = pd.to_numeric(mine), pd.to_numeric(theirs)
            same = (mine == theirs) | (mine.isna() & theirs.isna())
        else:
            same = mine.fillna("").astype(str) == theirs.fillna("").astype(str)
        if not same.all():
            return False
    return True
