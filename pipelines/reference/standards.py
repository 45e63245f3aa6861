"""The standards' rule tables in pipelines/reference/data, and the one lookup that picks the rows in
force at a time.

Every rule table carries, on each row, the standard, clause and phase it comes from and its
effective period: `valid_from` and `valid_to`, dates on the bureaus' clock (Asia/Shanghai), both
inclusive; an empty `valid_from` reaches back before any data envmon holds (no earlier version is
encoded), an empty `valid_to` has no end yet. A revision of a standard is new rows with their
period, never a code change. `in_force(table, at)` answers which rows apply at a time, for every
caller; the other functions here read through it.

GB 3838-2002 (surface water), GB 3097-1997 (seawater), HJ 633-2012 / HJ 633—2026 (AQI),
GB 3095-2012 / GB 3095—2026 (ambient air limits, in phases), HJ 663-2013 / HJ 663—2026
(assessment statistics): shared/reference/standards.md §1–§4. Rows marked UNVERIFIED are values
the notes could not confirm from the official text; a rule in force whose value is not known at all
(GB 3095—2026 phase 2 for PM10, SO2 and NO2) has an empty cell, and asking for it raises
RuleRefused instead of guessing.
"""
from __future__ import annotations

import bisect
import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

import pandas as pd

from pipelines import clock

DATA_DIR = Path(__file__).parent / "data"

# The columns every rule table carries on each row.
RULE_COLUMNS = ("standard", "clause", "phase", "valid_from", "valid_to", "status")
# Rule tables and the columns that name one rule in them: at any date at most one row per key is
# in force (tests/test_standards.py checks every table for overlaps).
RULE_TABLES: dict[str, tuple[str, ...]] = {
    "hj633_breakpoints": ("code", "period"),
    "aqi_levels": ("aqi_low",),
    "aqi_concentration_rounding": ("code",),
    "aqi_conventions": ("rule",),
    "air_validity": ("statistic",),
    "gb3095_air_limits": ("code", "averaging"),
    "hj663_annual_statistics": ("code",),
    "period_changeover": ("domain", "period"),
    "gb3838_surface_water": ("code", "applies_to"),
    "gb3838_drinking_water": ("code",),
    "gb3097_seawater": ("code",),
    "reporting_precision": ("context", "code"),
    "surface_water_completeness": ("period",),
    "water_class_grades": ("water_class",),
    "river_grades": ("grade",),
    "tli_grades": ("grade",),
    "tli_parameters": ("code",),
    "spearman_critical": ("n",),
    "cross_boundary_schemes": ("scheme_id", "applies_to"),
    "cross_boundary_agreements": ("scheme_id",),  # an agreement's terms and money: one in force per scheme
    "censoring": ("method",),
    "required_indicators": ("code", "applies_to"),  # the indicators a GB 3838 section-day or month needs
    "feed_formats": ("feed", "format", "column"),     # each feed's header (pipelines/reference/feed_formats.py)
    # each section's target by period (issue 23): the registry's seed. The targets in force are the
    # warehouse's registry (pipelines/reference/targets.py target_in_force), this file its version 1
    "section_targets": ("section_id",),
}
# The tables whose rows in force make up a domain's rule version (what an assessment records).
DOMAIN_TABLES: dict[str, tuple[str, ...]] = {
    "air": ("hj633_breakpoints", "aqi_levels", "aqi_concentration_rounding", "aqi_conventions", "air_validity",
            "gb3095_air_limits", "hj663_annual_statistics", "period_changeover"),
    "surface_water": ("gb3838_surface_water", "gb3838_drinking_water", "reporting_precision",
                      "surface_water_completeness", "water_class_grades", "river_grades", "tli_grades",
                      "tli_parameters", "cross_boundary_schemes", "censoring", "period_changeover"),
    "seawater": ("gb3097_seawater", "censoring", "period_changeover"),
}
# The tables whose standards name a domain's version in words, in this order.
DOMAIN_LABEL_TABLES: dict[str, tuple[str, ...]] = {
    "air": ("hj633_breakpoints", "gb3095_air_limits", "hj663_annual_statistics"),
    "surface_water": ("gb3838_surface_water", "water_class_grades"),
    "seawater": ("gb3097_seawater",),
}

