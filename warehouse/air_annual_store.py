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


# --- each air station's daily values (tables air_station_days, air_station_day_bases; migration 0022) ---

STATION_DAY_ITEMS = ("so2", "no2", "co", "pm10", "pm2_5", "o3", "o3_8h")


def station_day_bases(engine: Engine, first: date, last: date) -> dict[date, str]:
    """The basis each stored day of `first` … `last` was computed under (a day without: not stored)."""
    table = schema.air_station_day_bases
    query = select(table.c.day, table.c.basis).where(table.c.day >= first, table.c.day <= last)
    with engine.connect() as connection:
        return {_as_date(day): basis for day, basis in connection.execute(query).all()}


def replace_station_days(engine: Engine, bases: dict[date, str], frame: pd.DataFrame, computed_at) -> None:
    """Make the stored daily values of the days of `bases` exactly `frame`'s rows (day, station_id,
    so2 … o3_8h; NaN: not valid) and record each day's basis, in one transaction."""
    from warehouse import bulk

    days = sorted(bases)
    if not days:
        return
    frame = frame[frame["day"].isin(days)] if len(frame) else frame
    values, marks = schema.air_station_days, schema.air_station_day_bases
    with engine.begin() as connection:
        for start in range(0, len(days), 500):   # SQLite's bound parameters per statement
            chunk = days[start:start + 500]
            connection.execute(delete(values).where(values.c.day.in_(chunk)))
            connection.execute(delete(marks).where(marks.c.day.in_(chunk)))
        if len(frame):
            bulk.fill(connection, values, frame.reset_index(drop=True)[["day", "station_id", *STATION_DAY_ITEMS]])
        connection.execute(insert(marks), [{"day": day, "basis": bases[day], "computed_at": computed_at}
                                           for day in days])


def station_days_between(engine: Engine, first: date, last: date) -> pd.DataFrame:
    """The stored rows (day, station_id, so2 … o3_8h) of `first` … `last`, floats (NaN: not valid)."""
    table = schema.air_station_days
    columns = ["day", "station_id", *STATION_DAY_ITEMS]
    query = select(*(table.c[c] for c in columns)).where(table.c.day >= first, table.c.day <= last)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame(dict(zip(columns, map(list, zip(*rows)))) if rows else {c: [] for c in columns},
                         columns=columns)
    as_dates = {value: _as_date(value) for value in set(frame["day"])}   # a few hundred days, many rows
    frame["day"] = pd.Series([as_dates[d] for d in frame["day"]], index=frame.index, dtype="object")
    return frame.astype({c: "float64" for c in STATION_DAY_ITEMS})


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
