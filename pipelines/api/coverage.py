"""Observations as CoverageJSON (OGC CoverageJSON 1.0, the answer of OGC API – EDR queries).

One Coverage per station, layer and source (a coastal point's surface and bottom samples, a lab's
and the feed's values are not mixed), domainType PointSeries: x, y (CRS84) and t (the observation
times in UTC). Each quantity is a range keyed by its parameter code (`nh3n`, `pm2_5`), or by code
and averaging period where that is not the instant or the hour (`pm2_5@PT24H`), in the unit of
the warehouse, which its Parameter states.

The partner view adds, for each quantity KEY, ranges that carry what the warehouse keeps beside
the value (a range's null: no observation of that quantity at that time):
- `KEY.qc_flag`: good, not_evaluated, suspect, fail, missing (pipelines/quality/qc.py);
- `KEY.qc_note`: why a flag was set;
- `KEY.original_value`: the value as the payload printed it ('0.02L', '<0.01', 'NA');
- `KEY.censoring`: '<' when the value was below the detection limit (the value is then the
  limit, as stored), else null; `KEY.detection_limit`: the limit, where given;
and each coverage carries `envmon:quarantined` (rows quarantined per parameter over the days asked)
and `envmon:source` (the provenance: the source that delivered the values).
The public view carries the values only.
"""
from __future__ import annotations

import math

import pandas as pd

BASE_AVERAGING = ("PT0S", "PT1H")
EXTRA_RANGES = (  # (suffix, column, dataType, label)
    ("qc_flag", "qc_flag", "string", "QC flag"),
    ("qc_note", "qc_note", "string", "QC note"),
    ("original_value", "original_value", "string", "value as the payload printed it"),
    ("censoring", "censoring", "string", "censoring ('<': below the detection limit)"),
    ("detection_limit", "detection_limit", "float", "detection limit"),
)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def range_key(parameter: str, averaging_period: str) -> str:
    return parameter if averaging_period in BASE_AVERAGING else f"{parameter}@{averaging_period}"


def referencing() -> list[dict]:
    return [{"coordinates": ["x", "y"], "system": {"type": "GeographicCRS", "id": CRS84}},
            {"coordinates": ["t"], "system": {"type": "TemporalRS", "calendar": "Gregorian"}}]


def parameter_object(code: str, averaging_period: str, names: dict, unit: str) -> dict:
    name_zh, name_en = names.get(code, (code, code))
    suffix = "" if averaging_period in BASE_AVERAGING else f" ({averaging_period} mean)"
    return {"type": "Parameter", "description": {"en": f"{name_en}{suffix}", "zh": f"{name_zh}{suffix}"},
            "observedProperty": {"id": code, "label": {"en": name_en, "zh": name_zh}},
            "unit": {"label": {"en": unit}, "symbol": unit}}


def extra_parameter(key: str, label: str) -> dict:
    return {"type": "Parameter", "observedProperty": {"label": {"en": f"{label} of {key}"}}}


def coverage_collection(rows: pd.DataFrame, stations: pd.DataFrame, names: dict, partner_ids: frozenset[str],
                        quarantined: dict[str, dict[str, int]]) -> dict:
    """The CoverageCollection of a page of observations (warehouse/open_data.observations_page's
    columns). `partner_ids`: the stations shown in the partner view; `names`: code → (zh, en)."""
    parameters: dict[str, dict] = {}
    coverages = []
    located = stations.set_index("station_id")
    for (station_id, layer, source), group in rows.groupby(["station_id", "layer", "source"], sort=False):
        partner = station_id in partner_ids
        coverages.append(_coverage(station_id, layer, source, group, located.loc[station_id], names, partner,
                                   quarantined.get(station_id, {}), parameters))
    return {"type": "CoverageCollection", "domainType": "PointSeries", "parameters": parameters,
            "referencing": referencing(), "coverages": coverages}


def _coverage(station_id, layer, source, group: pd.DataFrame, station, names, partner, quarantined, parameters) -> dict:
    group = group.assign(key=[range_key(p, a) for p, a in zip(group["parameter"], group["averaging_period"])])
    times = sorted(set(group["observed_at"]))
    position = {t: i for i, t in enumerate(times)}
    ranges = {}
    for key, rows in group.groupby("key", sort=True):
        first = rows.iloc[0]
        parameters.setdefault(key, parameter_object(first["parameter"], first["averaging_period"], names,
                                                    str(first["unit"])))
        ranges[key] = _ndarray("float", len(times), position, rows, "value")
        if partner:
            for suffix, column, data_type, label in EXTRA_RANGES:
                parameters.setdefault(f"{key}.{suffix}", extra_parameter(key, label))
                ranges[f"{key}.{suffix}"] = _ndarray(data_type, len(times), position, rows, column)
    coverage = {
        "type": "Coverage",
        "id": "/".join(part for part in (station_id, layer, source) if part),
        "domain": {"type": "Domain", "domainType": "PointSeries", "axes": {
            "x": {"values": [_number(station["longitude"])]}, "y": {"values": [_number(station["latitude"])]},
            "t": {"values": [_iso(t) for t in times]}}, "referencing": referencing()},
        "ranges": ranges,
        "envmon:station_id": station_id,
        "envmon:name_zh": station["name_zh"],
    }
    if layer:
        coverage["envmon:layer"] = layer
    if partner:
        coverage["envmon:source"] = source
        coverage["envmon:quarantined"] = {code: int(n) for code, n in sorted(quarantined.items())}
    return coverage


def _ndarray(data_type: str, size: int, position: dict, rows: pd.DataFrame, column: str) -> dict:
    values = [None] * size
    for when, value in zip(rows["observed_at"], rows[column]):
        values[position[when]] = _cell(value, data_type)
    return {"type": "NdArray", "dataType": data_type, "axisNames": ["t"], "shape": [size], "values": values}


def _cell(value, data_type: str):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if data_type == "float":
        return _number(value)
    text = str(value)
    return text if text else None


def _number(value):
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _iso(moment) -> str:
    return pd.Timestamp(moment).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
