"""Quality control of observations, after IOOS QARTOD: each test flags a record good, suspect or
fail; a record's flag is the worst of its tests (and of its source's own markers). Suspect and
failed values are kept, and left out of assessments by default (ENVMON_ASSESSABLE_FLAGS).

Every threshold is configured per parameter in pipelines/reference/data/qc_parameters.csv, the same table
the Great Expectations suites are generated from; the source markers' flags are in
pipelines/reference/data/qc_source_markers.csv.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

import numpy as np
import pandas as pd

from pipelines import clock
from pipelines.quality import censoring
from pipelines.reference import standards
from pipelines.observations import KEY_COLUMNS, lookup

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


# a series: one station's readings of one parameter, averaging period and layer (surface/bottom)
SERIES_KEYS = ["station_id", "parameter", "averaging_period", "layer"]
SERIES_COLUMNS = [*SERIES_KEYS, "observed_at", "value"]


def _instants(times: pd.Series) -> np.ndarray:
    return pd.to_datetime(times, utc=True).dt.tz_localize(None).to_numpy().astype("datetime64[ns]")


class Neighbourhood:
    """A source's stored readings around a batch of payloads, as the series tests' neighbours, coded
    ONCE: each series (SERIES_KEYS, grouped as _Series groups them) an integer, each reading its
    series, instant, value, whether the series tests look at it, bureau day and payload, and a dict
    from (series, instant) to its row. Payload k's context (`context`) is then its own series' readings
    on the days asked, less those it replaces, taken by numpy masks; its rows become neighbours
    (`merge`) by replacing the rows of their keys, with no frame joined or concatenated. The series
    tests only ever compare a reading with readings of its own series, so leaving the other series
    out changes nothing (what a frame context gives, row for row: tests/test_qc_neighbourhood.py)."""

    def __init__(self, rows: pd.DataFrame):
        """`rows`: stored readings with SERIES_COLUMNS, censoring, partition_day and payload_id."""
        self.keys = rows.reindex(columns=SERIES_KEYS, fill_value="").iloc[:0].reset_index(drop=True)
        self.code = np.empty(0, dtype="int64")
        self.time = np.empty(0, dtype="datetime64[ns]")
        self.value = np.empty(0, dtype="float64")
        self.testable = np.empty(0, dtype=bool)
        self.day = np.empty(0, dtype="datetime64[D]")
        self.payload = np.empty(0, dtype="float64")
        self.alive = np.empty(0, dtype=bool)
        self.at: dict[tuple[int, int], int] = {}
        if len(rows):
            payloads = pd.to_numeric(rows["payload_id"]).fillna(-1).to_numpy(dtype="float64")
            self._add(rows, self.codes(rows), _instants(rows["observed_at"]), payloads)

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's series code; a series not seen yet gets the next code."""
        keys = frame.reindex(columns=SERIES_KEYS, fill_value="")
        known = len(self.keys)
        groups = pd.concat([self.keys, keys], ignore_index=True).groupby(
            SERIES_KEYS, sort=False, dropna=False).ngroup().to_numpy()[known:]
        new = groups >= known   # the known keys are distinct, so group i is known series i
        if new.any():
            first = np.unique(groups[new], return_index=True)[1]
            fresh = keys.iloc[np.flatnonzero(new)[first]].reset_index(drop=True)
            self.keys = pd.concat([self.keys, fresh], ignore_index=True) if known else fresh
        return groups.astype("int64")

    def _add(self, rows: pd.DataFrame, codes: np.ndarray, times: np.ndarray, payloads: np.ndarray) -> None:
        start = len(self.code)
        self.code = np.r_[self.code, codes]
        self.time = np.r_[self.time, times]
        self.value = np.r_[self.value, rows["value"].to_numpy(dtype="float64")]
        self.testable = np.r_[self.testable, _series_testable(rows).to_numpy(dtype=bool)]
        self.day = np.r_[self.day, pd.to_datetime(rows["partition_day"]).to_numpy().astype("datetime64[D]")]
        self.payload = np.r_[self.payload, payloads]
        self.alive = np.r_[self.alive, np.ones(len(codes), dtype=bool)]
        for position, key in enumerate(zip(codes.tolist(), times.view("int64").tolist()), start):
            self.at[key] = position

    def _stored(self, codes: np.ndarray, times: np.ndarray) -> np.ndarray:
        """The live row of each (series, instant), -1 where none."""
        at = self.at
        return np.fromiter((at.get(key, -1) for key in zip(codes.tolist(), times.view("int64").tolist())),
                           dtype="int64", count=len(codes))

    def context(self, good: pd.DataFrame, first, last) -> Coded:
        """The testable readings of `good`'s series on bureau days first..last, less those `good`
        itself replaces (what qc.apply would keep of a frame context: ingest._qc_context)."""
        codes = self.codes(good)
        stored = self._stored(codes, _instants(good["observed_at"]))
        take = self.alive & self.testable & (self.day >= np.datetime64(first, "D")) \
            & (self.day <= np.datetime64(last, "D"))
        take[stored[stored >= 0]] = False
        if take.any():
            take &= np.isin(self.code, codes)
        rows = np.flatnonzero(take)
        return Coded(pd.Series(codes, index=good.index), self.code[rows], self.time[rows], self.value[rows],
                     self.keys["parameter"].to_numpy(dtype=object)[self.code[rows]])

    def merge(self, good: pd.DataFrame, payload_id: int) -> None:
        """The payload's rows (with partition_day) become neighbours, replacing the rows of their
        keys (a stored row of a payload logged later stays, as the warehouse's merge keeps it)."""
        if good.empty:
            return
        codes, times = self.codes(good), _instants(good["observed_at"])
        stored = self._stored(codes, times)
        newer = np.zeros(len(good), dtype=bool)
        found = stored >= 0
        newer[found] = self.payload[stored[found]] > payload_id
        self.alive[stored[found & ~newer]] = False
        keep = ~newer
        self._add(good[keep], codes[keep], times[keep], np.full(int(keep.sum()), payload_id, dtype="float64"))