SURFACE_WATER_CLASSES = ("Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ")
SURFACE_WATER_WORST = "劣Ⅴ"
# Column of each class in gb3838_surface_water.csv (ASCII headers, the standard's numerals as data).
_CLASS_COLUMN = dict(zip(SURFACE_WATER_CLASSES, ("I", "II", "III", "IV", "V")))
SEAWATER_CLASSES = ("一类", "二类", "三类", "四类")
SEAWATER_WORST = "劣四类"
# Exceedance multiples are computed against class III (地表水环境质量评价办法 2011; standards.md §2.2).
EXCEEDANCE_BASIS_CLASS = "Ⅲ"
# Not computed for pH or DO (standards.md §2.2, C1).
NO_EXCEEDANCE_MULTIPLE = frozenset({"ph", "do", "water_temp"})


_RULE_CACHES: list = []


def rule_cache(function):
    """functools.cache for a function of the rule tables: reload_rules() forgets it."""
    cached = cache(function)
    _RULE_CACHES.append(cached)
    return cached


def reload_rules() -> None:
    """Forget every rule table read and everything derived from one, in this process: after the
    files in pipelines/reference/data changed (tests, `envmon reassess` right after an edit). A new
    process reads them afresh anyway."""
    for cached in _RULE_CACHES:
        cached.cache_clear()


class RuleNotInForce(LookupError):
    """No row of a rule table applies at the time asked about."""


class RuleRefused(LookupError):
    """The rule in force at that time has no known value (UNVERIFIED in the notes): envmon refuses
    to assess against a guessed one."""


# --- the lookup ------------------------------------------------------------------------------

def rule_date(at=None) -> date:
    """The bureau date whose rules apply to `at`: a date as it is; an aware time (datetime,
    pandas Timestamp or ISO 8601 text with its offset) on the bureaus' clock; a naive time as
    bureau time; None for today (clock.today()). An hour's value carries the end of its hour, so
    the hour labelled 2026-03-01T00:00 falls on 2026-03-01, as the CNEMC feed applies it."""
    if at is None:
        return clock.today()
    if isinstance(at, str):
        at = parse_time(at)
    if isinstance(at, pd.Timestamp):
        at = at.to_pydatetime()
    if isinstance(at, datetime):
        return clock.bureau_date(at) if at.tzinfo is not None else at.date()
    if isinstance(at, date):
        return at
    raise TypeError(f"not a date or a time: {at!r}")


def parse_time(text: str) -> date | datetime:
    """An ISO 8601 date, or time (with its offset, or naive), from text; ValueError otherwise."""
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or time (e.g. 2026-03-01 or "
                         f"2026-03-01T08:00:00+08:00)") from None


def in_force(table: str, at=None) -> pd.DataFrame:
    """The rows of rule table `table` in force at `at` (see rule_date), as strings ('' where a cell
    is empty). Cached per version of the table: the frame is shared, read it, do not change it."""
    return _in_force(table, version_start(table, at))


def version_start(table: str, at=None) -> date:
    """The first day of the version of `table` in force at `at` (date.min before its first
    change): the key every cache of a table's rows is kept under."""
    day = rule_date(at)
    boundaries = _boundaries(table)
    position = bisect.bisect_right(boundaries, day)
    return boundaries[position - 1] if position else date.min


def rule_dates(times) -> list[date]:
    """rule_date of each of `times` (a sequence or Series of dates or times), each distinct time
    looked up once: the rules' days of 10^5 hours cost a few thousand lookups, not 10^5."""
    codes, distinct = pd.factorize(times if isinstance(times, pd.Series) else pd.Series(list(times), dtype=object),
                                   use_na_sentinel=False)
    days = [rule_date(time) for time in distinct]
    return [days[code] for code in codes.tolist()]


