from datetime import date

import pandas as pd
import pytest

from pipelines import rollups
from pipelines.observations import conform


def _day(values, flags, censoring=None, limits=None):
    times = pd.date_range("2026-11-20 00:00", periods=len(values), freq="4h", tz="Asia/Shanghai")
    frame = conform(pd.DataFrame({
        "station_id": "nanliu-hengtang", "parameter": "nh3n", "observed_at": times, "utc_offset_minutes": 480,
        "averaging_period": "PT0S", "value": values, "unit": "mg/L", "qc_flag": flags, "qc_note": "",
        "source": "lab", "batch_id": "b", "original_value": [str(v) for v in values]}))
    if censoring:
        frame["censoring"], frame["detection_limit"] = censoring, limits
    return frame


def test_daily_rollup_counts_flags_and_leaves_flagged_values_out_of_the_mean():
    frame = _day([0.4, 0.6, 9.0, 0.5], ["good", "good", "suspect", "good"])
    row = rollups.daily(frame, date(2026, 11, 20)).iloc[0]
    assert row["mean"] == pytest.approx(0.5) and row["maximum"] == 0.6
    assert (row["values_assessable"], row["values_flagged"], row["days_with_data"]) == (3, 1, 1)


def test_censored_values_count_half_the_limit():
    frame = _day([0.4, 0.025], ["good", "good"], censoring=["", "<"], limits=[0.025, 0.025])
    row = rollups.daily(frame, date(2026, 11, 20)).iloc[0]
    assert row["mean"] == pytest.approx((0.4 + 0.0125) / 2) and row["values_censored"] == 1


def test_a_month_weights_each_day_by_its_values():
    days = pd.concat([rollups.daily(_day([0.4, 0.4, 0.4, 0.4], ["good"] * 4), date(2026, 11, 20)),
                      rollups.daily(_day([1.0], ["good"]), date(2026, 11, 21))])
    month = rollups.monthly(days, date(2026, 11, 1)).iloc[0]
    assert month["mean"] == pytest.approx((0.4 * 4 + 1.0) / 5) and month["days_with_data"] == 2
