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
    return _ResultRules(at).result(sub_indices, notes)


class _ResultRules:
    """The rules that turn sub-indices into an AQI result on one day, looked up once for all the
    stations of that day: the AQI, the primary and exceeding pollutants, the level."""

    def __init__(self, at):
        self.at = at
        self.version = standards.rule_version("air", at)
        if standards.aqi_convention("primary_pollutant_ties", at) != "integer":
            raise ValueError("aqi_conventions.csv: only integer ties of the primary pollutant are implemented")
        self.primary_above = _number_rule("primary_pollutant_above_aqi", at)
        self.exceeding_above = _number_rule("exceeding_above_iaqi", at)
        self.levels: dict[int, dict] = {}

    def result(self, sub_indices: dict[str, int], notes: list[str]) -> AqiResult:
        version = self.version
        if not sub_indices:
            return AqiResult(None, notes=notes, standard=version.label, rule_version=version.id)
        aqi = max(sub_indices.values())
        # ties on the integer (rounded-up) sub-indices; none at or below the threshold (HJ 633; the feed)
        primary = [c for c, v in sub_indices.items() if v == aqi] if aqi > self.primary_above else []
        exceeding = [c for c, v in sub_indices.items() if v > self.exceeding_above]
        if aqi not in self.levels:
            self.levels[aqi] = standards.aqi_level(aqi, self.at)
        level = self.levels[aqi]
        return AqiResult(aqi, sub_indices, primary, exceeding, level["level"], level["category"], level["hex"], notes,
                         version.label, version.id)


def hourly_aqi(values: dict[str, float], at=None) -> AqiResult:
    """Real-time AQI from 1-hour concentrations (µg/m³; CO mg/m³) under the rules in force at `at`
    (the end of the hour; default: today). `so2_24h` is used when the SO2 1-h value is above 800
    (HJ 633 Table 1 note 2). Availability (aqi_conventions.csv, the CNEMC feed's convention): with
    one of the required pollutants missing there is an AQI only when the others give more than
    100; the sub-indices are kept either way. One hour of hourly_aqis (the one implementation)."""
    return hourly_aqis({code: [value] for code, value in values.items()}, at, size=1).result(0)


SO2_NOTES = ("SO2 1-h above 800: sub-index from the 24-h value", "SO2 1-h above 800 and no 24-h value: SO2 not indexed")


class _HourlyRules:
    """The real-time AQI rules of one rule version (aqi_conventions.csv, hj633_breakpoints.csv ...),
    read once for every hour under it."""

    def __init__(self, at):
        self.at = at
        self.periods = _breakpoint_periods("hourly_breakpoints", at)
        self.required = _list_rule("hourly_required_pollutants", at)
        self.threshold = _number_rule("hourly_incomplete_above_aqi", at)
        self.results = _ResultRules(at)

    def indices(self, code: str, period: str, column: np.ndarray) -> np.ndarray:
        """The IAQI of each value (-1 where none: NaN, or above a table whose top is not 500), each
        distinct value rounded and looked up once (rounded_concentration, standards.iaqi)."""
        distinct, where = np.unique(column, return_inverse=True)
        looked_up = [-1 if math.isnan(v) else standards.iaqi(code, period, rounded_concentration(code, v, self.at),
                                                             self.at) for v in distinct.tolist()]
        return np.array([-1 if i is None else i for i in looked_up], dtype=np.int64)[where.reshape(-1)]