def rule_groups(tables, times) -> tuple[list[int], list[date]]:
    """The rows of `times` grouped by the rules in force at each (set-based, issue 27): (the group of
    each row, one day per group). Rows share a group when every table of `tables` has the same
    version in force at their times (version_start), so any rule those tables give on the group's
    day is the rule at each of its rows: a rule looked up once per group, the March 2026 hours
    (HJ 633—2026) apart from the February ones (HJ 633-2012), per hour."""
    days = rule_dates(times)
    group_of_day: dict[date, int] = {}
    group_of_key: dict[tuple, int] = {}
    first_days: list[date] = []
    for day in dict.fromkeys(days):
        key = tuple(version_start(table, day) for table in tables)
        if key not in group_of_key:
            group_of_key[key] = len(first_days)
            first_days.append(day)
        group_of_day[day] = group_of_key[key]
    return [group_of_day[day] for day in days], first_days


@rule_cache
def rule_table(table: str) -> pd.DataFrame:
    """Every row of a rule table, all versions, as strings; checks the rule columns are there."""
    if table not in RULE_TABLES:
        raise KeyError(f"{table} is not a rule table (standards.RULE_TABLES)")
    frame = pd.read_csv(DATA_DIR / f"{table}.csv", dtype=str, keep_default_na=False)
    missing = [c for c in (*RULE_COLUMNS, *RULE_TABLES[table]) if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}.csv lacks the columns {missing}")
    for column in ("valid_from", "valid_to"):
        for text in frame[column]:
            if text:
                date.fromisoformat(text)  # a malformed date fails here, on first use
    return frame


@rule_cache
def _boundaries(table: str) -> list[date]:
    """The days on which some row of `table` starts or stops applying, sorted."""
    frame = rule_table(table)
    days = {date.fromisoformat(t) for t in frame["valid_from"] if t}
    days |= {date.fromordinal(date.fromisoformat(t).toordinal() + 1) for t in frame["valid_to"] if t}
    return sorted(days)


@rule_cache
def _in_force(table: str, day: date) -> pd.DataFrame:
    frame = rule_table(table)
    starts = frame["valid_from"].map(lambda t: date.fromisoformat(t) if t else date.min)
    ends = frame["valid_to"].map(lambda t: date.fromisoformat(t) if t else date.max)
    rows = frame[(starts <= day) & (ends >= day)].reset_index(drop=True)
    if rows.empty:
        raise RuleNotInForce(f"no row of {table}.csv is in force on {day.isoformat()}")
    return rows


def in_force_typed(table: str, at=None) -> pd.DataFrame:
    """in_force with pandas' own column types (numbers as numbers, empty cells as NaN), for the
    tables whose readers compute with them. Cached per version, shared: do not change it."""
    return _typed(table, version_start(table, at))


@rule_cache
def _typed(table: str, start: date) -> pd.DataFrame:
    from io import StringIO

    return pd.read_csv(StringIO(_in_force(table, start).to_csv(index=False)))


def known(row, column: str, what: str) -> str:
    """A cell of a rule row in force, or RuleRefused where the rule's value is not known."""
    value = row[column]
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        raise RuleRefused(
            f"{what}: {row['standard']}{' ' + row['phase'] if row['phase'] else ''} "
            f"(from {row['valid_from'] or 'the start'}) has no known value ({row['status']}; {row.get('source', '')}). "
            "envmon refuses to assess against a guessed limit; add the value to "
            f"pipelines/reference/data with its source first")
    return str(value)


# --- rule versions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleVersion:
    """The rules a domain's assessment used: `id` names their content (a change of any row in
    force gives a new id), `label` the standards in words."""
    domain: str
    id: str
    label: str
    effective_from: date | None
    unverified: bool   # some row in force is marked UNVERIFIED


def rule_version(domain: str, at=None) -> RuleVersion:
    day = rule_date(at)
    return _rule_version(domain, tuple(version_start(table, day) for table in DOMAIN_TABLES[domain]))


