"""The analysts' calculator behind `envmon classify`: one output row per input row, in order,
every input column kept, computed by the same functions the pipeline uses.

Each row is classified under the rules in force at its `observed_at` (optional column: an ISO 8601
time with its offset, or a date; the end of the hour for an hourly air row), else under today's;
the `standard` and `rule_version` columns say which. A value that cannot be a measurement
(not finite, or outside the instrument range of pipelines/reference/data/qc_parameters.csv: a
negative concentration, a pH outside 0–14, DO above 25 mg/L, far beyond saturation) is named in
`problems` and its row is not classified. A censored cell (`<0.02`, or the laboratories' `0.02L`)
counts as censoring.csv says (half the limit) and is listed in `censored`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

import pandas as pd

from pipelines.assessment import air_quality, seawater, surface_water
from pipelines.quality import censoring
from pipelines.reference import standards

SURFACE_WATER_CODES = ("ph", "do", "codmn", "cod", "bod5", "nh3n", "tp", "tn", "cu", "zn", "fluoride", "se", "as",
                       "hg", "cd", "cr6", "pb", "cyanide", "phenol", "petroleum", "las", "sulfide", "fecal_coliform",
                       "sulfate", "chloride", "nitrate", "fe", "mn", "chla", "sd")
SEAWATER_CODES = seawater.INDICATORS
AIR_CODES = ("so2", "no2", "co", "o3", "pm10", "pm2_5", "o3_8h", "so2_24h")
TIME_COLUMN = "observed_at"
BELOW_LIMIT = re.compile(r"^<\s*(?P<limit>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)$")
LAB_L_SUFFIX = re.compile(r"^(?P<limit>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*L$")  # 0.02L: below 0.02 (lab reports)


class InputError(ValueError):
    """The input file cannot be classified as it stands; the message says where and why."""


@dataclass
class Row:
    values: dict[str, float] = field(default_factory=dict)
    censored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    at: date | datetime | None = None   # the time whose rules apply (None: today)


# The calculator takes chla in µg/L, as the TLI formulas do (tli_parameters.csv); the pipeline stores mg/L.
CALCULATOR_UNIT_FACTORS = {"chla": 1000.0}


@cache
def _instrument_ranges() -> dict[str, tuple[float, float]]:
    """The range outside which a value is not a faithful reading (the same bounds as quarantine at
    ingest: qc_parameters.csv instrument_min/instrument_max), in the calculator's units."""
    table = pd.read_csv(standards.DATA_DIR / "qc_parameters.csv")
    return {code: (float(low) * CALCULATOR_UNIT_FACTORS.get(code, 1.0), float(high) * CALCULATOR_UNIT_FACTORS.get(code, 1.0))
            for code, low, high in zip(table["code"], table["instrument_min"], table["instrument_max"])}


_WHY_IMPOSSIBLE = {"ph": " (the pH scale ends at 14)",
                   "do": " mg/L, the instrument range (saturation is about 7–15 mg/L; supersaturation never reaches this)"}


def _problem(code: str, value: float) -> str | None:
    if not math.isfinite(value):
        return f"{code} {value} is not a finite number"
    low, high = _instrument_ranges().get(code.removesuffix("_8h").removesuffix("_24h"), (0.0, math.inf))
    if value < low:
        return f"{code} {value:g} is below {low:g}" + (" (a concentration cannot be negative)" if low == 0 else "")
    if value > high:
        return f"{code} {value:g} is above {high:g}{_WHY_IMPOSSIBLE.get(code, '')}: not a faithful reading"
    return None


def _observed_at(text: str, position: int) -> date | datetime | None:
    if not text:
        return None
    try:
        when = standards.parse_time(text)
    except ValueError:
        raise InputError(f"line {position}, column {TIME_COLUMN}: {text!r} is not an ISO 8601 time with its offset "
                         f"or a date") from None
    if isinstance(when, datetime) and when.tzinfo is None:
        raise InputError(f"line {position}, column {TIME_COLUMN}: {text!r} has no UTC offset (e.g. +08:00)")
    return when


def _rows(frame: pd.DataFrame, codes) -> list[Row]:
    factor = float(censoring.method()["substitution_factor"])
    rows = []
    for position, record in enumerate(frame.to_dict(orient="records"), start=2):  # line 1 is the header
        row = Row(at=_observed_at(str(record.get(TIME_COLUMN, "") or "").strip(), position))
        for code in codes:
            text = str(record.get(code, "") or "").strip()
            if not text:
                continue
            censored = BELOW_LIMIT.match(text) or LAB_L_SUFFIX.match(text)
            try:
                number = float(censored["limit"]) if censored else float(text)
            except ValueError:
                raise InputError(f"line {position}, column {code}: {text!r} is not a number") from None
            problem = _problem(code, number)
            if problem:
                row.problems.append(problem)
                continue
            if censored:
                row.censored.append(f"{code}<{censored['limit']}")
                number *= factor  # as a censored value enters a mean in the pipeline (censoring.csv)
            row.values[code] = number
        rows.append(row)
    return rows


def _column(frame: pd.DataFrame, name: str, allowed: set[str], default: str | None = None) -> list[str]:
    if name not in frame.columns:
        if default is None:
            raise InputError(f"the input needs a {name} column ({' or '.join(sorted(allowed))})")
        return [default] * len(frame)
    values = frame[name].fillna("").astype(str).str.strip().tolist()
    for position, value in enumerate(values, start=2):
        if value not in allowed and not (value == "" and default is not None):
            raise InputError(f"line {position}, column {name}: {value!r} is not one of {sorted(allowed)}")
    return [value or default for value in values]