@dataclass
class HourlyAqis:
    """hourly_aqi of many hours at once, as arrays (row i: the i-th hour). `sub[i, k]` is the
    sub-index of codes[k] (-1: none), `aqi` the AQI (-1: none, or withheld by the availability rule),
    `highest` the largest sub-index (-1: none), `primary` / `exceeding` the primary and exceeding
    pollutants, `so2_note` 1 or 2 where SO2's 1-h value was over its table (SO2_NOTES), `withheld`
    the hours the availability rule leaves without an AQI, `missing[i, k]` whether the required
    pollutant codes[k] had no value, and `group` each hour's rules (rules[group])."""
    codes: tuple[str, ...]
    sub: np.ndarray
    aqi: np.ndarray
    highest: np.ndarray
    primary: np.ndarray
    exceeding: np.ndarray
    so2_note: np.ndarray
    withheld: np.ndarray
    missing: np.ndarray
    group: np.ndarray
    rules: list

    def __len__(self) -> int:
        return len(self.aqi)

    def result(self, i: int) -> AqiResult:
        """Hour i as hourly_aqi gives it: an AqiResult."""
        rules = self.rules[int(self.group[i])]
        version = rules.results.version
        column = {code: k for k, code in enumerate(self.codes)}
        notes = [SO2_NOTES[self.so2_note[i] - 1]] if self.so2_note[i] else []
        sub = {code: int(self.sub[i, column[code]]) for code in rules.periods if self.sub[i, column[code]] >= 0}
        if self.withheld[i]:
            missing = [code for code in rules.required if self.missing[i, column[code]]]
            notes.append(f"no AQI: {', '.join(missing)} missing and the others give {int(self.highest[i])} "
                         f"(≤ {rules.threshold}; aqi_conventions.csv hourly_required_pollutants)")
            return AqiResult(None, sub, notes=notes, standard=version.label, rule_version=version.id)
        if not sub:
            return AqiResult(None, notes=notes, standard=version.label, rule_version=version.id)
        aqi = int(self.aqi[i])
        level = rules.results.levels[aqi]
        return AqiResult(aqi, sub, [c for c in sub if self.primary[i, column[c]]],
                         [c for c in sub if self.exceeding[i, column[c]]], level["level"], level["category"],
                         level["hex"], notes, version.label, version.id)

    def results(self) -> list[AqiResult]:
        return [self.result(i) for i in range(len(self))]

    def rule_version(self, i: int) -> str:
        return self.rules[int(self.group[i])].results.version.id


def hourly_aqis(values: dict, at=None, size: int | None = None) -> HourlyAqis:
    """hourly_aqi of many hours at once (set-based, issue 27): values[code] holds each hour's 1-hour
    concentration (NaN or None where it has none); `at` is one time for every hour or each hour's
    own (its end, the hour's label). The hours are grouped by the rules in force at each
    (standards.rule_groups over the air tables: the 2012/2026 switch falls between the hours
    labelled 02-28T23 and 03-01T00); in each group every distinct concentration of a pollutant is
    rounded and indexed once, then the AQI, the primary and exceeding pollutants and the
    availability rule are taken over all its hours together."""
    per_hour = isinstance(at, (list, tuple, np.ndarray, pd.Series, pd.Index))
    if size is None:
        size = len(at) if per_hour else (len(next(iter(values.values()))) if values else 1)
    if per_hour:
        if len(at) != size:
            raise ValueError(f"hourly_aqis: {len(at)} times for {size} hours")
        groups, days = standards.rule_groups(standards.DOMAIN_TABLES["air"], at)
        group = np.asarray(groups, dtype=np.int64)
    else:
        group, days = np.zeros(size, dtype=np.int64), [standards.rule_date(at)]
    rules = [_HourlyRules(day) for day in days]
    codes = tuple(dict.fromkeys(c for r in rules for c in (*r.periods, *r.required)))
    column = {code: k for k, code in enumerate(codes)}

    def concentrations(code):
        given = values.get(code)
        return np.full(size, np.nan) if given is None else np.asarray(given, dtype=float).reshape(size)

    given = {code: concentrations(code) for code in codes}
    sub = np.full((size, len(codes)), -1, dtype=np.int64)
    so2_note = np.zeros(size, dtype=np.int8)
    missing = np.zeros((size, len(codes)), dtype=bool)
    for g, rule in enumerate(rules):
        rows = np.flatnonzero(group == g)
        for code, period in rule.periods.items():
            column_values = given[code][rows]
            index = rule.indices(code, period, column_values)
            over = (index < 0) & ~np.isnan(column_values)
            if code == "so2" and over.any():   # HJ 633 Table 1 note 2: the 24-h value, where there is one
                fallback = concentrations("so2_24h")[rows]
                has_24h = over & ~np.isnan(fallback)
                index = np.where(has_24h, rule.indices("so2", "PT24H", np.where(has_24h, fallback, np.nan)), index)
                so2_note[rows[over]] = np.where(has_24h[over], 1, 2)
            sub[rows, column[code]] = index
        for code in rule.required:
            missing[rows, column[code]] = np.isnan(given[code][rows])
    highest = sub.max(axis=1) if len(codes) else np.full(size, -1, dtype=np.int64)
    indexed = highest >= 0
    aqi = highest.copy()
    primary = np.zeros_like(sub, dtype=bool)
    exceeding = np.zeros_like(sub, dtype=bool)
    withheld = np.zeros(size, dtype=bool)
    for g, rule in enumerate(rules):
        rows = np.flatnonzero((group == g) & indexed)
        results = rule.results
        top = highest[rows][:, None]
        primary[rows] = (sub[rows] == top) & (top > results.primary_above)
        exceeding[rows] = sub[rows] > results.exceeding_above
        lacking = missing[rows].any(axis=1)
        withheld[rows] = lacking & (highest[rows] <= rule.threshold)
        for value in np.unique(highest[rows][~withheld[rows]]).tolist():
            if value not in results.levels:
                results.levels[value] = standards.aqi_level(value, rule.at)
    aqi[withheld] = -1
    primary[withheld] = exceeding[withheld] = False
    return HourlyAqis(codes, sub, aqi, highest, primary, exceeding, so2_note, withheld, missing, group, rules)


