"""The canonical observation: the one long form every source produces.

One row per station (or section), parameter, time and averaging period:
  station_id, parameter (a code of data/parameters.csv), observed_at (UTC; for averaged values
  the end of the averaging period), utc_offset_minutes (the source's own clock offset, kept),
  averaging_period (ISO 8601 duration; PT0S for an instantaneous reading), value, unit,
  qc_flag (QC_FLAGS), qc_note, source, batch_id, original_value (the string as the source printed it).
Optional columns (defaults when a source has nothing to say): layer (surface/bottom for coastal
samples; part of the key), sample_id, detection_limit and censoring ("<" when the value is below the
detection limit and `value` holds that limit), original_unit (the unit as received, before an
explicit conversion), detail (JSON: lab, method, survey, ...).
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd

from pipelines.clock import BUREAU_TZ  # the bureaus' clock; re-exported for the modules that use it

BEIJING_OFFSET_MINUTES = 480

CANONICAL_COLUMNS = (
    "station_id",
    "parameter",
    "observed_at",
    "utc_offset_minutes",
    "averaging_period",
    "value",
    "unit",
    "qc_flag",
    "qc_note",
    "source",
    "batch_id",
    "original_value",
)

OPTIONAL_COLUMNS = {
    "layer": "",
    "sample_id": "",
    "detection_limit": float("nan"),
    "censoring": "",
    "original_unit": "",
    "detail": "",
}
KEY_COLUMNS = ("station_id", "parameter", "observed_at", "averaging_period", "layer")
ALL_COLUMNS = CANONICAL_COLUMNS + tuple(OPTIONAL_COLUMNS)

# A small QC vocabulary after IOOS QARTOD: a record's flag is the worst of its tests.
QC_FLAGS = ("good", "not_evaluated", "suspect", "fail", "missing")
# Flags whose values the assessments use by default (ENVMON_ASSESSABLE_FLAGS changes it).
ASSESSABLE_FLAGS = ("good", "not_evaluated")

SOURCE_DOMAINS = {
    "simulated-water": "water",
    "simulated-air": "air",
    "simulated-coastal": "coastal",
    "cnemc-water": "water",
    "cnemc-air": "air",
    "lab": "water",
    "coastal": "coastal",
    "partner-edr": "water",  # a partner's shared sections, pulled from its OGC API – EDR (issue 26)
}


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=_dtype(column)) for column in ALL_COLUMNS})


def _dtype(column: str) -> str:
    if column == "observed_at":
        return "datetime64[us, UTC]"
    if column in ("value", "detection_limit"):
        return "float64"
    if column == "utc_offset_minutes":
        return "int64"
    return "str"


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical columns, in order, with their types."""
    missing = [c for c in CANONICAL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"observations lack canonical columns {missing}")
    out = frame.copy()
    for column, default in OPTIONAL_COLUMNS.items():
        if column not in out.columns:
            out[column] = default
    out = out.loc[:, list(ALL_COLUMNS)]
    out["observed_at"] = pd.to_datetime(out["observed_at"], utc=True).astype("datetime64[us, UTC]")
    for column in ("value", "detection_limit"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    out["utc_offset_minutes"] = out["utc_offset_minutes"].astype("int64")
    for column in ("station_id", "parameter", "averaging_period", "unit", "qc_flag", "qc_note",
                   "source", "batch_id", "original_value", "layer", "sample_id", "censoring", "detail"):
        out[column] = out[column].fillna("").astype("str")
    out["original_unit"] = out["original_unit"].fillna("").astype("str").where(out["original_unit"] != "", out["unit"])
    return out.reset_index(drop=True)


def bureau_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants that bound a calendar day on the bureau's clock (Asia/Shanghai)."""
    start = datetime.combine(day, datetime.min.time(), BUREAU_TZ)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


def period_length(averaging_period: str) -> timedelta:
    """The length of an ISO 8601 period of the forms the sources use: PT0S, PT<n>H, P<n>D."""
    text = averaging_period.upper()
    if text.startswith("PT") and text.endswith("H"):
        return timedelta(hours=int(text[2:-1]))
    if text.startswith("PT") and text.endswith("S"):
        return timedelta(seconds=int(text[2:-1]))
    if text.startswith("P") and text.endswith("D"):
        return timedelta(days=int(text[1:-1]))
    raise ValueError(f"unsupported averaging period {averaging_period!r}")


def lookup(keys: pd.Series, mapping, default=np.nan) -> pd.Series:
    """`keys.map(mapping)` computed once per distinct key: a batch holds a few parameters or
    periods over hundreds of thousands of rows, and Series.map on string columns is per row."""
    codes, distinct = pd.factorize(keys)
    mapped = pd.Series(distinct).map(mapping)
    values = np.append(mapped.to_numpy(), default)  # code -1 (a missing key) takes the default
    return pd.Series(values[codes], index=keys.index)


def bureau_day(observed_at: pd.Series, averaging_period: pd.Series) -> pd.Series:
    """The bureau's calendar day of each observation: the day its averaging period starts, so
    the 00:00 hourly mean (23:00–24:00) belongs to the day before."""
    lengths = lookup(averaging_period, period_length, default=pd.NaT)
    start = observed_at - pd.to_timedelta(lengths)
    local = start.dt.tz_convert(BUREAU_TZ).dt.tz_localize(None).dt.normalize()
    codes, days = pd.factorize(local)
    return pd.Series(np.append(days.date, None)[codes], index=observed_at.index)


def with_partition_day(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the warehouse partition of each observation: its bureau day."""
    frame = frame.copy()
    frame["partition_day"] = bureau_day(frame["observed_at"], frame["averaging_period"]) if len(frame) else []
    return frame


def batch_id(source: str, day: date, frame: pd.DataFrame) -> str:
    """Deterministic: the same content for the same partition gives the same id on a re-run."""
    content = pd.util.hash_pandas_object(frame.drop(columns=["batch_id"], errors="ignore"), index=False)
    return f"{source}/{day.isoformat()}/{hashlib.sha256(content.to_numpy().tobytes()).hexdigest()[:12]}"
