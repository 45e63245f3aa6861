"""The HJ 663 annual air statistics (table air_annual_statistics, migration 0015): written a year
and period at a time, read by the Air page, the annual report and `envmon export air-annual`.

A year's rows are replaced as a whole in one transaction, so a re-run of a day gives the same rows
and the cities' ranks always belong to one computation. The closed year ('year') replaces the
year to date ('year_to_date') rows of its year: a year is one or the other, never both."""
from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from warehouse import schema

PERIODS = ("year", "year_to_date")
COLUMNS = [c.name for c in schema.air_annual_statistics.c]


def replace_year(engine: Engine, year: int, period: str, rows: list[dict]) -> None:
    """Make the stored statistics of `year` exactly `rows` (all of one `period`)."""
    if period not in PERIODS:
        raise ValueError(f"period {period!r}: one of {PERIODS}")
    if any(row["year"] != year or row["period"] != period for row in rows):
        raise ValueError(f"rows of another year or period than {year} {period}")
    table = schema.air_annual_statistics
    with engine.begin() as connection:
        # a closed year replaces its year to date; a year to date never replaces a closed year
        replaced = list(PERIODS) if period == "year" else [period]
        connection.execute(delete(table).where(table.c.year == year, table.c.period.in_(replaced)))
        if rows:
            connection.execute(insert(table), [{c: row.get(c) for c in COLUMNS} for row in rows])


def stored_through(engine: Engine, year: int, period: str = "year_to_date") -> date | None:
    """The last day the stored statistics of `year` (of `period`) count, or None."""
    table = schema.air_annual_statistics
    query = select(table.c.through_day).where(table.c.year == year, table.c.period == period).limit(1)
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def annual_statistics(engine: Engine, year: int | None = None, scope: str | None = None, site_ids=None,
                      period: str | None = None) -> pd.DataFrame:
    """The stored rows (of `year`, `scope` 'station' or 'city', `site_ids`, `period`), cities in
    rank order then by name, stations by id."""
    table = schema.air_annual_statistics
    query = select(table)
    if year is not None:
        query = query.where(table.c.year == int(year))
    if scope is not None:
        query = query.where(table.c.scope == scope)
    if period is not None:
        query = query.where(table.c.period == period)
    if site_ids is not None:
        query = query.where(table.c.site_id.in_(sorted(site_ids)))
    # unranked rows last on both databases (SQLite sorts NULL first, PostgreSQL last)
    query = query.order_by(table.c.year, table.c.period, table.c.scope, table.c.city_rank.is_(None),
                           table.c.city_rank, table.c.site_id)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=COLUMNS)


def years_stored(engine: Engine) -> list[int]:
    table = schema.air_annual_statistics
    with engine.connect() as connection:
        return sorted(r[0] for r in connection.execute(select(table.c.year).distinct()).all())