def daily_aqi(values: dict[str, float], at=None) -> AqiResult:
    """Daily AQI under the rules in force on the day `at`, from 24-h means of SO2, NO2, CO, PM10,
    PM2.5, the O3 daily maximum 1-h (`o3`) and the O3 daily maximum 8-h mean (`o3_8h`). O3 8-h above
    800: the 1-h index stands (note 3). One station of daily_aqis."""
    return daily_aqis({code: np.array([np.nan if _present(values, code) is None else _present(values, code)])
                       for code in values}, at)[0]


def daily_aqis(values: dict[str, np.ndarray], at=None) -> list[AqiResult]:
    """daily_aqi of many stations on one day: values[code] holds each station's value (NaN where it
    has none). Each distinct concentration is rounded and indexed once (rounded_concentration,
    standards.iaqi), then each station's sub-indices assembled in daily_aqi's order."""
    periods = _breakpoint_periods("daily_breakpoints", at)
    size = len(next(iter(values.values()))) if values else 1
    indexed: dict[str, tuple[np.ndarray, np.ndarray]] = {}   # code → (sub-index or -1, above the table)
    for code, period in periods.items():
        column = np.asarray(values.get(code, np.full(size, np.nan)), dtype=float)
        pollutant = "o3" if code == "o3_8h" else code
        distinct, where = np.unique(column, return_inverse=True)
        looked_up = [None if math.isnan(v) else standards.iaqi(pollutant, period, rounded_concentration(code, v, at), at)
                     for v in distinct.tolist()]
        index = np.array([-1 if i is None else i for i in looked_up], dtype=int)[where.reshape(-1)]
        over = np.array([i is None and not math.isnan(v) for i, v in zip(looked_up, distinct.tolist())],
                        dtype=bool)[where.reshape(-1)]
        indexed[code] = (index, over)
    rules = _ResultRules(at)
    results = []
    for station in range(size):
        sub, notes = {}, []
        for code in periods:
            index, over = indexed[code]
            if over[station]:
                notes.append("O3 8-h above 800: the O3 1-h sub-index is used")
            elif index[station] >= 0:
                sub[code] = int(index[station])
        if "o3_8h" in sub and "o3" in sub:  # one O3 sub-index: the larger of the two
            sub["o3"] = max(sub.pop("o3_8h"), sub["o3"])
        elif "o3_8h" in sub:
            sub["o3"] = sub.pop("o3_8h")
        results.append(rules.result(sub, notes))
    return results


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
    """A station's daily statistics from its day of hourly series (one per pollutant code, the 24
    hour-end slots 01:00 … 24:00): the 24-h means, the O3 daily maximum 1-h (`o3`) and 8-h (`o3_8h`),
    under the day's validity rules. One station-day of daily_statistics (the one implementation)."""
    codes = [code for code in hourly if code in POLLUTANTS]
    if any(len(series) != SLOTS for series in hourly.values()) or "o3" not in hourly:
        raise ValueError(f"daily_values needs the day's {SLOTS} hourly slots of each pollutant, O3 included")
    grid = np.full((1, 1, len(POLLUTANTS), SLOTS), np.nan)
    for code in codes:
        grid[0, 0, POLLUTANTS.index(code)] = hourly[code].to_numpy(dtype=float)
    statistics = daily_statistics(grid, [day])
    wanted = [code for code in codes if code != "o3"] + ["o3", "o3_8h"]
    return {code: _number_or_none(statistics[code][0, 0]) for code in wanted}


