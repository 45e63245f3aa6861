"""QC flags for each range limit, below and above (issue 22): for every parameter of
pipelines/reference/data/qc_parameters.csv, a value just below and on the lower limit, on and just
above the upper limit, of the instrument range and of the plausible range, pushed through the path
the nightly and `envmon ingest` take: the Great Expectations suite of the parameter's dataset
(pipelines/quality/validation.validate: outside the instrument range → quarantined, with the reason
in words) and then QC (pipelines/quality/qc.apply: outside the plausible range → flagged suspect).

The expected outcome of each value is computed from the table by the rule, so every row of the
table is met; the worked examples are written by hand, so that a limit moved in the table (PM2.5's
upper limit widened to 20,000 µg/m³, the suites regenerated) fails here; and where the table cites a
standard for a limit (HJ 633), the limit is checked against that standard's own table."""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from expectations.build import DATASET_PARAMETERS, _stations
from pipelines.observations import conform
from pipelines.quality import qc, validation
from pipelines.reference import standards

TABLE_PATH = standards.DATA_DIR / "qc_parameters.csv"
TABLE = pd.read_csv(TABLE_PATH).set_index("code")
AT = datetime(2026, 3, 2, 4, tzinfo=timezone.utc)


def dataset_of(code: str) -> str:
    return next(d for d, codes in DATASET_PARAMETERS.items() if code in codes)


def step(low: float, high: float) -> float:
    """'Just' beyond a limit: a ten-thousandth of the range's order of magnitude (0.1 µg/m³ for
    PM2.5's 0–2000, 0.0001 mg/L for mercury's 0–1)."""
    return 10.0 ** (math.floor(math.log10(high - low)) - 4)


def cases(code: str) -> list[tuple[str, float]]:
    """(what, value): each limit of both ranges, on it and just beyond it."""
    row = TABLE.loc[code]
    out = []
    for kind in ("instrument", "plausible"):
        low, high = float(row[f"{kind}_min"]), float(row[f"{kind}_max"])
        delta = step(float(row["instrument_min"]), float(row["instrument_max"]))
        out += [(f"{kind} min − δ", low - delta), (f"{kind} min", low), (f"{kind} max", high),
                (f"{kind} max + δ", high + delta)]
    return out


def expected(code: str, value: float) -> tuple[str, str | None]:
    """By the rule: outside the instrument range quarantined; else suspect outside the plausible
    range; else good (each limit itself inside)."""
    row = TABLE.loc[code]
    if value < row["instrument_min"] or value > row["instrument_max"]:
        return "quarantined", None
    if value < row["plausible_min"] or value > row["plausible_max"]:
        return "loaded", "suspect"
    return "loaded", "good"


def unit_of(code: str) -> str:
    """The parameter's canonical unit (parameters.csv), '' for a code it does not list (sd)."""
    return standards.unit_of(code) if code in standards.parameters().index else ""


