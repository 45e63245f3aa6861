"""The analysts' calculator behind `envmon classify`: one output row per input row, in order,
every input column kept, computed by the same functions the pipeline uses."""
from __future__ import annotations

import math

import pandas as pd

from pipelines.assessment import air_quality, seawater, surface_water
from pipelines.reference import standards

SURFACE_WATER_CODES = ("ph", "do", "codmn", "cod", "bod5", "nh3n", "tp", "tn", "cu", "zn", "fluoride", "se", "as",
                       "hg", "cd", "cr6", "pb", "cyanide", "phenol", "petroleum", "las", "sulfide", "fecal_coliform",
                       "sulfate", "chloride", "nitrate", "fe", "mn", "chla", "sd")
SEAWATER_CODES = seawater.INDICATORS
AIR_CODES = ("so2", "no2", "co", "o3", "pm10", "pm2_5", "o3_8h", "so2_24h")


class InputError(ValueError):
    """The input file cannot be classified as it stands; the message says where and why."""


def _numbers(frame: pd.DataFrame, codes) -> list[dict[str, float]]:
    rows = []
    for position, record in enumerate(frame.to_dict(orient="records"), start=2):  # line 1 is the header
        values = {}
        for code in codes:
            text = str(record.get(code, "") or "").strip()
            if not text:
                continue
            try:
                values[code] = float(text)
            except ValueError:
                raise InputError(f"line {position}, column {code}: {text!r} is not a number") from None
            if math.isnan(values[code]):
                del values[code]
        rows.append(values)
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


def classify_surface_water(frame: pd.DataFrame) -> pd.DataFrame:
    types = _column(frame, "water_body_type", {"river", "lake"})
    targets = _column(frame, "target_class", set(standards.SURFACE_WATER_CLASSES), default="")
    out = frame.copy()
    results = []
    for values, water_body_type, target in zip(_numbers(frame, SURFACE_WATER_CODES), types, targets):
        verdict = surface_water.classify(values, water_body_type, target or None, context="period_mean")
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
        })
    return pd.concat([out.reset_index(drop=True), pd.DataFrame(results)], axis=1)


def classify_seawater(frame: pd.DataFrame) -> pd.DataFrame:
    targets = _column(frame, "target_class", set(standards.SEAWATER_CLASSES), default="")
    results = []
    for values, target in zip(_numbers(frame, SEAWATER_CODES), targets):
        verdict = seawater.classify(values, target or None)
        results.append({"water_class": verdict.water_class or "", "failing_parameters": ";".join(verdict.failing),
                        "is_compliant": "" if verdict.is_compliant is None else str(verdict.is_compliant).lower()})
    return pd.concat([frame.reset_index(drop=True), pd.DataFrame(results)], axis=1)


def classify_air(frame: pd.DataFrame) -> pd.DataFrame:
    modes = _column(frame, "mode", {"hourly", "daily"})
    results = []
    for values, mode in zip(_numbers(frame, AIR_CODES), modes):
        result = air_quality.hourly_aqi(values) if mode == "hourly" else air_quality.daily_aqi(values)
        results.append({
            "aqi": "" if result.aqi is None else result.aqi,
            "level": result.level or "",
            "category": result.category or "",
            "primary_pollutant": ";".join(result.primary_pollutants),
            "failing_parameters": ";".join(result.exceeding_pollutants),
            "colour": result.colour_hex or "",
            "sub_indices": ";".join(f"{c}={v}" for c, v in result.sub_indices.items()),
            "notes": "; ".join(result.notes),
        })
    return pd.concat([frame.reset_index(drop=True), pd.DataFrame(results)], axis=1)


CLASSIFIERS = {"surface-water": classify_surface_water, "seawater": classify_seawater, "air": classify_air}


def classify_file(domain: str, path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return CLASSIFIERS[domain](frame)
