"""Air quality: the AQI (real-time hourly and daily, HJ 633), the data-validity rules (GB 3095) and
the annual assessment (HJ 663 statistics against GB 3095 limits), each under the version in force
at the time of the data: HJ 633-2012 / GB 3095-2012 / HJ 663-2013 before 2026-03-01, HJ 633—2026 /
GB 3095—2026 (phase 1 to 2030, phase 2 from 2031) / HJ 663—2026 from then on.

The numbers and conventions are data in pipelines/reference/data (hj633_breakpoints,
aqi_conventions, aqi_concentration_rounding, aqi_levels, air_validity, gb3095_air_limits,
hj663_annual_statistics, period_changeover), read through standards.in_force. `at` is the time
whose rules apply: an hour's end (the hour's label) for the real-time AQI, the day for a daily
value, and for a year the day period_changeover.csv names (its last day).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd

from pipelines.reference import standards

POLLUTANTS = ("so2", "no2", "co", "o3", "pm10", "pm2_5")
ANNUAL_COLUMNS = ("so2", "no2", "co", "pm10", "pm2_5", "o3_8h")  # the daily values a year is assessed from


@dataclass
class AqiResult:
    aqi: int | None
    sub_indices: dict[str, int] = field(default_factory=dict)
    primary_pollutants: list[str] = field(default_factory=list)
    exceeding_pollutants: list[str] = field(default_factory=list)
    level: str | None = None
    category: str | None = None
    colour_hex: str | None = None
    notes: list[str] = field(default_factory=list)
    standard: str = ""        # the standards in words (standards.rule_version(...).label)
    rule_version: str = ""    # the rule version's id


# --- the rules of a time, parsed once per version --------------------------------------------

def _breakpoint_periods(rule: str, at) -> dict[str, str]:
    return _periods(standards.version_start("aqi_conventions", at), rule)


@standards.rule_cache
def _periods(start: date, rule: str) -> dict[str, str]:
    text = standards.aqi_convention(rule, start)
    return dict(part.split("=") for part in text.split(";"))


def _number_rule(rule: str, at) -> int:
    return int(standards.aqi_convention(rule, at))


def _list_rule(rule: str, at) -> tuple[str, ...]:
    return tuple(part for part in standards.aqi_convention(rule, at).split(";") if part)


def rounded_concentration(code: str, value: float, at=None) -> float:
    """The concentration as it enters the IAQI lookup (aqi_concentration_rounding.csv), half to even."""
    decimals = _concentration_decimals(standards.version_start("aqi_concentration_rounding", at))[code.removesuffix("_8h")]
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN))


@standards.rule_cache
def _concentration_decimals(start: date) -> dict[str, int]:
    table = standards.in_force("aqi_concentration_rounding", start)
    return {code: int(decimals) for code, decimals in zip(table["code"], table["decimals"])}


def _present(values: dict, code: str) -> float | None:
    value = values.get(code)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _result(sub_indices: dict[str, int], notes: list[str], at) -> AqiResult:
    version = standards.rule_version("air", at)
    if not sub_indices:
        return AqiResult(None, notes=notes, standard=version.label, rule_version=version.id)
    aqi = max(sub_indices.values())
    if standards.aqi_convention("primary_pollutant_ties", at) != "integer":
        raise ValueError("aqi_conventions.csv: only integer ties of the primary pollutant are implemented")
    # ties on the integer (rounded-up) sub-indices; none at or below the threshold (HJ 633; the feed)
    above = _number_rule("primary_pollutant_above_aqi", at)
    primary = [c for c, v in sub_indices.items() if v == aqi] if aqi > above else []
    exceeding = [c for c, v in sub_indices.items() if v > _number_rule("exceeding_above_iaqi", at)]
    level = standards.aqi_level(aqi, at)
    return AqiResult(aqi, sub_indices, primary, exceeding, level["level"], level["category"], level["hex"], notes,
                     version.label, version.id)


def hourly_aqi(values: dict[str, float], at=None) -> AqiResult:
    """Real-time AQI from 1-hour concentrations (µg/m³; CO mg/m³) under the rules in force at `at`
    (the end of the hour; default: today). `so2_24h` is used when the SO2 1-h value is above 800
    (HJ 633 Table 1 note 2). Availability (aqi_conventions.csv, the CNEMC feed's convention): with
    one of the required pollutants missing there is an AQI only when the others give more than
    100; the sub-indices are kept either way."""
    sub, notes = {}, []
    for code, period in _breakpoint_periods("hourly_breakpoints", at).items():
        value = _present(values, code)
        if value is None:
            continue
        index = standards.iaqi(code, period, rounded_concentration(code, value, at), at)
        if index is None and code == "so2":
            fallback = _present(values, "so2_24h")
            notes.append("SO2 1-h above 800: sub-index from the 24-h value" if fallback is not None
                         else "SO2 1-h above 800 and no 24-h value: SO2 not indexed")
            if fallback is not None:
                index = standards.iaqi("so2", "PT24H", rounded_concentration("so2", fallback, at), at)
        if index is not None:
            sub[code] = index
    result = _result(sub, notes, at)
    missing = [code for code in _list_rule("hourly_required_pollutants", at) if _present(values, code) is None]
    threshold = _number_rule("hourly_incomplete_above_aqi", at)
    if missing and result.aqi is not None and result.aqi <= threshold:
        withheld = _result({}, notes + [f"no AQI: {', '.join(missing)} missing and the others give {result.aqi} "
                                        f"(≤ {threshold}; aqi_conventions.csv hourly_required_pollutants)"], at)
        withheld.sub_indices = sub
        return withheld
    return result


def daily_aqi(values: dict[str, float], at=None) -> AqiResult:
    """Daily AQI under the rules in force on the day `at`, from 24-h means of SO2, NO2, CO, PM10,
    PM2.5, the O3 daily maximum 1-h (`o3`) and the O3 daily maximum 8-h mean (`o3_8h`). O3 8-h above
    800: the 1-h index stands (note 3)."""
    sub, notes = {}, []
    for code, period in _breakpoint_periods("daily_breakpoints", at).items():
        value = _present(values, code)
        if value is None:
            continue
        pollutant = "o3" if code == "o3_8h" else code
        index = standards.iaqi(pollutant, period, rounded_concentration(code, value, at), at)
        if index is None:
            notes.append("O3 8-h above 800: the O3 1-h sub-index is used")
            continue
        sub[code] = index
    if "o3_8h" in sub and "o3" in sub:  # one O3 sub-index: the larger of the two
        sub["o3"] = max(sub.pop("o3_8h"), sub["o3"])
    elif "o3_8h" in sub:
        sub["o3"] = sub.pop("o3_8h")
    return _result(sub, notes, at)


def is_good_day(aqi: int | None, day=None) -> bool | None:
    """优良天 (meets GB 3095 class Ⅱ as a day): AQI up to good_day_max_aqi under the day's rules."""
    return None if aqi is None else aqi <= _number_rule("good_day_max_aqi", day)


# --- validity and statistics ----------------------------------------------------------------

def validity(at=None) -> dict[str, int]:
    return _validity(standards.version_start("air_validity", at))


@standards.rule_cache
def _validity(start: date) -> dict[str, int]:
    table = standards.in_force("air_validity", start)
    return {statistic: int(n) for statistic, n in zip(table["statistic"], table["min_values"])}


def daily_mean(hourly: pd.Series, at=None) -> float | None:
    """24-h mean of one pollutant from its hourly values; None below the day's minimum (20 hours)."""
    valid = hourly.dropna()
    return float(valid.mean()) if len(valid) >= validity(at)["daily_mean"] else None


def o3_8h_moving_means(hourly: pd.Series, at=None) -> pd.Series:
    """8-h moving means ending at each hour (index: hour-end timestamps), valid with ≥ 6 values."""
    hourly = hourly.asfreq("h") if isinstance(hourly.index, pd.DatetimeIndex) else hourly
    counts = hourly.rolling(8, min_periods=1).count()
    means = hourly.rolling(8, min_periods=1).mean()
    return means.where(counts >= validity(at)["o3_8h_mean"])


def o3_8h_daily_max(hourly_for_day: pd.Series, hours_before: pd.Series | None = None, at=None) -> float | None:
    """The daily maximum of the 8-h means ending 08:00–24:00 (hours 8..24 of the day), valid with
    ≥ 14 valid 8-h means (HJ 663, UNVERIFIED). `hours_before` supplies the previous evening."""
    series = hourly_for_day if hours_before is None else pd.concat([hours_before, hourly_for_day])
    means = o3_8h_moving_means(series, at).iloc[-17:]  # means ending at the day's hours 8..24
    valid = means.dropna()
    return float(valid.max()) if len(valid) >= validity(at)["o3_8h_daily_max"] else None


def daily_values(hourly: dict[str, pd.Series], day) -> dict[str, float | None]:
    """A station's daily statistics from its day of hourly series (one per pollutant code): the 24-h
    means, the O3 daily maximum 1-h (`o3`) and 8-h (`o3_8h`), under the day's validity rules."""
    values = {code: daily_mean(series, day) for code, series in hourly.items() if code != "o3"}
    o3 = hourly["o3"].dropna()
    values["o3"] = float(o3.max()) if len(o3) >= validity(day)["daily_mean"] else None
    values["o3_8h"] = o3_8h_daily_max(hourly["o3"], at=day)
    return values


def percentile(values, p: float) -> float:
    """HJ 663 Annex A: k = 1 + (n − 1)·p/100, m_p = X(s) + (X(s+1) − X(s))·(k − s)."""
    ordered = sorted(float(v) for v in values)
    if not ordered:
        raise ValueError("no values")
    k = 1 + (len(ordered) - 1) * p / 100
    s = int(k)
    if s >= len(ordered):
        return ordered[-1]
    return ordered[s - 1] + (ordered[s] - ordered[s - 1]) * (k - s)


def annual_is_valid(daily: pd.Series, at=None) -> bool:
    """≥ 324 daily values in the year and ≥ 27 in each month (≥ 25 in February)."""
    rules = validity(at)
    valid = daily.dropna()
    if len(valid) < rules["annual_mean"]:
        return False
    per_month = valid.groupby(valid.index.month).size().reindex(range(1, 13), fill_value=0)
    needed = [rules["monthly_days_february"] if m == 2 else rules["monthly_days"] for m in range(1, 13)]
    return bool((per_month.values >= np.array(needed)).all())


def annual_statistics_table(at=None) -> pd.DataFrame:
    return standards.in_force("hj663_annual_statistics", at).set_index("code")


def year_rule_date(year: int) -> date:
    """The day whose rules assess calendar year `year` (period_changeover.csv, air/year)."""
    method = standards.changeover("air", "year")
    if method != "end":
        raise ValueError(f"period_changeover.csv: air/year method {method!r} is not implemented (only 'end')")
    return date(year, 12, 31)


@dataclass
class AnnualAssessment:
    valid: bool
    means: dict[str, float]
    percentiles: dict[str, float]
    compliant: dict[str, bool]
    composite_index: float | None
    composite_primary: str | None
    year: int | None = None
    limits: dict[str, dict[str, float]] = field(default_factory=dict)   # code → {"mean": S, "percentile": S}
    standard: str = ""
    rule_version: str = ""
    rules_from: date | None = None     # the day whose rules were applied (the year's last day)
    notes: list[str] = field(default_factory=list)

    @property
    def is_compliant(self) -> bool | None:
        """Every assessed item meets class Ⅱ (None when none could be assessed)."""
        return all(self.compliant.values()) if self.compliant else None


def annual_assessment(daily: pd.DataFrame, year: int | None = None) -> AnnualAssessment:
    """From one calendar year of daily values (DatetimeIndex; columns so2, no2, co, pm10, pm2_5
    24-h means and o3_8h daily maxima): annual means, HJ 663 percentiles, GB 3095 class Ⅱ
    compliance (mean and percentile both within the limits) and the composite index Σ C_i/S_i
    (城市空气质量排名技术规定 2014; standards.md §4.3), all under the version in force on the
    year's last day (period_changeover.csv): 2026 is judged against GB 3095—2026 phase 1 (PM2.5
    30/60 µg/m³), days of January and February included. A limit in force that is not known
    (GB 3095—2026 phase 2 for PM10, SO2, NO2) raises standards.RuleRefused."""
    if year is None:
        years = sorted(set(daily.index.year))
        if len(years) != 1:
            raise ValueError(f"annual_assessment needs one calendar year of days, not {years}")
        year = years[0]
    at = year_rule_date(year)
    version = standards.rule_version("air", at)
    table = annual_statistics_table(at)
    means, percentiles, compliant, limits = {}, {}, {}, {}
    valid = all(annual_is_valid(daily[c], at) for c in daily.columns if c in ("so2", "no2", "pm10", "pm2_5"))
    for code, row in table.iterrows():
        column = "o3_8h" if code == "o3" else code
        if column not in daily.columns or daily[column].dropna().empty:
            continue
        series = daily[column].dropna()
        limits[code] = {"percentile": standards.air_limit(code, row["percentile_limit_averaging"], at=at)}
        percentiles[code] = percentile(series, float(row["percentile"]))
        ok = percentiles[code] <= limits[code]["percentile"]
        if row["mean_limit_averaging"]:
            limits[code]["mean"] = standards.air_limit(code, row["mean_limit_averaging"], at=at)
            means[code] = float(series.mean())
            ok = ok and means[code] <= limits[code]["mean"]
        compliant[code] = bool(ok)
    composite, primary = None, None
    if all(c in means for c in ("so2", "no2", "pm10", "pm2_5")) and {"co", "o3"} <= set(percentiles):
        single = {c: means[c] / standards.air_limit(c, "annual", at=at) for c in ("so2", "no2", "pm10", "pm2_5")}
        single["co"] = percentiles["co"] / standards.air_limit("co", "PT24H", at=at)
        single["o3"] = percentiles["o3"] / standards.air_limit("o3", "PT8H", at=at)
        composite, primary = sum(single.values()), max(single, key=single.get)
    notes = []
    earlier = sorted({standards.rule_version("air", d).label for d in daily.index.date} - {version.label})
    if earlier:
        notes.append(f"the year is assessed under {version.label} (in force on {at.isoformat()}); some of its days "
                     f"fell under {'; '.join(earlier)} (period_changeover.csv: air/year 'end')")
    return AnnualAssessment(valid, means, percentiles, compliant, composite, primary, year, limits, version.label,
                            version.id, at, notes)


def city_daily_values(station_days: pd.DataFrame) -> pd.DataFrame:
    """A city's daily values from its stations' (rows: day, station_id, then one column per item of
    ANNUAL_COLUMNS): the mean of the stations' valid values per day (aqi_conventions.csv
    city_daily_value, UNVERIFIED). Index: the days (DatetimeIndex)."""
    rule = standards.aqi_convention("city_daily_value")
    if rule != "station_mean":
        raise ValueError(f"aqi_conventions.csv: city_daily_value {rule!r} is not implemented")
    columns = [c for c in ANNUAL_COLUMNS if c in station_days.columns]
    frame = station_days.groupby("day")[columns].mean()
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    return frame.sort_index()


# --- the cities' ranking (城市环境空气质量排名技术规定, 2014; standards.md §4.3) ----------------

COMPOSITE_INDEX_DECIMALS = 2   # the ministry publishes the index to two decimals (UNVERIFIED: text not in hand)


def rank_by_composite_index(indices: dict[str, float | None]) -> dict[str, int | None]:
    """The ministry's city ranking: ascending composite index, 1 the best (lowest). Ranked on the
    index as published (COMPOSITE_INDEX_DECIMALS), equal published indices share the better rank
    (并列; UNVERIFIED: the ranking rule's text on ties is not in hand). A city without an index is
    not ranked (None)."""
    published = {city: round(float(value), COMPOSITE_INDEX_DECIMALS) for city, value in indices.items()
                 if value is not None and not math.isnan(float(value))}
    ordered = sorted(published.values())
    return {city: (ordered.index(published[city]) + 1 if city in published else None) for city in indices}