def push(rows: list[tuple[str, float]], dataset: str):
    """Each (parameter, value) as one reading of its own station series (so that the series tests,
    spike, rate of change and flat line, have no neighbour), through validation then QC."""
    stations = _stations(dataset)
    units = {code: unit_of(code) for code, _ in rows}
    frame = conform(pd.DataFrame([{
        "station_id": stations[n % len(stations)], "parameter": code,
        "observed_at": AT + timedelta(minutes=n // len(stations)), "utc_offset_minutes": 480,
        "averaging_period": "PT1H" if dataset == "air" else "PT0S", "value": value, "unit": units[code],
        "qc_flag": "not_evaluated", "qc_note": "", "source": "range-test", "batch_id": "range-test/1",
        "original_value": repr(value)} for n, (code, value) in enumerate(rows)]))
    outcome = validation.validate(frame, dataset)
    return qc.apply(outcome.good, now=AT + timedelta(days=1)), outcome.quarantined


@pytest.fixture(scope="module")
def pushed():
    """Every case of every parameter, one batch per dataset; answers by (parameter, value)."""
    out = {}
    for dataset in DATASET_PARAMETERS:
        rows = [(code, value) for code in TABLE.index if dataset_of(code) == dataset for _, value in cases(code)]
        good, quarantined = push(rows, dataset)
        assert len(good) + len(quarantined) == len(rows)   # every row loaded or quarantined
        for record in good.to_dict("records"):
            out[(record["parameter"], record["value"])] = ("loaded", record["qc_flag"], record["qc_note"])
        for record in quarantined.to_dict("records"):
            out[(record["parameter"], record["value"])] = ("quarantined", None, record["reason"])
    return out


@pytest.mark.parametrize("code", list(TABLE.index))
def test_each_range_limit_of_each_parameter_below_on_and_above(pushed, code):
    row = TABLE.loc[code]
    unit = unit_of(code)
    for what, value in cases(code):
        fate, flag, words = pushed[(code, value)]
        assert (fate, flag) == expected(code, value), f"{code} {what} = {value:g}: {fate}, {flag}, {words}"
        if what == "instrument min − δ":
            assert f"below the instrument's lower limit for {code}" in words
        if what == "instrument max + δ":
            assert f"above the instrument's upper limit for {code}" in words
            assert f"> {row['instrument_max']:g}".replace("-", "\u2212") in words
            if unit not in ("", "dimensionless"):
                assert words.endswith(unit)


def test_pm25_above_its_upper_limit_is_quarantined_worked_example():
    """Worked by hand: PM2.5's instrument range is 0–2000 µg/m³ (qc_parameters.csv), its plausible
    range 0–600. 2000.1 µg/m³ is quarantined as above the instrument's upper limit; 2500 too (a
    reviewer's 20,000 would let both in); 2000 is loaded but flagged suspect (above 600); 600 is
    good; −0.1 is quarantined as below the lower limit."""
    good, quarantined = push([("pm2_5", 2000.1), ("pm2_5", 2500.0), ("pm2_5", 2000.0), ("pm2_5", 600.0),
                              ("pm2_5", -0.1)], "air")
    held = dict(zip(quarantined["value"], quarantined["reason"]))
    assert held == {2000.1: "above the instrument's upper limit for pm2_5: 2000.1 > 2000 µg/m³",
                    2500.0: "above the instrument's upper limit for pm2_5: 2500 > 2000 µg/m³",
                    -0.1: "below the instrument's lower limit for pm2_5: \u22120.1 < 0 µg/m³"}
    flags = dict(zip(good["value"], good["qc_flag"]))
    assert flags == {2000.0: "suspect", 600.0: "good"}


def test_the_limits_of_other_worked_examples():
    """By hand from the table: pH 14.01 quarantined (the pH scale ends at 14), 14 loaded; DO 25.1 mg/L
    quarantined, 20.5 suspect (plausible up to 20); NH3-N −0.001 quarantined."""
    good, quarantined = push([("ph", 14.01), ("ph", 14.0), ("do", 25.1), ("do", 20.5), ("nh3n", -0.001)], "water")
    assert sorted(zip(quarantined["parameter"], quarantined["value"])) == [("do", 25.1), ("nh3n", -0.001),
                                                                           ("ph", 14.01)]
    assert dict(zip(good["parameter"] + " " + good["value"].astype(str), good["qc_flag"])) == {
        "ph 14.0": "suspect", "do 20.5": "suspect"}


def test_limits_the_table_takes_from_a_standard_agree_with_that_standard():
    """Where the basis column cites HJ 633 for an instrument limit, the limit is the standard's: CO
    'HJ 633 top breakpoint 150' is the top of CO's breakpoint table (1-h, mg/m³); AQI 'the index tops
    out at 500' is the highest IAQI of the breakpoint table."""
    breakpoints = pd.read_csv(standards.DATA_DIR / "hj633_breakpoints.csv", dtype=str, keep_default_na=False)
    iaqi_columns = [c for c in breakpoints.columns if re.fullmatch(r"iaqi_\d+", c)]
    top_index = max(int(c.split("_")[1]) for c in iaqi_columns)
    cited = 0
    for code, row in TABLE.iterrows():
        instrument_basis = row["basis"].split(";")[0]
        match = re.search(r"HJ 633 top breakpoint ([\d.]+)", instrument_basis)
        if match:
            mine = breakpoints[breakpoints["code"] == code]
            top = max(float(r[c]) for _, r in mine.iterrows() for c in iaqi_columns if r[c])
            assert float(match.group(1)) == top == row["instrument_max"], code
            cited += 1
        if "the index tops out at 500" in instrument_basis:
            assert row["instrument_max"] == top_index == 500, code
            cited += 1
    assert cited == 2   # CO and AQI cite it today


def test_every_range_holds_its_plausible_range_and_every_parameter_is_carried():
    for code, row in TABLE.iterrows():
        assert row["instrument_min"] <= row["plausible_min"] <= row["plausible_max"] <= row["instrument_max"], code
        assert dataset_of(code)   # a range no dataset carries would never be applied