def _number_or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


# --- the daily statistics of many station-days at once ----------------------------------------
# One implementation of the day rules for every path (the nightly day, the archive's months, the
# reports' and the annual statistics' re-reads): numpy over a grid of station × day × pollutant ×
# hour-end slot. The pandas functions above (daily_mean, o3_8h_moving_means, o3_8h_daily_max) are
# the rules as first written, one series at a time: tests/test_air_quality.py holds this equal to
# them, bit for bit, on real and random days.

SLOTS = 24   # a day's hour-end slots, 01:00 … 24:00 Beijing


def daily_statistics(grid: np.ndarray, days) -> dict[str, np.ndarray]:
    """grid[station, day, pollutant (POLLUTANTS order), slot] → {code: values[station, day]}: the
    24-h mean of each pollutant but O3, the O3 daily maximum 1-h (`o3`) and 8-h mean (`o3_8h`);
    NaN where the day's validity rules (air_validity.csv in force on each of `days`) give none."""
    rules = [validity(day) for day in days]
    enough_hours = np.array([r["daily_mean"] for r in rules])            # per day, broadcast over stations
    counts = (~np.isnan(grid)).sum(axis=-1)
    out = {}
    for p, code in enumerate(POLLUTANTS):
        if code != "o3":
            out[code] = np.where(counts[:, :, p] >= enough_hours, _means_as_pandas(grid[:, :, p]), np.nan)
    o3 = grid[:, :, POLLUTANTS.index("o3")]
    with np.errstate(all="ignore"):
        highest = np.where(counts[:, :, POLLUTANTS.index("o3")] > 0, np.nanmax(np.where(np.isnan(o3), -np.inf, o3),
                                                                               axis=-1), np.nan)
    out["o3"] = np.where(counts[:, :, POLLUTANTS.index("o3")] >= enough_hours, highest, np.nan)
    out["o3_8h"] = _o3_8h_daily_max(o3, np.array([r["o3_8h_mean"] for r in rules]),
                                    np.array([r["o3_8h_daily_max"] for r in rules]))
    return out


def _means_as_pandas(values: np.ndarray) -> np.ndarray:
    """The mean of the non-NaN values along the last axis, summed as Series.dropna().mean() sums
    them (numpy's pairwise sum of the n values kept, in order), so equal to it to the last bit:
    rows are grouped by n and each group's first n values (NaNs moved last, order kept) summed."""
    flat = values.reshape(-1, values.shape[-1])
    present = ~np.isnan(flat)
    counts = present.sum(axis=1)
    packed = np.take_along_axis(flat, np.argsort(~present, axis=1, kind="stable"), axis=1)
    means = np.full(len(flat), np.nan)
    for n in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == n)
        means[rows] = np.ascontiguousarray(packed[rows, :n]).sum(axis=1) / n
    return means.reshape(values.shape[:-1])


