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

import numpy as np
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


PRESENTED_ORDER = ["station_id", "layer", "source", "observed_at", "parameter", "averaging_period"]


def coverage_collection(rows: pd.DataFrame, stations: pd.DataFrame, names: dict, partner_ids: frozenset[str],
                        quarantined: dict[str, dict[str, int]]) -> dict:
    """The CoverageCollection of a page of observations (warehouse/open_data.observations_page's
    columns, in any order). `partner_ids`: the stations shown in the partner view; `names`:
    code → (zh, en).

    Built column-wise: the page is put in PRESENTED_ORDER once (the coverages in that order; within
    one, the last row of a time and range wins), each column's cells made once for the whole page,
    and each range laid out by its rows' positions on the coverage's time axis, not cell by cell."""
    parameters: dict[str, dict] = {}
    coverages = []
    if len(rows):
        column = {c: rows[c].to_numpy(dtype=object) for c in ("station_id", "layer", "source", "parameter",
                                                                "averaging_period", "unit")}
        codes = {c: pd.factorize(column[c], sort=True)[0]
                 for c in ("station_id", "layer", "source", "parameter", "averaging_period")}
        times = pd.DatetimeIndex(pd.to_datetime(rows["observed_at"], utc=True)).as_unit("ns").asi8
        order = np.lexsort((codes["averaging_period"], codes["parameter"], times, codes["source"], codes["layer"],
                            codes["station_id"]))
        column = {c: v[order] for c, v in column.items()}
        times = times[order]
        key_codes, key_names = range_keys(codes["parameter"][order], column["parameter"],
                                          codes["averaging_period"][order], column["averaging_period"])
        cells = {"value": _floats(rows["value"])[order]}
        grouped = [codes[c][order] for c in ("station_id", "layer", "source")]
        starts = np.flatnonzero(np.concatenate(([True], np.logical_or.reduce([g[1:] != g[:-1] for g in grouped]))))
        located = stations.set_index("station_id")
        for first, stop in zip(starts, [*starts[1:], len(order)]):
            station_id, layer, source = (column[c][first] for c in ("station_id", "layer", "source"))
            partner = station_id in partner_ids
            if partner and len(cells) == 1:  # the partner view's columns, made once for the page
                for _suffix, name, data_type, _label in EXTRA_RANGES:
                    cells[name] = (_floats(rows[name]) if data_type == "float" else _texts(rows[name]))[order]
            part = slice(first, stop)
            coverages.append(_coverage(
                station_id, layer, source, {c: v[part] for c, v in column.items()}, key_codes[part], key_names,
                times[part], {c: v[part] for c, v in cells.items()}, located.loc[station_id], names, partner,
                quarantined.get(station_id, {}), parameters))
    return {"type": "CoverageCollection", "domainType": "PointSeries", "parameters": parameters,
            "referencing": referencing(), "coverages": coverages}


def range_keys(parameter_codes: np.ndarray, parameters: np.ndarray, period_codes: np.ndarray,
               periods: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Each row's range key (range_key) as a code into the sorted list of the keys, worked out once
    per distinct parameter and period, from their factorized codes."""
    pairs = parameter_codes.astype(np.int64) * (int(period_codes.max()) + 1) + period_codes
    distinct, first, inverse = np.unique(pairs, return_index=True, return_inverse=True)
    keys = [range_key(parameters[i], periods[i]) for i in first]
    names = sorted(set(keys))
    index = np.array([names.index(key) for key in keys], dtype=np.int64)
    return index[inverse.reshape(-1)], names


def _coverage(station_id, layer, source, column: dict, key_codes: np.ndarray, key_names: list[str], times: np.ndarray,
              cells: dict, station, names, partner, quarantined, parameters) -> dict:
    axis, position = np.unique(times, return_inverse=True)
    position = position.reshape(-1)
    size = len(axis)
    ranges = {}
    by_key = np.argsort(key_codes, kind="stable")
    bounds = np.flatnonzero(np.concatenate(([True], np.diff(key_codes[by_key]) != 0, [True])))
    for first, stop in zip(bounds[:-1], bounds[1:]):
        at = by_key[first:stop]
        key, row = key_names[key_codes[at[0]]], at[0]
        parameters.setdefault(key, parameter_object(column["parameter"][row], column["averaging_period"][row], names,
                                                    str(column["unit"][row])))
        ranges[key] = _ndarray("float", size, position[at], cells["value"][at])
        if partner:
            for suffix, name, data_type, label in EXTRA_RANGES:
                parameters.setdefault(f"{key}.{suffix}", extra_parameter(key, label))
                ranges[f"{key}.{suffix}"] = _ndarray(data_type, size, position[at], cells[name][at])
    coverage = {
        "type": "Coverage",
        "id": "/".join(part for part in (station_id, layer, source) if part),
        "domain": {"type": "Domain", "domainType": "PointSeries", "axes": {
            "x": {"values": [_number(station["longitude"])]}, "y": {"values": [_number(station["latitude"])]},
            "t": {"values": _iso_times(axis)}}, "referencing": referencing()},
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


def _ndarray(data_type: str, size: int, positions: np.ndarray, cells: np.ndarray) -> dict:
    values = np.full(size, None, dtype=object)
    values[positions] = cells  # rows in order: a later row at the same time and range wins, as it did cell by cell
    return {"type": "NdArray", "dataType": data_type, "axisNames": ["t"], "shape": [size], "values": values.tolist()}


def _floats(column: pd.Series) -> np.ndarray:
    """A float column's cells: Python floats, None for a missing or non-finite value."""
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")
    cells = numbers.astype(object)
    cells[~np.isfinite(numbers)] = None
    return cells


def _texts(column: pd.Series) -> np.ndarray:
    """A text column's cells (the warehouse's text, as the driver gives it): None for a missing or
    empty one."""
    values = column.to_numpy(dtype=object)
    cells = values.copy()
    cells[pd.isna(values) | (values == "")] = None
    return cells


def _iso_times(nanoseconds: np.ndarray) -> list[str]:
    """UTC instants (ns since the epoch) as 2026-11-03T01:40:00Z, to the second."""
    text = np.datetime_as_string(nanoseconds.astype("datetime64[ns]").astype("datetime64[s]"), unit="s")
    return [f"{t}Z" for t in text.tolist()]


def _number(value):
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number
