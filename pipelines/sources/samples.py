"""Manual sampling files: bureau laboratory results (GB 3838 Tables 1–2) and coastal surveys
(GB 3097), CSV or XLSX, one row per sample and item (templates in pipelines/templates/).

Results below the detection limit arrive as `ND`, `未检出`, `<0.01` or `0.01L` (the Chinese lab
convention: below a limit of 0.01). They are kept as censored values: `censoring` "<", `value`
and `detection_limit` the limit, the original text kept. Units are converted explicitly
(pipelines/reference/data/unit_conversions.csv) and the unit as received is kept. A row that cannot be
stored faithfully keeps its text and a note, and validation quarantines it with that reason.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from io import BytesIO, StringIO

import pandas as pd

from pipelines.reference import registry, standards
from pipelines.observations import BEIJING_OFFSET_MINUTES, BUREAU_TZ, batch_id, conform
from pipelines.sources.files import Parsed, PayloadError

LAB_COLUMNS = ("sample_id", "section_id", "sampled_at", "lab", "parameter", "result", "unit", "detection_limit",
               "method")
COASTAL_COLUMNS = ("sample_id", "point_id", "sampled_at", "survey", "layer", "parameter", "result", "unit",
                   "detection_limit", "method", "lab")
SURVEYS = {"spring", "summer", "autumn"}
LAYERS = {"surface", "bottom"}
NOT_DETECTED = {"nd", "未检出", "n.d.", "bdl"}
BELOW_LIMIT = re.compile(r"^<\s*(?P<limit>[0-9.]+(?:[eE][-+]?\d+)?)$")
CHINESE_L_SUFFIX = re.compile(r"^(?P<limit>[0-9.]+(?:[eE][-+]?\d+)?)\s*L$")  # 0.01L: below a limit of 0.01


@cache
def unit_conversions() -> dict[str, tuple[str, float]]:
    table = pd.read_csv(standards.DATA_DIR / "unit_conversions.csv")
    return {row["from_unit"]: (row["to_unit"], float(row["factor"])) for row in table.to_dict(orient="records")}


def lab_parameters() -> set[str]:
    table1 = set(standards.surface_water_limits()["code"])
    table2 = set(pd.read_csv(standards.DATA_DIR / "gb3838_drinking_water.csv")["code"])
    return table1 | table2 | {"water_temp", "tn", "chla", "sd", "fecal_coliform"}


def coastal_parameters() -> set[str]:
    return set(standards.seawater_limits()["code"]) | {"water_temp", "salinity"}


def read_table(payload: bytes, name: str) -> pd.DataFrame:
    """A CSV or XLSX payload as strings, its header normalised to lower case."""
    if name.lower().endswith((".xlsx", ".xlsm")):
        frame = pd.read_excel(BytesIO(payload), dtype=str, keep_default_na=False, engine="openpyxl")
    else:
        text = payload.decode("utf-8-sig")
        if text.lstrip().startswith("<"):
            raise PayloadError("an HTML page, not a CSV file")
        frame = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame.apply(lambda column: column.astype(str).str.strip())


def _interpret(result: str, unit: str, limit_text: str, canonical_unit: str):
    """(value, detection_limit, censoring, note): the note says why a row cannot be stored."""
    conversion = unit_conversions().get(unit)
    if conversion is None:
        return None, None, "", f"unknown unit {unit!r}"
    to_unit, factor = conversion
    if to_unit != canonical_unit:
        return None, None, "", f"unit {unit!r} cannot be converted to {canonical_unit!r}"
    limit = _number(limit_text)
    text = result.strip()
    if text.lower() in NOT_DETECTED:
        if limit is None:
            return None, None, "<", f"{text!r} without a detection limit"
        return limit * factor, limit * factor, "<", ""
    for pattern in (BELOW_LIMIT, CHINESE_L_SUFFIX):
        match = pattern.match(text)
        if match:
            value = float(match["limit"]) * factor
            return value, value, "<", ""
    number = _number(text)
    if number is None:
        return None, None, "", f"result {text!r} is not a number"
    return number * factor, (limit * factor if limit is not None else None), "", ""


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _sampled_at(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=BUREAU_TZ)  # the bureaus' clock by default


def _parse(frame: pd.DataFrame, source: str, required, station_column: str, stations, parameters,
           extra_detail) -> Parsed:
    missing = [c for c in required if c not in frame.columns and c not in ("detection_limit", "method", "lab")]
    if missing:
        raise PayloadError(f"{source} file lacks columns {missing}; see pipelines/templates/")
    rows, out_of_scope = [], 0
    for record in frame.to_dict(orient="records"):
        station = record[station_column]
        if station not in stations:
            out_of_scope += 1
            continue
        code = record["parameter"]
        when = _sampled_at(record["sampled_at"])
        notes = []
        if code not in parameters:
            notes.append(f"parameter {code!r} is not a {source} item")
        if when is None:
            notes.append(f"sampling time {record['sampled_at']!r} is not ISO 8601")
        canonical_unit = standards.unit_of(code) if code in standards.parameters().index else ""
        value, limit, censoring, note = _interpret(record["result"], record["unit"], record.get("detection_limit", ""),
                                                   canonical_unit)
        if note:
            notes.append(note)
        detail = {k: record[k] for k in ("lab", "method", *extra_detail) if record.get(k)}
        rows.append({
            "station_id": station, "parameter": code, "observed_at": when or pd.NaT,
            "utc_offset_minutes": int(when.utcoffset().total_seconds() // 60) if when else BEIJING_OFFSET_MINUTES,
            "averaging_period": "PT0S", "value": value if not notes else None,
            "unit": canonical_unit or record["unit"], "qc_flag": "not_evaluated", "qc_note": "; ".join(notes),
            "source": source, "original_value": record["result"], "layer": record.get("layer", ""),
            "sample_id": record["sample_id"], "detection_limit": limit, "censoring": censoring,
            "original_unit": record["unit"], "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        from pipelines.observations import empty_frame
        return Parsed(empty_frame(), out_of_scope, source)
    frame["batch_id"] = ""
    frame = conform(frame)
    sampled = frame["observed_at"].dropna()
    first_day = sampled.min().tz_convert(BUREAU_TZ).date() if len(sampled) else datetime(1970, 1, 1).date()
    frame["batch_id"] = batch_id(source, first_day, frame)
    return Parsed(frame, out_of_scope, source)


def parse_lab(payload: bytes, name: str = "results.csv") -> Parsed:
    frame = read_table(payload, name)
    return _parse(frame, "lab", LAB_COLUMNS, "section_id", set(registry.water_sections().index), lab_parameters(), ())


def parse_coastal(payload: bytes, name: str = "survey.csv") -> Parsed:
    frame = read_table(payload, name)
    for column, allowed in (("survey", SURVEYS), ("layer", LAYERS)):
        if column in frame.columns:
            bad = sorted(set(frame[column]) - allowed)
            if bad:
                raise PayloadError(f"coastal file: {column} must be one of {sorted(allowed)}, not {bad}")
    return _parse(frame, "coastal", COASTAL_COLUMNS, "point_id", set(registry.sea_points().index),
                  coastal_parameters(), ("survey",))
