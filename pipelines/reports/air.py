"""Air figures of the documents per city, from the pipeline's air functions, each under the rules
in force at the time of its data (pipelines/reference/data/period_changeover.csv): a city's day is
`air_quality.daily_aqi` of its daily values on that day, a 优良 day `air_quality.is_good_day` (a
month's days each counted under their own day's rules), the HJ 663 percentiles
`air_quality.percentile`, concentrations rounded by `air_quality.rounded_concentration`, and a
year `air_quality.annual_assessment` against GB 3095 class Ⅱ under the version its last day
names (2026: GB 3095—2026 phase 1). No limit, breakpoint or threshold is written here.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from pipelines.assessment import air_quality
from pipelines.reference import standards

CONCENTRATIONS = ("pm2_5", "pm10", "no2", "so2")   # the monthly means the bulletin reports


def label(at: date) -> str:
    """The air standards in force on `at`, in words."""
    return standards.rule_version("air", at).label


@dataclass
class CityPeriod:
    city: str
    days: int = 0                         # days with a daily AQI
    good_days: int = 0                    # 优良 under each day's rules
    exceedance_days: int = 0
    by_primary: Counter = field(default_factory=Counter)   # exceedance days by primary pollutant
    by_category: Counter = field(default_factory=Counter)  # days by HJ 633 category (优, 良, 轻度污染, ...)
    means: dict[str, float | None] = field(default_factory=dict)  # rounded as reported
    co_p95: float | None = None
    o3_8h_p90: float | None = None
    standards_used: list[str] = field(default_factory=list)

    @property
    def good_share(self) -> float | None:
        return self.good_days / self.days if self.days else None


def _rounded(code: str, value, at: date) -> float | None:
    if value is None or pd.isna(value):
        return None
    return air_quality.rounded_concentration(code, float(value), at)


def city_period(city: str, city_days: pd.DataFrame, last_day: date) -> CityPeriod:
    """A city's month (or any span) from its daily values (rows: city, day, so2, no2, co, pm10,
    pm2_5, o3, o3_8h). Statistics of the span are under the rules of its last day."""
    result = CityPeriod(city)
    mine = city_days[city_days["city"] == city]
    used = []
    for record in mine.to_dict(orient="records"):
        values = {k: float(v) for k, v in record.items() if k not in ("city", "day") and not pd.isna(v)}
        aqi = air_quality.daily_aqi(values, record["day"])
        if aqi.aqi is None:
            continue
        used.append(aqi.standard)
        result.days += 1
        result.by_category[aqi.category] += 1
        if air_quality.is_good_day(aqi.aqi, record["day"]):
            result.good_days += 1
        else:
            result.exceedance_days += 1
            result.by_primary.update(aqi.primary_pollutants)
    result.standards_used = list(dict.fromkeys(used))
    for code in CONCENTRATIONS:
        result.means[code] = _rounded(code, mine[code].mean(), last_day) if mine[code].notna().any() else None
    table = air_quality.annual_statistics_table(last_day)
    co, o3 = mine["co"].dropna(), mine["o3_8h"].dropna()
    if len(co):
        result.co_p95 = _rounded("co", air_quality.percentile(co, float(table.loc["co", "percentile"])), last_day)
    if len(o3):
        result.o3_8h_p90 = _rounded("o3_8h", air_quality.percentile(o3, float(table.loc["o3", "percentile"])), last_day)
    return result


def annual(city: str, city_days: pd.DataFrame, year: int) -> air_quality.AnnualAssessment | None:
    """air_quality.annual_assessment of a city's year of daily values."""
    mine = city_days[city_days["city"] == city]
    if mine.empty:
        return None
    frame = mine[list(air_quality.ANNUAL_COLUMNS)].astype(float)
    frame.index = pd.DatetimeIndex(pd.to_datetime(mine["day"]), name="day")
    return air_quality.annual_assessment(frame, year)


def annual_statistics(reader, year: int) -> dict[str, dict]:
    """The HJ 663 statistics of each city's closed year, city → row of table air_annual_statistics:
    the rows the pipeline stored (pipelines.assessment.air_annual.refresh_year), or, for a year it
    has not closed in this warehouse, the same function's rows from the days the document reads
    (air_annual.year_statistics): one implementation either way."""
    from pipelines.assessment import air_annual
    from pipelines.reports.reading import months_of

    stored = reader.air_annual_statistics(year)   # kept with an issue, as its observations are
    if len(stored):
        records = stored.astype(object).where(stored.notna(), None).to_dict(orient="records")
        return {row["site_id"]: {**row, "source": "stored"} for row in records}
    days = pd.concat([reader.air_station_days(m) for m in months_of(year)], ignore_index=True)
    rows = air_annual.year_statistics(days, year, date(year, 12, 31))
    return {row["site_id"]: {**row, "source": "computed"} for row in rows if row["scope"] == "city"}
