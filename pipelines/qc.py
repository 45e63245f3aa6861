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


@cache
def metadata() -> pd.DataFrame:
    return pd.read_csv(standards.DATA_DIR / "qc_parameters.csv").set_index("code")


@cache
def source_markers() -> pd.DataFrame:
    return pd.read_csv(standards.DATA_DIR / "qc_source_markers.csv", keep_default_na=False)


def worst(flags: list[str]) -> str:
    return max(flags, key=SEVERITY.__getitem__)


def _series_tests(group: pd.DataFrame, limits: pd.Series) -> pd.DataFrame:
    """Spike, rate of change and flat line over one station's series of one parameter."""
    values = group["value"].to_numpy(dtype=float)
    hours = (group["observed_at"] - group["observed_at"].iloc[0]).dt.total_seconds().to_numpy() / 3600
    notes = [[] for _ in values]
    spike = limits.get("spike_threshold")
    if pd.notna(spike) and len(values) >= 3:
        reference = (values[:-2] + values[2:]) / 2
        for i in np.flatnonzero(np.abs(values[1:-1] - reference) > spike):
            notes[i + 1].append(f"spike over {spike:g}")
    roc = limits.get("rate_of_change_per_hour")
    if pd.notna(roc) and len(values) >= 2:
        rate = np.abs(np.diff(values)) / np.maximum(np.diff(hours), 1e-9)
        for i in np.flatnonzero(rate > roc):
            notes[i + 1].append(f"rate of change over {roc:g}/h")
    flat = limits.get("flat_line_count")
    if pd.notna(flat) and len(values) >= int(flat):
        run = 1
        for i in range(1, len(values)):
            run = run + 1 if values[i] == values[i - 1] else 1
            if run >= int(flat):
                for j in range(i - run + 1, i + 1):
                    if "flat line" not in notes[j]:
                        notes[j].append("flat line")
    return pd.DataFrame({"notes": notes}, index=group.index)


def apply(frame: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """The batch with qc_flag and qc_note set from every test; the original values are unchanged."""
    if frame.empty:
        return frame
    now = now or datetime.now(timezone.utc)
    frame = frame.copy()
    notes = pd.Series([[] for _ in range(len(frame))], index=frame.index)
    table = metadata()
    has_value = frame["value"].notna() & (frame["censoring"] != "<" if "censoring" in frame else True)
    low = frame["parameter"].map(table["plausible_min"])
    high = frame["parameter"].map(table["plausible_max"])
    outside = has_value & ((frame["value"] < low) | (frame["value"] > high))
    for i in frame.index[outside]:
        notes[i].append(f"outside plausible range [{low[i]:g}, {high[i]:g}]")
    future = frame["observed_at"] > pd.Timestamp(now + FUTURE_TOLERANCE)
    ordered = frame[has_value].sort_values("observed_at")
    for (station, parameter, period), group in ordered.groupby(["station_id", "parameter", "averaging_period"]):
        if parameter not in table.index or period == "PT24H":
            continue  # moving 24-h statistics are smooth by construction
        for i, extra in _series_tests(group, table.loc[parameter])["notes"].items():
            notes[i].extend(extra)
    flags = []
    for i in frame.index:
        tests = ["suspect" for _ in notes[i]] + (["fail"] if future[i] else [])
        if future[i]:
            notes[i].append("time in the future")
        base = frame.at[i, "qc_flag"]
        flags.append(worst([base, *tests]) if tests else ("good" if base == "not_evaluated" else base))
    frame["qc_flag"] = flags
    frame["qc_note"] = ["; ".join(filter(None, [frame.at[i, "qc_note"], *notes[i]])) for i in frame.index]
    return frame
