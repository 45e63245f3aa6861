"""The annual assessment of a city's air for a calendar year, under the rules in force (the public
entry point for reports: `city_annual_assessment(engine, city, year)`).

Each station's days are computed from its stored hourly observations with the nightly day rules
(daily.air_day_values under the day's validity rules), the city's day is the mean of its stations'
valid values (aqi_conventions.csv city_daily_value), and the year is judged by
air_quality.annual_assessment under the version in force on its last day (period_changeover.csv):
2026 against GB 3095—2026 phase 1, PM2.5 30/60 µg/m³. From 2031 the GB 3095—2026 phase-2 limits of
PM10, SO2 and NO2 are not known, and the assessment raises standards.RuleRefused.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from pipelines.assessment import air_quality, daily
from pipelines.observations import ASSESSABLE_FLAGS
from pipelines.reference import registry


def station_days(observations_of_day, station_ids, first: date, last: date, assessable=ASSESSABLE_FLAGS) -> pd.DataFrame:
    """Rows (day, station_id, so2, no2, co, pm10, pm2_5, o3, o3_8h) of the stations' daily values
    from `first` to `last`; `observations_of_day(day)` gives a day's stored observations."""
    rows = []
    day = first
    while day <= last:
        observations = observations_of_day(day)
        observations = observations[observations["qc_flag"].isin(assessable)]
        for station_id in station_ids:
            hourly = daily._hourly_by_pollutant(observations, station_id, day)
            rows.append({"day": day, "station_id": station_id, **daily.air_day_values(hourly, day)})
        day += timedelta(days=1)
    frame = pd.DataFrame(rows)
    return frame.astype({c: "float64" for c in frame.columns if c not in ("day", "station_id")})


def city_stations(city: str) -> list[str]:
    stations = registry.air_stations()
    chosen = stations[stations["city"] == city]
    if chosen.empty:
        raise KeyError(f"no air station of {city!r} in the registry (air_stations.csv)")
    return list(chosen.index)


def city_annual_assessment(engine, city: str, year: int, assessable=ASSESSABLE_FLAGS) -> air_quality.AnnualAssessment:
    """The annual assessment of `city`'s air (its registry stations) for calendar year `year`, from
    the warehouse, under the rules in force (see the module docstring)."""
    from warehouse import db

    ids = city_stations(city)
    days = station_days(lambda d: db.observations_for_day(engine, d, ids), ids, date(year, 1, 1), date(year, 12, 31),
                        assessable)
    return air_quality.annual_assessment(air_quality.city_daily_values(days), year)
