"""The suite run on the columns it reads (pipelines/quality/validation.py: suite_columns,
_for_the_suite): Great Expectations copies its frame for each expectation's domain, so it is given
only those columns, text as categories. Every expectation still runs on every row: the outcome
(good rows, quarantined rows with their rules and reasons in words, the suite's verdict) is the one
the whole frame gives, row for row, with every expectation of the suite failing somewhere."""
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.quality import validation
from pipelines.sources import simulator

DAY = date(2026, 11, 20)


def _with_every_failure(dataset: str) -> pd.DataFrame:
    """A clean simulated day of the dataset with rows planted to fail each expectation (one row two
    at once), a missing value marked missing (kept), and a repeated row (the duplicate test)."""
    simulate = {"water": simulator.simulate_water, "air": simulator.simulate_air,
                "coastal": simulator.simulate_coastal}[dataset]
    frame = simulate(DAY, 1, "none").reset_index(drop=True)
    frame = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)   # the last row repeats row 5
    for column in ("station_id", "parameter", "source", "batch_id", "qc_flag"):
        frame[column] = frame[column].astype(object)
    ranges = validation._instrument_ranges()
    parameter = next(p for p in frame["parameter"] if p in ranges.index
                     and np.isfinite(ranges.loc[p, "instrument_min"]) and np.isfinite(ranges.loc[p, "instrument_max"]))
    low, high = ranges.loc[parameter, ["instrument_min", "instrument_max"]]
    frame.loc[0, "station_id"] = None
    frame.loc[1, "parameter"] = None
    frame.loc[2, "observed_at"] = pd.NaT
    frame.loc[3, "source"] = None
    frame.loc[4, "batch_id"] = None
    frame.loc[6, "station_id"] = "no-such-station"
    frame.loc[7, "parameter"] = "no_such_parameter"
    frame.loc[8, "qc_flag"] = "no-such-flag"
    frame.loc[9, ["value", "qc_flag"]] = [np.nan, "not_evaluated"]
    frame.loc[10, ["value", "qc_flag"]] = [np.nan, "missing"]
    frame.loc[11, ["parameter", "value"]] = [parameter, low - 1000]
    frame.loc[12, ["parameter", "value"]] = [parameter, high + 1000]
    frame.loc[13, ["station_id", "qc_flag"]] = ["another-unknown", "bogus"]
    return frame


@pytest.mark.parametrize("dataset", ["water", "air", "coastal"])
def test_the_suite_on_its_columns_gives_the_outcome_of_the_whole_frame(dataset, monkeypatch):
    frame = _with_every_failure(dataset)
    assert validation.suite_columns(dataset) is not None   # the narrowed path is the one taken
    narrowed = validation.validate(frame, dataset)
    with monkeypatch.context() as patch:
        patch.setattr(validation, "suite_columns", lambda _: None)   # the whole frame, as it comes
        whole = validation.validate(frame, dataset)
    suite = validation.load_suite_definition(dataset)["expectations"]
    every_rule = {validation._rule_id(type("C", (), {"type": e["type"], "kwargs": e["kwargs"]})) for e in suite}
    failed = {rule for rules in whole.quarantined["rule"] for rule in rules.split("; ")}
    assert every_rule | {"qc_duplicate"} == failed   # each expectation met a row that fails it
    assert narrowed.success == whole.success is False and narrowed.suite_name == whole.suite_name
    pd.testing.assert_frame_equal(narrowed.good, whole.good)
    pd.testing.assert_frame_equal(narrowed.quarantined, whole.quarantined)
    assert len(narrowed.good) + len(narrowed.quarantined) == len(frame)


def test_an_expectation_of_the_whole_table_gives_the_suite_every_column(monkeypatch):
    definition = validation.load_suite_definition("air")
    table_wide = {**definition, "expectations": [*definition["expectations"],
                                                 {"type": "expect_table_row_count_to_be_between",
                                                  "kwargs": {"min_value": 1}, "meta": {}}]}
    monkeypatch.setattr(validation, "load_suite_definition", lambda dataset: table_wide)
    validation.suite_columns.cache_clear()
    try:
        assert validation.suite_columns("air") is None
    finally:
        validation.suite_columns.cache_clear()