def _common(row: Row, domain: str) -> dict:
    version = standards.rule_version(domain, row.at)
    return {"standard": version.label, "rule_version": version.id, "censored": ";".join(row.censored),
            "problems": "; ".join(row.problems)}


def _joined(frame: pd.DataFrame, results: list[dict]) -> pd.DataFrame:
    return pd.concat([frame.reset_index(drop=True), pd.DataFrame(results)], axis=1)


SURFACE_RESULT_COLUMNS = ("water_class", "failing_parameters", "grade", "is_compliant", "exceedance_multiples",
                          "main_pollutants", "drinking_water_exceedances", "tli", "trophic_state")


def classify_surface_water(frame: pd.DataFrame) -> pd.DataFrame:
    types = _column(frame, "water_body_type", {"river", "lake"})
    targets = _column(frame, "target_class", set(standards.SURFACE_WATER_CLASSES), default="")
    results = []
    for row, water_body_type, target in zip(_rows(frame, SURFACE_WATER_CODES), types, targets):
        if row.problems:
            results.append({**dict.fromkeys(SURFACE_RESULT_COLUMNS, ""), **_common(row, "surface_water")})
            continue
        values = row.values
        verdict = surface_water.classify(values, water_body_type, target or None, context="period_mean", at=row.at)
        trophic = surface_water.trophic_state(values) if water_body_type == "lake" else None
        results.append({
            "water_class": verdict.water_class or "",
            "failing_parameters": ";".join(f.parameter for f in verdict.failing),
            "grade": verdict.grade or "",
            "is_compliant": "" if verdict.is_compliant is None else str(verdict.is_compliant).lower(),
            "exceedance_multiples": ";".join(f"{f.parameter}={f.multiple_vs_target:.2f}" for f in verdict.failing
                                             if f.multiple_vs_target is not None),
            "main_pollutants": ";".join(verdict.main_pollutants),
            "drinking_water_exceedances": ";".join(e["parameter"] for e in surface_water.drinking_water_exceedances(values)),
            "tli": "" if trophic is None else f"{trophic.index:.1f}",
            "trophic_state": "" if trophic is None else trophic.grade,
            **_common(row, "surface_water"),
        })
    return _joined(frame, results)


def classify_seawater(frame: pd.DataFrame) -> pd.DataFrame:
    targets = _column(frame, "target_class", set(standards.SEAWATER_CLASSES), default="")
    results = []
    for row, target in zip(_rows(frame, SEAWATER_CODES), targets):
        if row.problems:
            results.append({"water_class": "", "failing_parameters": "", "is_compliant": "", **_common(row, "seawater")})
            continue
        verdict = seawater.classify(row.values, target or None, at=row.at)
        results.append({"water_class": verdict.water_class or "", "failing_parameters": ";".join(verdict.failing),
                        "is_compliant": "" if verdict.is_compliant is None else str(verdict.is_compliant).lower(),
                        **_common(row, "seawater")})
    return _joined(frame, results)


AIR_RESULT_COLUMNS = ("aqi", "level", "category", "primary_pollutant", "failing_parameters", "colour", "sub_indices",
                      "notes")


def classify_air(frame: pd.DataFrame) -> pd.DataFrame:
    modes = _column(frame, "mode", {"hourly", "daily"})
    results = []
    for row, mode in zip(_rows(frame, AIR_CODES), modes):
        if row.problems:
            results.append({**dict.fromkeys(AIR_RESULT_COLUMNS, ""), **_common(row, "air")})
            continue
        aqi = air_quality.hourly_aqi if mode == "hourly" else air_quality.daily_aqi
        result = aqi(row.values, row.at)
        results.append({
            "aqi": "" if result.aqi is None else result.aqi,
            "level": result.level or "",
            "category": result.category or "",
            "primary_pollutant": ";".join(result.primary_pollutants),
            "failing_parameters": ";".join(result.exceeding_pollutants),
            "colour": result.colour_hex or "",
            "sub_indices": ";".join(f"{c}={v}" for c, v in result.sub_indices.items()),
            "notes": "; ".join(result.notes),
            **_common(row, "air"),
        })
    return _joined(frame, results)


CLASSIFIERS = {"surface-water": classify_surface_water, "seawater": classify_seawater, "air": classify_air}


def read_input(path) -> pd.DataFrame:
    """The input CSV as text cells; InputError (one line) when it is empty or cannot be read."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise InputError("the file is empty") from None
    except UnicodeDecodeError:
        raise InputError("the file is not UTF-8 text (a CSV file is expected; save a spreadsheet as CSV UTF-8)") from None
    except pd.errors.ParserError as error:
        raise InputError(f"not a readable CSV file: {str(error).strip().splitlines()[-1]}") from None
    except OSError as error:
        raise InputError(f"cannot be read: {error.strerror or error}") from None
    if frame.empty:
        raise InputError("the file has a header but no rows to classify")
    return frame


def classify_file(domain: str, path) -> pd.DataFrame:
    frame = read_input(path)
    try:
        return CLASSIFIERS[domain](frame)
    except standards.RuleRefused as error:
        raise InputError(str(error)) from None