@rule_cache
def _rule_version(domain: str, starts_of_tables: tuple[date, ...]) -> RuleVersion:
    digest = hashlib.sha256()
    starts, unverified = [], False
    in_force_rows = dict(zip(DOMAIN_TABLES[domain], (_in_force(t, s) for t, s in
                                                      zip(DOMAIN_TABLES[domain], starts_of_tables))))
    for table, rows in in_force_rows.items():
        if "domain" in rows.columns:
            rows = rows[rows["domain"] == domain]
        digest.update(table.encode())
        digest.update(rows.sort_values(list(rows.columns)).to_csv(index=False).encode())
        starts += [date.fromisoformat(t) for t in rows["valid_from"] if t]
        unverified |= bool(rows["status"].str.contains("UNVERIFIED").any())
    effective = max(starts) if starts else None
    labels = []
    for table in DOMAIN_LABEL_TABLES[domain]:
        rows = in_force_rows[table]
        for standard, phase in dict.fromkeys(zip(rows["standard"], rows["phase"])):
            labels.append(f"{standard} {phase}".strip())
    label = "; ".join(dict.fromkeys(labels))
    version_id = f"{domain}@{effective.isoformat() if effective else 'start'}#{digest.hexdigest()[:10]}"
    return RuleVersion(domain, version_id, label, effective, unverified)


def changeover(domain: str, period: str) -> str:
    """How a period that spans a change of rules is assessed (period_changeover.csv): 'own' (under
    the rules of its own time), 'split' (each day under its own rules) or 'end' (all of it under the
    rules in force on its last day)."""
    return _changeover(domain, period, version_start("period_changeover", None))


@rule_cache  # asked for every station's year by the annual statistics: 1,600 at national scope
def _changeover(domain: str, period: str, start: date) -> str:
    rows = _in_force("period_changeover", start)
    match = rows[(rows["domain"] == domain) & (rows["period"] == period)]
    if match.empty:
        raise KeyError(f"no changeover rule for {domain} {period} in period_changeover.csv")
    return match.iloc[0]["method"]


# --- parameters (not versioned: names and units) --------------------------------------------

@cache
def parameters() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "parameters.csv", dtype=str, keep_default_na=False).set_index(
        "code", drop=False
    )


@cache  # asked once per row by the simulator: a pandas lookup each time was most of its cost
def unit_of(code: str) -> str:
    return parameters().loc[code, "unit"]


# --- surface water and seawater --------------------------------------------------------------

def surface_water_limits(at=None) -> pd.DataFrame:
    return in_force("gb3838_surface_water", at)


def seawater_limits(at=None) -> pd.DataFrame:
    return _seawater_frame(version_start("gb3097_seawater", at))


@rule_cache
def _seawater_frame(start: date) -> pd.DataFrame:
    return _in_force("gb3097_seawater", start).set_index("code", drop=False)


def water_class_grades(at=None) -> pd.DataFrame:
    return _grades_frame(version_start("water_class_grades", at))


@rule_cache
def _grades_frame(start: date) -> pd.DataFrame:
    return _in_force("water_class_grades", start).set_index("water_class", drop=False)


def assessment_indicators(at=None) -> tuple[str, ...]:
    """The 21 surface-water assessment indicators (2011 method), in table order."""
    return _indicators(version_start("gb3838_surface_water", at))


@rule_cache
def _indicators(start: date) -> tuple[str, ...]:
    table = _in_force("gb3838_surface_water", start)
    return tuple(dict.fromkeys(table.loc[table["is_assessment_indicator"] == "true", "code"]))


@rule_cache
def _surface_rows(start: date) -> dict[tuple[str, str], dict]:
    """(code, water-body type) → the limit row that applies ('all' rows serve both types)."""
    rows = {}
    for row in _in_force("gb3838_surface_water", start).to_dict(orient="records"):
        types = ("river", "lake") if row["applies_to"] == "all" else (row["applies_to"],)
        for water_body_type in types:
            rows[(row["code"], water_body_type)] = row
    return rows


def _surface_row(code: str, water_body_type: str, at=None) -> dict | None:
    return _surface_rows(version_start("gb3838_surface_water", at)).get((code, water_body_type))


def _meets(direction: str, cell: str, value: float) -> bool:
    if direction == "range":
        low, high = (float(part) for part in cell.split("-"))
        return low <= value <= high
    limit = float(cell)
    if direction == "max":
        return value <= limit
    if direction == "min":
        return value >= limit
    if direction == "min_exclusive":
        return value > limit
    raise ValueError(f"unknown limit direction {direction!r}")


