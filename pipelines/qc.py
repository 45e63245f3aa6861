"""Quality control of observations, after IOOS QARTOD: each test flags a record good, suspect or
fail; a record's flag is the worst of its tests (and of its source's own markers). Suspect and
failed values are kept, and left out of assessments by default (ENVMON_ASSESSABLE_FLAGS).

Every threshold is configured per parameter in pipelines/data/qc_parameters.csv, the same table
the Great Expectations suites are generated from; the source markers' flags are in
pipelines/data/qc_source_markers.csv.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache

import numpy as np
import pandas as pd

from pipelines import standards

# QARTOD order: a worse flag wins.
SEVERITY = {"good": 0, "not_evaluated": 1, "suspect": 3, "fail": 4, "missing": 9}
FUTURE_TOLERANCE = timedelta(hours=1)
GAP_FACTOR = 1.5  # a step 1.5 times the series' usual interval means at least one reading is missing


@cache
def metadata() -> pd.DataFrame:
    return pd.read_csv(standards.DATA_DIR / "qc_parameters.csv").set_index("code")


@cache
def source_markers() -> pd.DataFrame:
    return pd.read_csv(standards.DATA_DIR / "qc_source_markers.csv", keep_default_na=False)


def worst(flags: list[str]) -> str:
    return max(flags, key=SEVERITY.__getitem__)


def _series_notes(frame: pd.DataFrame) -> pd.Series:
    """Spike, rate of change and flat line over each station's series of each parameter, vectorised
    over the whole batch (neighbours within the batch)."""
    table = metadata()
    ordered = frame.sort_values(["station_id", "parameter", "averaging_period", "observed_at"])
    groups = ordered.groupby(["station_id", "parameter", "averaging_period"], sort=False)["value"]
    previous, following = groups.shift(1), groups.shift(-1)
    hours = ordered.groupby(["station_id", "parameter", "averaging_period"], sort=False)["observed_at"] \
        .diff().dt.total_seconds() / 3600
    spike_limit = ordered["parameter"].map(table["spike_threshold"])
    roc_limit = ordered["parameter"].map(table["rate_of_change_per_hour"])
    flat_count = ordered["parameter"].map(table["flat_line_count"])
    spike = (ordered["value"] - (previous + following) / 2).abs() > spike_limit
    rate = (ordered["value"] - previous).abs() / hours.where(hours > 0) > roc_limit
    # flat line: runs of identical consecutive values at least flat_count long
    changed = (ordered["value"] != previous) | previous.isna()
    run_id = changed.cumsum()
    run_length = ordered.groupby(run_id)["value"].transform("size")
    flat = run_length >= flat_count
    notes = pd.Series("", index=ordered.index)
    for mask, text in ((spike, "spike"), (rate, "rate of change over limit"), (flat, "flat line")):
        notes = notes.where(~mask.fillna(False), notes + "; " + text)
    return notes.str.lstrip("; ").reindex(frame.index)


def time_gaps(frame: pd.DataFrame) -> pd.Series:
    """QARTOD time-gap test, informational here: a reading after a gap longer than GAP_FACTOR times
    its series' usual interval gets a note; the gap does not make its value worse."""
    ordered = frame.sort_values(["station_id", "parameter", "averaging_period", "observed_at"])
    keys = ["station_id", "parameter", "averaging_period"]
    step = ordered.groupby(keys, sort=False)["observed_at"].diff().dt.total_seconds() / 3600
    usual = step.groupby([ordered[k] for k in keys], sort=False).transform("median")
    gap = step > GAP_FACTOR * usual
    notes = pd.Series("", index=ordered.index)
    notes[gap] = "gap of " + step[gap].round(1).astype(str) + " h before this reading"
    return notes.reindex(frame.index)


def apply(frame: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """The batch with qc_flag and qc_note set from every test; the original values are unchanged."""
    if frame.empty:
        return frame
    now = now or datetime.now(timezone.utc)
    table = metadata()
    censored = frame["censoring"].eq("<") if "censoring" in frame else pd.Series(False, index=frame.index)
    has_value = frame["value"].notna() & ~censored
    low = frame["parameter"].map(table["plausible_min"])
    high = frame["parameter"].map(table["plausible_max"])
    outside = has_value & ((frame["value"] < low) | (frame["value"] > high))
    future = frame["observed_at"] > pd.Timestamp(now + FUTURE_TOLERANCE)
    # moving 24-h statistics are smooth by construction: the series tests skip them
    series = _series_notes(frame[has_value & (frame["averaging_period"] != "PT24H")])
    series = series[series != ""]
    noted = frame.index[outside | future].union(series.index)
    notes = pd.Series("", index=noted, dtype=object)  # texts only where a test spoke (few rows)
    for i in frame.index[outside]:
        notes[i] = f"outside plausible range [{low[i]:g}, {high[i]:g}]"
    for i, text in series.items():
        notes[i] = f"{notes[i]}; {text}" if notes[i] else text
    for i in frame.index[future]:
        notes[i] = f"{notes[i]}; time in the future" if notes[i] else "time in the future"
    tested = pd.Series(SEVERITY["good"], index=frame.index)
    tested[noted] = SEVERITY["suspect"]
    tested[future] = SEVERITY["fail"]
    base = frame["qc_flag"].map(SEVERITY)
    # a reading no test faults is good; a source's own marker (suspect, fail, missing) stands
    severity = np.maximum(base.where(base != SEVERITY["not_evaluated"], SEVERITY["good"]), tested)
    out = frame.copy()
    out["qc_flag"] = severity.map({v: k for k, v in SEVERITY.items()})
    gaps = time_gaps(frame)
    gaps = gaps[gaps != ""]
    for i, text in gaps.items():  # informational: noted, flag unchanged
        notes[i] = f"{notes.get(i, '')}; {text}" if notes.get(i, "") else text
    noted = noted.union(gaps.index)
    if len(noted):
        previous = frame.loc[noted, "qc_note"]
        out.loc[noted, "qc_note"] = [f"{p}; {n}" if p else n for p, n in zip(previous, notes[noted])]
    return out