class Coded:
    """One payload's context as a Neighbourhood codes it: the codes of the payload's rows (by
    index), and the context readings' series codes, instants, values and parameters."""

    def __init__(self, own_codes: pd.Series, codes: np.ndarray, times: np.ndarray, values: np.ndarray,
                 parameters: np.ndarray):
        self.own_codes, self.codes, self.times, self.values, self.parameters = \
            own_codes, codes, times, values, parameters

    def __len__(self) -> int:
        return len(self.codes)


class _Series:
    """A batch ordered by series (station, parameter, averaging period) and time, with each row's
    neighbours in its own series: numpy over integer series codes, one sort for every test. Context
    rows (stored readings just before the batch) are neighbours too, but never get a note."""

    def __init__(self, frame: pd.DataFrame, context: pd.DataFrame | Coded | None = None):
        own = frame.reindex(columns=SERIES_COLUMNS, fill_value="")  # a frame without layers has one
        held = 0 if context is None else len(context)
        if isinstance(context, Coded):   # series already coded (batches._Neighbours): no frame to group
            codes = np.r_[context.codes, context.own_codes.reindex(frame.index).to_numpy()]
            times = np.r_[context.times, _instants(own["observed_at"])]
            values = np.r_[context.values, own["value"].to_numpy(dtype="float64")]
            parameters = pd.Series(np.r_[context.parameters, own["parameter"].to_numpy(dtype=object)], dtype=object)
        else:
            rows = pd.concat([context.reindex(columns=SERIES_COLUMNS, fill_value=""), own], ignore_index=True) \
                if held else own.reset_index(drop=True)
            codes = rows.groupby(SERIES_KEYS, sort=False, dropna=False).ngroup().to_numpy()
            times = pd.to_datetime(rows["observed_at"], utc=True).dt.tz_localize(None).to_numpy()
            values = rows["value"].to_numpy(dtype="float64")
            parameters = rows["parameter"]
        self.order = np.lexsort((times, codes))
        position = np.r_[np.full(held, -1), np.arange(len(own))][self.order]  # -1: a context row
        self.own = position >= 0
        self.index = frame.index[position[self.own]]
        self.codes = codes[self.order]
        self.values = values[self.order]
        self.parameters = parameters.iloc[self.order].reset_index(drop=True)
        same_as_previous = np.r_[False, self.codes[1:] == self.codes[:-1]][:len(self.codes)]
        same_as_next = np.r_[same_as_previous[1:], False]
        self.previous = np.where(same_as_previous, np.r_[np.nan, self.values[:-1]], np.nan)
        self.following = np.where(same_as_next, np.r_[self.values[1:], np.nan], np.nan)
        steps = np.diff(times[self.order]) / np.timedelta64(1, "h")
        self.hours = np.where(same_as_previous, np.r_[np.nan, steps], np.nan)

    def setting(self, column: str) -> np.ndarray:
        return lookup(self.parameters, metadata()[column]).to_numpy(dtype="float64")

    def notes(self, masks: dict[str, np.ndarray]) -> pd.Series:
        """The texts of the tests that spoke, per row of the original frame (only rows with one)."""
        spoke = np.zeros(len(self.codes), dtype=bool)
        for mask in masks.values():
            spoke |= mask
        spoke &= self.own
        texts = ["; ".join(text for text, mask in masks.items() if mask[i]) for i in np.flatnonzero(spoke)]
        return pd.Series(texts, index=self.index[spoke[self.own]], dtype=object)