def surface_water_class(code: str, value: float, water_body_type: str = "river", at=None) -> str | None:
    """GB 3838 class of one value under the version in force at `at`: the best class whose limit
    it meets; a value on a limit takes the better class; worse than class V is 劣Ⅴ. None when the
    item has no limit for that water body type. (One value through surface_water_ranks, the rule.)"""
    if value is None or math.isnan(value):
        return None
    rank = int(surface_water_ranks([code], [value], [water_body_type], at)[0])
    return SURFACE_WATER_RANKED[rank]


# rank → class: 0 no limit (None), 1 … 5 Ⅰ … Ⅴ, 6 劣Ⅴ (surface_class_rank's numbers)
SURFACE_WATER_RANKED = (None, *SURFACE_WATER_CLASSES, SURFACE_WATER_WORST)


@rule_cache
def _surface_limit_arrays(start: date) -> dict:
    """The GB 3838 rows in force from `start` as arrays, one row per (code, water-body type): the
    direction and, for each class Ⅰ … Ⅴ, the lower and upper bound of a value that meets it (NaN
    where the direction sets none) and whether the cell is known."""
    import numpy as np

    keys = sorted(_surface_rows(start))
    n = len(keys)
    low, high = np.full((n, 5), -np.inf), np.full((n, 5), np.inf)
    low_exclusive, cell_known = np.zeros(n, dtype=bool), np.zeros((n, 5), dtype=bool)
    limit = np.full((n, 5), np.nan)                      # the cell itself (not for a range): exceedance's S
    rows = [_surface_rows(start)[key] for key in keys]
    for i, row in enumerate(rows):
        direction = row["direction"]
        if direction not in ("range", "max", "min", "min_exclusive"):
            raise ValueError(f"unknown limit direction {direction!r}")
        low_exclusive[i] = direction == "min_exclusive"
        for k, water_class in enumerate(SURFACE_WATER_CLASSES):
            cell = row[_CLASS_COLUMN[water_class]]
            if cell is None or (isinstance(cell, float) and math.isnan(cell)) or str(cell).strip() == "":
                continue
            cell_known[i, k] = True
            if direction != "range":
                limit[i, k] = float(cell)
            if direction == "range":
                low[i, k], high[i, k] = (float(part) for part in str(cell).split("-"))
            elif direction == "max":
                high[i, k] = float(cell)
            else:
                low[i, k] = float(cell)
    return {"index": {key: i for i, key in enumerate(keys)}, "rows": rows, "low": low, "high": high,
            "low_exclusive": low_exclusive, "known": cell_known, "limit": limit,
            "range": np.array([row["direction"] == "range" for row in rows], dtype=bool)}


def _surface_row_index(codes, water_body_types, at) -> tuple:
    import numpy as np

    arrays = _surface_limit_arrays(version_start("gb3838_surface_water", at))
    index = arrays["index"]
    return arrays, np.array([index.get((c, t), -1) for c, t in zip(codes, water_body_types)], dtype=int)


