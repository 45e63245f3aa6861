"""Air quality: HJ 633-2012 AQI (real-time hourly and daily), GB 3095-2012 validity and limits,
HJ 663-2013 annual statistics. Breakpoints, limits and rules are data in pipelines/data."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

import numpy as np
import pandas as pd

from pipelines.reference import standards

POLLUTANTS = ("so2", "no2", "co", "o3", "pm10", "pm2_5")
# The real-time report: SO2, NO2, CO and O3 against their 1-h breakpoints, PM10 and PM2.5
# against the 24-h ones (HJ 633-2012; standards.md §4.1 and §8). The O3 8-h moving mean is left
# out: that is what reproduces the CNEMC feed's published AQI (standards.md §8).
HOURLY_BREAKPOINTS = {"so2": "PT1H", "no2": "PT1H", "co": "PT1H", "o3": "PT1H", "pm10": "PT24H", "pm2_5": "PT24H"}
DAILY_BREAKPOINTS = {"so2": "PT24H", "no2": "PT24H", "co": "PT24H", "pm10": "PT24H", "pm2_5": "PT24H",
                     "o3": "PT1H", "o3_8h": "PT8H"}
PRIMARY_THRESHOLD = 50     # a primary pollutant is named only when AQI > 50 (HJ 633; C2)
EXCEEDING_THRESHOLD = 100  # IAQI > 100: 超标污染物 (C1)


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


@cache
def _concentration_decimals() -> dict[str, int]:
    table = pd.read_csv(standards.DATA_DIR / "aqi_concentration_rounding.csv")
    return dict(zip(table["code"], table["decimals"]))


def rounded_concentration(code: str, value: float) -> float:
    decimals = _concentration_decimals()[code.removesuffix("_8h")]
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN))


def _present(values: dict, code: str) -> float | None:
    value = values.get(code)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _result(sub_indices: dict[str, int], notes: list[str]) -> AqiResult:
    if not sub_indices:
        return AqiResult(None, notes=notes)
    aqi = max(sub_indices.values())
    primary = [c for c, v in sub_indices.items() if v == aqi] if aqi > PRIMARY_THRESHOLD else []
    exceeding = [c for c, v in sub_indices.items() if v > EXCEEDING_THRESHOLD]
    level = standards.aqi_level(aqi)
    return AqiResult(aqi, sub_indices, primary, exceeding, level["level"], level["category"], level["hex"], notes)


def hourly_aqi(values: dict[str, float]) -> AqiResult:
    """Real-time AQI from 1-hour concentrations (µg/m³; CO mg/m³). `so2_24h` is used when the
    SO2 1-h value is above 800 (HJ 633 Table 1 note 2)."""
    sub, notes = {}, []
    for code, period in HOURLY_BREAKPOINTS.items():
        value = _present(values, code)
        if value is None:
            continue
        index = standards.iaqi(code, period, rounded_concentration(code, value))
        if index is None and code == "so2":
            fallback = _present(values, "so2_24h")
            notes.append("SO2 1-h above 800: sub-index from the 24-h value" if fallback is not None
                         else "SO2 1-h above 800 and no 24-h value: SO2 not indexed")
            if fallback is not None:
                index = standards.iaqi("so2", "PT24H", rounded_concentration("so2", fallback))
        if index is not None:
            sub[code] = index
    return _result(sub, notes)


def daily_aqi(values: dict[str, float]) -> AqiResult:
    """Daily AQI from 24-h means of SO2, NO2, CO, PM10, PM2.5, the O3 daily maximum 1-h (`o3`)
    and the O3 daily maximum 8-h mean (`o3_8h`). O3 8-h above 800: the 1-h index stands (note 3)."""
    sub, notes = {}, []
    for code, period in DAILY_BREAKPOINTS.items():
        value = _present(values, code)
        if value is None:
            continue
        pollutant = "o3" if code == "o3_8h" else code
        index = standards.iaqi(pollutant, period, rounded_concentration(code, value))
        if index is None:
            notes.append("O3 8-h above 800: the O3 1-h sub-index is used")
            continue
        sub[code] = index
    if "o3_8h" in sub and "o3" in sub:  # one O3 sub-index: the larger of the two
        sub["o3"] = max(sub.pop("o3_8h"), sub["o3"])
    elif "o3_8h" in sub:
        sub["o3"] = sub.pop("o3_8h")
    return _result(sub, notes)


# --- validity and statistics ----------------------------------------------------------------

@cache
def validity() -> dict[str, int]:
    table = pd.read_csv(standards.DATA_DIR / "air_validity.csv")
    return dict(zip(table["statistic"], table["min_values"]))


def daily_mean(hourly: pd.Series) -> float | None:
    """24-h mean of one pollutant from its hourly values; None below 20 valid hours."""
    valid = hourly.dropna()
    return float(valid.mean()) if len(valid) >= validity()["daily_mean"] else None


def o3_8h_moving_means(hourly: pd.Series) -> pd.Series:
    """8-h moving means ending at each hour (index: hour-end timestamps), valid with ≥ 6 values."""
    hourly = hourly.asfreq("h") if isinstance(hourly.index, pd.DatetimeIndex) else hourly
    counts = hourly.rolling(8, min_periods=1).count()
    means = hourly.rolling(8, min_periods=1).mean()
    return means.where(counts >= validity()["o3_8h_mean"])


def o3_8h_daily_max(hourly_for_day: pd.Series, hours_before: pd.Series | None = None) -> float | None:
    """The daily maximum of the 8-h means ending 08:00–24:00 (hours 8..24 of the day), valid with
    ≥ 14 valid 8-h means (HJ 663, UNVERIFIED). `hours_before` supplies the previous evening."""
    series = hourly_for_day if hours_before is None else pd.concat([hours_before, hourly_for_day])
    means = o3_8h_moving_means(series).iloc[-17:]  # means ending at the day's hours 8..24
    valid = means.dropna()
    return float(valid.max()) if len(valid) >= validity()["o3_8h_daily_max"] else None


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


def annual_is_valid(daily: pd.Series) -> bool:
    """≥ 324 daily values in the year and ≥ 27 in each month (≥ 25 in February)."""
    valid = daily.dropna()
    if len(valid) < validity()["annual_mean"]:
        return False
    per_month = valid.groupby(valid.index.month).size().reindex(range(1, 13), fill_value=0)
    needed = [validity()["monthly_days_february"] if m == 2 else validity()["monthly_days"] for m in range(1, 13)]
    return bool((per_month.values >= np.array(needed)).all())


@cache
def annual_statistics_table() -> pd.DataFrame:
    return pd.read_csv(standards.DATA_DIR / "hj663_annual_statistics.csv").set_index("code")


def _limit(code: str, averaging: str, limit_class: str = "class_2") -> float:
    table = pd.read_csv(standards.DATA_DIR / "gb3095_air_limits.csv").set_index(["code", "averaging"])
    return float(table.loc[(code, averaging), limit_class])


@dataclass
class AnnualAssessment:
    valid: bool
    means: dict[str, float]
    percentiles: dict[str, float]
    compliant: dict[str, bool]
    composite_index: float | None
    composite_primary: str | None


def annual_assessment(daily: pd.DataFrame) -> AnnualAssessment:
    """From one year of daily values (DatetimeIndex; columns so2, no2, co, pm10, pm2_5 24-h
    means and o3_8h daily maxima): annual means, HJ 663 percentiles, GB 3095 class II
    compliance (mean and percentile both within the limits) and the composite index
    Σ C_i/S_i (城市空气质量排名技术规定 2014; standards.md §4.3)."""
    table = annual_statistics_table()
    means, percentiles, compliant = {}, {}, {}
    valid = all(annual_is_valid(daily[c]) for c in daily.columns if c in ("so2", "no2", "pm10", "pm2_5"))
    for code, row in table.iterrows():
        column = "o3_8h" if code == "o3" else code
        if column not in daily.columns or daily[column].dropna().empty:
            continue
        series = daily[column].dropna()
        percentiles[code] = percentile(series, row["percentile"])
        ok = percentiles[code] <= _limit(code, row["percentile_limit_averaging"])
        if isinstance(row["mean_limit_averaging"], str):
            means[code] = float(series.mean())
            ok = ok and means[code] <= _limit(code, row["mean_limit_averaging"])
        compliant[code] = bool(ok)
    composite, primary = None, None
    if all(c in means for c in ("so2", "no2", "pm10", "pm2_5")) and {"co", "o3"} <= set(percentiles):
        single = {c: means[c] / _limit(c, "annual") for c in ("so2", "no2", "pm10", "pm2_5")}
        single["co"] = percentiles["co"] / _limit("co", "PT24H")
        single["o3"] = percentiles["o3"] / _limit("o3", "PT8H")
        composite, primary = sum(single.values()), max(single, key=single.get)
    return AnnualAssessment(valid, means, percentiles, compliant, composite, primary)