def _o3_8h_daily_max(o3: np.ndarray, enough_in_window: np.ndarray, enough_means: np.ndarray) -> np.ndarray:
    """The O3 daily maximum 8-h mean of each station-day (o3[station, day, slot]): of the 8-h means
    ending at the day's hours 8..24, valid with ≥ enough_in_window values, the largest, where at least
    enough_means are valid (as o3_8h_daily_max)."""
    means, counts = rolling_means_8h(o3)
    last = means[..., -17:]
    valid = counts[..., -17:] >= enough_in_window[:, None]
    highest = np.where(valid, last, -np.inf).max(axis=-1)
    return np.where(valid.sum(axis=-1) >= enough_means, highest, np.nan)


def rolling_means_8h(series: np.ndarray, window: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The means and counts of the `window`-hour windows ending at each slot of the last axis, as
    pandas' rolling(window, min_periods=1).mean() and .count() give them: the window's sum kept by
    adding each value and removing the one leaving, each with Kahan compensation, the mean snapped to
    the value when the window holds one repeated value (pandas GH#42064) and to 0 on the wrong side of
    it, NaN over an empty window. Every row at once; the slots one after another."""
    shape = series.shape[:-1]
    total, add_carry, remove_carry = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    count, negatives, same_run = np.zeros(shape, int), np.zeros(shape, int), np.zeros(shape, int)
    previous = series[..., 0].copy()
    means, counts = np.full(series.shape, np.nan), np.zeros(series.shape, int)
    for slot in range(series.shape[-1]):
        if slot >= window:   # the value leaving the window
            leaving = series[..., slot - window]
            here = ~np.isnan(leaving)
            y = -leaving - remove_carry
            t = total + y
            remove_carry = np.where(here, t - total - y, remove_carry)
            total = np.where(here, t, total)
            count = count - here
            negatives = negatives - (here & np.signbit(leaving))
        value = series[..., slot]
        here = ~np.isnan(value)
        y = value - add_carry
        t = total + y
        add_carry = np.where(here, t - total - y, add_carry)
        total = np.where(here, t, total)
        count = count + here
        negatives = negatives + (here & np.signbit(value))
        same_run = np.where(here, np.where(value == previous, same_run + 1, 1), same_run)
        previous = np.where(here, value, previous)
        with np.errstate(all="ignore"):
            mean = total / count
        mean = np.where(same_run >= count, previous, mean)
        mean = np.where((same_run < count) & (negatives == 0) & (mean < 0), 0.0, mean)
        mean = np.where((same_run < count) & (negatives == count) & (mean > 0), 0.0, mean)
        means[..., slot] = np.where(count > 0, mean, np.nan)
        counts[..., slot] = count
    return means, counts


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
    """The HJ 663 annual statistics in force at `at`, indexed by code. Cached per version (a year's
    statistics of 1,600 stations ask for it 1,600 times): shared, read it, do not change it."""
    return _annual_statistics_table(standards.version_start("hj663_annual_statistics", at))


@standards.rule_cache
def _annual_statistics_table(start: date) -> pd.DataFrame:
    return standards.in_force("hj663_annual_statistics", start).set_index("code")


@standards.rule_cache
def _annual_statistics_rows(start: date) -> tuple:
    """(code, row) of annual_statistics_table, as iterrows gives them, read once per version."""
    return tuple(_annual_statistics_table(start).iterrows())


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
    means, percentiles, compliant, limits = {}, {}, {}, {}
    valid = all(annual_is_valid(daily[c], at) for c in daily.columns if c in ("so2", "no2", "pm10", "pm2_5"))
    for code, row in _annual_statistics_rows(standards.version_start("hj663_annual_statistics", at)):
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