def surface_water_ranks(codes, values, water_body_types, at=None):
    """The GB 3838 class of many values at once (set-based, issue 27), as ranks: 1 … 5 for Ⅰ … Ⅴ,
    6 for 劣Ⅴ, 0 where the item has no limit for its water-body type or the value is NaN. Each value
    takes the best class whose limit it meets (a value on a limit takes the better class), under the
    version in force at `at`; a class cell not known where a value reaches it refuses (known())."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    arrays, rows = _surface_row_index(codes, water_body_types, at)
    ranks = np.zeros(len(values), dtype=np.int8)
    pending = (rows >= 0) & ~np.isnan(values)
    safe = np.maximum(rows, 0)
    for k, water_class in enumerate(SURFACE_WATER_CLASSES):
        unknown = pending & ~arrays["known"][safe, k]
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            row = arrays["rows"][rows[i]]
            known(row, _CLASS_COLUMN[water_class], f"{row['code']} class {water_class}")
        low, high = arrays["low"][safe, k], arrays["high"][safe, k]
        above = np.where(arrays["low_exclusive"][safe], values > low, values >= low)
        meets = pending & above & (values <= high)
        ranks[meets] = k + 1
        pending &= ~meets
    ranks[pending] = 6
    return ranks


def surface_water_limit(code: str, water_class: str, water_body_type: str = "river", at=None) -> float | None:
    """The upper (or, for DO, lower) limit of a class; None for pH (a range) or no limit."""
    row = _surface_row(code, water_body_type, at)
    if row is None or row["direction"] == "range" or water_class not in SURFACE_WATER_CLASSES:
        return None
    return float(known(row, _CLASS_COLUMN[water_class], f"{code} class {water_class}"))


def surface_class_rank(water_class: str) -> int:
    """1 for Ⅰ … 5 for Ⅴ, 6 for 劣Ⅴ: larger is worse."""
    if water_class == SURFACE_WATER_WORST:
        return 6
    return SURFACE_WATER_CLASSES.index(water_class) + 1


def exceedance_multiple(code: str, value: float, basis_class: str, water_body_type: str = "river",
                        at=None) -> float | None:
    """(C − S) / S against the basis class limit (standards.md §2.2); None where not defined
    (pH, DO) or where the value does not exceed."""
    multiple = float(exceedance_multiples([code], [value], [basis_class], [water_body_type], at)[0])
    return None if math.isnan(multiple) else multiple


def exceedance_multiples(codes, values, basis_classes, water_body_types, at=None):
    """exceedance_multiple of many values at once (set-based, issue 27): (C − S) / S against each
    row's basis class limit, NaN where not defined (pH, DO, a range, no limit) or not exceeded."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    arrays, rows = _surface_row_index(codes, water_body_types, at)
    out = np.full(len(values), np.nan)
    column = np.array([SURFACE_WATER_CLASSES.index(k) if k in SURFACE_WATER_CLASSES else -1 for k in basis_classes],
                      dtype=int)
    eligible = (rows >= 0) & (column >= 0) & np.array([c not in NO_EXCEEDANCE_MULTIPLE for c in codes], dtype=bool)
    if not eligible.any():
        return out
    where = np.flatnonzero(eligible)
    where = where[~arrays["range"][rows[where]]]        # a range (pH) has no single limit
    for i in where[~arrays["known"][rows[where], column[where]]]:
        row = arrays["rows"][rows[i]]
        known(row, _CLASS_COLUMN[basis_classes[i]], f"{row['code']} class {basis_classes[i]}")
    limit = arrays["limit"][rows[where], column[where]]
    exceeds = values[where] > limit
    out[where[exceeds]] = (values[where][exceeds] - limit[exceeds]) / limit[exceeds]
    return out


def seawater_class(code: str, value: float, at=None) -> str | None:
    """GB 3097 class of one value (一类…四类, worse is 劣四类); None without a limit."""
    row = _seawater_rows(version_start("gb3097_seawater", at)).get(code)
    if row is None or value is None or math.isnan(value):
        return None
    for number, name in zip(("1", "2", "3", "4"), SEAWATER_CLASSES):
        if _meets(row["direction"], known(row, number, f"seawater {code} {name}"), value):
            return name
    return SEAWATER_WORST


@rule_cache
def _seawater_rows(start: date) -> dict[str, dict]:
    return {row["code"]: row for row in _in_force("gb3097_seawater", start).to_dict(orient="records")}


def seawater_class_rank(water_class: str) -> int:
    if water_class == SEAWATER_WORST:
        return 5
    return SEAWATER_CLASSES.index(water_class) + 1


# --- air -------------------------------------------------------------------------------------

AQI_LEVELS = (0, 50, 100, 150, 200, 300, 400, 500)


def aqi_breakpoints(at=None) -> pd.DataFrame:
    """HJ 633 breakpoints in force at `at` (numbers; NaN where the standard defines none)."""
    return _breakpoints_frame(version_start("hj633_breakpoints", at))


@rule_cache
def _breakpoints_frame(start: date) -> pd.DataFrame:
    frame = _in_force("hj633_breakpoints", start).copy()
    for level in AQI_LEVELS:
        frame[f"iaqi_{level}"] = pd.to_numeric(frame[f"iaqi_{level}"].replace("", None))
    return frame


