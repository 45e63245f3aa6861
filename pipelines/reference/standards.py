"""Lookups over the standards' tables in pipelines/data (each row carries its source and clause).

GB 3838-2002 (surface water), GB 3097-1997 (seawater), HJ 633-2012 (AQI breakpoints),
GB 3095-2012 (ambient air limits). Rows marked UNVERIFIED in the data files are values that
shared/reference/standards.md could not confirm from the official text.
"""
from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).parent / "data"

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


@cache
def parameters() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "parameters.csv", dtype=str, keep_default_na=False).set_index(
        "code", drop=False
    )


@cache  # asked once per row by the simulator: a pandas lookup each time was most of its cost
def unit_of(code: str) -> str:
    return parameters().loc[code, "unit"]


@cache
def surface_water_limits() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "gb3838_surface_water.csv", dtype=str, keep_default_na=False)


@cache
def seawater_limits() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "gb3097_seawater.csv", dtype=str, keep_default_na=False).set_index(
        "code", drop=False
    )


@cache
def aqi_breakpoints() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "hj633_breakpoints.csv", keep_default_na=True)


@cache
def aqi_levels() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "aqi_levels.csv", keep_default_na=True)


@cache
def water_class_grades() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "water_class_grades.csv", dtype=str).set_index("water_class", drop=False)


@cache
def assessment_indicators() -> tuple[str, ...]:
    """The 21 surface-water assessment indicators (2011 method), in table order."""
    table = surface_water_limits()
    return tuple(dict.fromkeys(table.loc[table["is_assessment_indicator"] == "true", "code"]))


@cache
def _surface_rows() -> dict[tuple[str, str], dict]:
    """(code, water-body type) → the limit row that applies ('all' rows serve both types)."""
    rows = {}
    for row in surface_water_limits().to_dict(orient="records"):
        types = ("river", "lake") if row["applies_to"] == "all" else (row["applies_to"],)
        for water_body_type in types:
            rows[(row["code"], water_body_type)] = row
    return rows


def _surface_row(code: str, water_body_type: str) -> dict | None:
    return _surface_rows().get((code, water_body_type))


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


def surface_water_class(code: str, value: float, water_body_type: str = "river") -> str | None:
    """GB 3838-2002 class of one value: the best class whose limit it meets; a value on a
    limit takes the better class; worse than class V is 劣Ⅴ. None when the item has no limit
    for that water body type."""
    row = _surface_row(code, water_body_type)
    if row is None or value is None or math.isnan(value):
        return None
    for water_class in SURFACE_WATER_CLASSES:
        if _meets(row["direction"], row[_CLASS_COLUMN[water_class]], value):
            return water_class
    return SURFACE_WATER_WORST


def surface_water_limit(code: str, water_class: str, water_body_type: str = "river") -> float | None:
    """The upper (or, for DO, lower) limit of a class; None for pH (a range) or no limit."""
    row = _surface_row(code, water_body_type)
    if row is None or row["direction"] == "range" or water_class not in SURFACE_WATER_CLASSES:
        return None
    return float(row[_CLASS_COLUMN[water_class]])


def surface_class_rank(water_class: str) -> int:
    """1 for Ⅰ … 5 for Ⅴ, 6 for 劣Ⅴ: larger is worse."""
    if water_class == SURFACE_WATER_WORST:
        return 6
    return SURFACE_WATER_CLASSES.index(water_class) + 1


def exceedance_multiple(code: str, value: float, basis_class: str, water_body_type: str = "river") -> float | None:
    """(C − S) / S against the basis class limit (standards.md §2.2); None where not defined
    (pH, DO) or where the value does not exceed."""
    if code in NO_EXCEEDANCE_MULTIPLE:
        return None
    limit = surface_water_limit(code, basis_class, water_body_type)
    if limit is None or value <= limit:
        return None
    return (value - limit) / limit


def seawater_class(code: str, value: float) -> str | None:
    """GB 3097-1997 class of one value (一类…四类, worse is 劣四类); None without a limit."""
    row = _seawater_rows().get(code)
    if row is None or value is None or math.isnan(value):
        return None
    for number, name in zip(("1", "2", "3", "4"), SEAWATER_CLASSES):
        if _meets(row["direction"], row[number], value):
            return name
    return SEAWATER_WORST


@cache
def _seawater_rows() -> dict[str, dict]:
    return {row["code"]: row for row in seawater_limits().to_dict(orient="records")}


def seawater_class_rank(water_class: str) -> int:
    if water_class == SEAWATER_WORST:
        return 5
    return SEAWATER_CLASSES.index(water_class) + 1


def iaqi(code: str, period: str, concentration: float) -> int | None:
    """HJ 633-2012 individual AQI by linear interpolation between breakpoints, rounded up.

    Rounding: HJ 633 states none; ceil is the common public practice (standards.md §4.1, C2
    for practice, official basis NF). Returns None where the standard does not compute the
    index (SO2 1-h above 800, O3 8-h above 800): the caller falls back as the notes say.
    """
    points = _breakpoint_points().get((code, period))
    if points is None:
        raise KeyError(f"no HJ 633 breakpoints for {code} {period}")
    if concentration > points[-1][0]:
        return 500 if points[-1][1] == 500 else None
    for (bp_low, iaqi_low), (bp_high, iaqi_high) in zip(points, points[1:]):
        if concentration <= bp_high:
            exact = (iaqi_high - iaqi_low) / (bp_high - bp_low) * (concentration - bp_low) + iaqi_low
            return math.ceil(round(exact, 9))
    return None


@cache
def _breakpoint_points() -> dict[tuple[str, str], list[tuple[float, int]]]:
    """(code, period) → [(concentration breakpoint, IAQI)], the defined ones only."""
    levels = (0, 50, 100, 150, 200, 300, 400, 500)
    return {
        (row["code"], row["period"]): [(float(row[f"iaqi_{level}"]), level) for level in levels
                                       if not pd.isna(row[f"iaqi_{level}"])]
        for _, row in aqi_breakpoints().iterrows()
    }


@cache
def _level_rows() -> tuple[dict, ...]:
    return tuple(aqi_levels().to_dict(orient="records"))


def aqi_level(aqi: int) -> dict:
    """Level, category and colour of an AQI value (HJ 633-2012 Table 2)."""
    for row in _level_rows():
        if aqi >= row["aqi_low"] and (pd.isna(row["aqi_high"]) or aqi <= row["aqi_high"]):
            return row
    raise ValueError(f"AQI {aqi} outside every level")