def _series_notes(frame: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.Series:
    """Spike, rate of change and flat line over each station's series of each parameter, vectorised
    over the whole batch (neighbours within the batch and its context). Only rows a test faults appear."""
    series = _Series(frame, context)
    with np.errstate(invalid="ignore"):
        spike = np.abs(series.values - (series.previous + series.following) / 2) > series.setting("spike_threshold")
        rate = np.abs(series.values - series.previous) / np.where(series.hours > 0, series.hours, np.nan) \
            > series.setting("rate_of_change_per_hour")
    # flat line: runs of identical consecutive values at least flat_count long
    changed = (series.values != series.previous) | np.isnan(series.previous)
    run_id = np.cumsum(changed)
    flat = np.bincount(run_id)[run_id] >= series.setting("flat_line_count")
    return series.notes({"spike": spike, "rate of change over limit": rate, "flat line": flat})


def time_gaps(frame: pd.DataFrame, context: pd.DataFrame | None = None) -> pd.Series:
    """QARTOD time-gap test, informational here: a reading after a gap longer than GAP_FACTOR times
    its series' usual interval gets a note; the gap does not make its value worse. Only rows with
    a gap appear."""
    series = _Series(frame, context)
    usual = pd.Series(series.hours).groupby(series.codes).transform("median").to_numpy()
    with np.errstate(invalid="ignore"):
        gap = (series.hours > GAP_FACTOR * usual) & series.own
    texts = ["gap of " + str(round(hours, 1)) + " h before this reading" for hours in series.hours[gap]]
    return pd.Series(texts, index=series.index[gap[series.own]], dtype=object)


def _series_testable(frame: pd.DataFrame) -> pd.Series:
    """Values the series tests look at: present, not censored, not a moving 24-h statistic (smooth
    by construction)."""
    return frame["value"].notna() & ~censoring.is_censored(frame) & (frame["averaging_period"] != "PT24H")


def apply(frame: pd.DataFrame, now: datetime | None = None,
          context: pd.DataFrame | Coded | None = None) -> pd.DataFrame:
    """The batch with qc_flag and qc_note set from every test; the original values are unchanged.
    `context`: stored readings of the same source just before the batch (the day before), so the
    series tests see across the batch's start; they are neighbours only and are not changed. Either
    a frame, or the same rows already coded by a `Neighbourhood` (a batch of payloads: the same flags
    and notes, tests/test_qc_neighbourhood.py).
    `now`: the instant a time must not lie beyond (by FUTURE_TOLERANCE); default pipelines.clock.now()."""
    if frame.empty:
        return frame
    now = now or clock.now()
    table = metadata()
    censored = censoring.is_censored(frame)
    has_value = frame["value"].notna() & ~censored
    low = lookup(frame["parameter"], table["plausible_min"])
    high = lookup(frame["parameter"], table["plausible_max"])
    outside = has_value & ((frame["value"] < low) | (frame["value"] > high))
    future = frame["observed_at"] > pd.Timestamp(now + FUTURE_TOLERANCE)
    if isinstance(context, pd.DataFrame) and len(context):   # a Coded context holds testable rows only
        context = context[_series_testable(context)]
    series = _series_notes(frame[_series_testable(frame)], context)
    noted = frame.index[outside | future].union(series.index)
    # texts only where a test spoke, in a dict: growing a Series one new label at a time copies it
    # each time (thousands of gap notes in a month of hourly data made this quadratic)
    notes: dict = {}
    for i in frame.index[outside]:
        notes[i] = f"outside plausible range [{low[i]:g}, {high[i]:g}]"
    for i, text in series.items():
        notes[i] = f"{notes[i]}; {text}" if notes.get(i) else text
    for i in frame.index[future]:
        notes[i] = f"{notes[i]}; time in the future" if notes.get(i) else "time in the future"
    tested = pd.Series(SEVERITY["good"], index=frame.index)
    tested[noted] = SEVERITY["suspect"]
    tested[future] = SEVERITY["fail"]
    base = lookup(frame["qc_flag"], SEVERITY)
    # a reading no test faults is good; a source's own marker (suspect, fail, missing) stands
    severity = np.maximum(base.where(base != SEVERITY["not_evaluated"], SEVERITY["good"]), tested)
    out = frame.copy()
    out["qc_flag"] = lookup(severity, {v: k for k, v in SEVERITY.items()}).astype(frame["qc_flag"].dtype)
    gaps = time_gaps(frame, context)
    for i, text in gaps.items():  # informational: noted, flag unchanged
        notes[i] = f"{notes.get(i, '')}; {text}" if notes.get(i, "") else text
    noted = noted.union(gaps.index)
    if len(noted):
        previous = frame.loc[noted, "qc_note"]
        out.loc[noted, "qc_note"] = [_joined(p, n) for p, n in zip(previous, (notes.get(i, "") for i in noted))]
    return out


def _joined(given: str, found: str) -> str:
    """The source's note, then what the tests found that it does not say already (a partner's
    values come with the words of the same tests, run there: issue 26)."""
    if not given:
        return found
    said = given.split("; ")
    new = [part for part in found.split("; ") if part and part not in said]
    return "; ".join([given, *new]) if new else given


DUPLICATE_EXPECTATION = "qc_duplicate"


def _shown(value) -> str:
    return "empty" if pd.isna(value) else f"{value:g}"


def split_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """QARTOD-style duplicate test over rows that share a key (station, parameter, time, averaging
    period, layer). The batch's last row of a key is kept; an exact copy of it goes to quarantine as
    a duplicate; where the rows disagree, the others go to quarantine as conflicting and the kept
    row is flagged suspect with the other values in its note. Returns (kept, quarantined)."""
    key = [column for column in KEY_COLUMNS if column in frame]
    repeated = frame.duplicated(subset=key, keep=False)
    if not repeated.any():
        return frame, frame.iloc[:0].assign(expectation=pd.Series(dtype=object), reason=pd.Series(dtype=object))
    rows = frame[repeated]
    signature = rows["value"].map(_shown) + "|" + (rows["censoring"] if "censoring" in rows else "")
    group = rows.groupby(key, sort=False, dropna=False).ngroup()
    conflicting = signature.groupby(group).transform("nunique") > 1
    kept_mask = ~frame.duplicated(subset=key, keep="last")
    dropped = rows[~kept_mask[repeated]]
    kept_value = rows[kept_mask[repeated]].set_index(group[kept_mask[repeated]])["value"]
    quarantined = dropped.assign(
        expectation=DUPLICATE_EXPECTATION,
        reason=[f"conflicting duplicate: value {_shown(v)} for the same station, parameter and time; the batch's "
                f"later value {_shown(kept_value[g])} is loaded, flagged suspect" if c else
                "duplicate: an exact copy of a later row of the batch, which is loaded"
                for v, g, c in zip(dropped["value"], group[dropped.index], conflicting[dropped.index])])
    kept = frame[kept_mask].copy()
    disputed = rows.index[kept_mask[repeated] & conflicting]
    for index in disputed:
        others = dropped[group[dropped.index] == group[index]]["value"].map(_shown)
        note = f"conflicting duplicate: the batch also gave {', '.join(others)}"
        kept.loc[index, "qc_flag"] = worst([kept.loc[index, "qc_flag"], "suspect"])
        kept.loc[index, "qc_note"] = f"{kept.loc[index, 'qc_note']}; {note}" if kept.loc[index, "qc_note"] else note
    return kept, quarantined