def aqi_levels(at=None) -> pd.DataFrame:
    """HJ 633 levels, categories and colours in force at `at` (aqi_low, aqi_high as numbers)."""
    return _levels_frame(version_start("aqi_levels", at))


@rule_cache
def _levels_frame(start: date) -> pd.DataFrame:
    frame = _in_force("aqi_levels", start).copy()
    frame["aqi_low"] = pd.to_numeric(frame["aqi_low"])
    frame["aqi_high"] = pd.to_numeric(frame["aqi_high"].replace("", None))
    return frame.sort_values("aqi_low").reset_index(drop=True)


def iaqi(code: str, period: str, concentration: float, at=None) -> int | None:
    """Individual AQI by linear interpolation between the HJ 633 breakpoints in force at `at`,
    rounded up.

    Rounding: HJ 633 states none; ceil is the common public practice (standards.md §4.1, C2 for
    practice) and reproduces the CNEMC feed (§8). Returns None where the standard does not compute
    the index (SO2 1-h above 800, O3 8-h above 800): the caller falls back as the notes say.
    """
    points = _breakpoint_points(version_start("hj633_breakpoints", at)).get((code, period))
    if points is None:
        raise KeyError(f"no HJ 633 breakpoints for {code} {period} in force on {rule_date(at)}")
    if concentration > points[-1][0]:
        return 500 if points[-1][1] == 500 else None
    for (bp_low, iaqi_low), (bp_high, iaqi_high) in zip(points, points[1:]):
        if concentration <= bp_high:
            exact = (iaqi_high - iaqi_low) / (bp_high - bp_low) * (concentration - bp_low) + iaqi_low
            return math.ceil(round(exact, 9))
    return None


@rule_cache
def _breakpoint_points(start: date) -> dict[tuple[str, str], list[tuple[float, int]]]:
    """(code, period) → [(concentration breakpoint, IAQI)], the defined ones only."""
    return {
        (row["code"], row["period"]): [(float(row[f"iaqi_{level}"]), level) for level in AQI_LEVELS
                                       if row[f"iaqi_{level}"] != ""]
        for row in _in_force("hj633_breakpoints", start).to_dict(orient="records")
    }


def aqi_level(aqi: int, at=None) -> dict:
    """Level, category and colour of an AQI value (HJ 633 Table 2) under the rules at `at`."""
    for row in _level_rows(version_start("aqi_levels", at)):
        if aqi >= row["aqi_low"] and (pd.isna(row["aqi_high"]) or aqi <= row["aqi_high"]):
            return row
    raise ValueError(f"AQI {aqi} outside every level")


@rule_cache
def _level_rows(start: date) -> tuple[dict, ...]:
    return tuple(_levels_frame(start).to_dict(orient="records"))


def aqi_convention(rule: str, at=None) -> str:
    """A value of aqi_conventions.csv in force at `at` (primary-pollutant and availability rules)."""
    return _conventions(version_start("aqi_conventions", at))[rule]


@rule_cache
def _conventions(start: date) -> dict[str, str]:
    rows = _in_force("aqi_conventions", start)
    return dict(zip(rows["rule"], rows["value"]))


def air_limit(code: str, averaging: str, limit_class: str = "class_2", at=None) -> float:
    """The GB 3095 limit in force at `at` (µg/m³; CO mg/m³). RuleRefused where the rule in force has
    no known value (GB 3095—2026 phase 2 for PM10, SO2 and NO2)."""
    rows = _air_limit_rows(version_start("gb3095_air_limits", at))
    row = rows.get((code, averaging))
    if row is None:
        raise KeyError(f"no GB 3095 limit for {code} {averaging} in force on {rule_date(at)}")
    return float(known(row, limit_class, f"GB 3095 {limit_class.replace('_', ' ')} limit of {code} ({averaging})"))


@rule_cache
def _air_limit_rows(start: date) -> dict[tuple[str, str], dict]:
    return {(row["code"], row["averaging"]): row
            for row in _in_force("gb3095_air_limits", start).to_dict(orient="records")}
