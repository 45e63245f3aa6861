from datetime import date

import pandas as pd
import pytest

from pipelines.assessment import rollups
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


def test_a_mean_below_the_detection_limit_is_reported_as_below_it_with_the_method():
    # two non-detects at 0.025 and one 0.03: mean (0.0125 + 0.0125 + 0.03) / 3 = 0.01833 < 0.025
    frame = _day([0.025, 0.025, 0.03], ["good"] * 3, censoring=["<", "<", ""], limits=[0.025, 0.025, 0.025])
    row = rollups.daily(frame, date(2026, 11, 20)).iloc[0]
    assert row["mean"] == pytest.approx(0.055 / 3)
    assert row["reported_mean"] == "< 0.025" and row["detection_limit"] == 0.025
    assert row["censoring_method"] == "half_detection_limit: censored values counted as 0.5 × detection limit"


def test_a_mean_above_the_limit_is_reported_as_the_number_and_uncensored_means_carry_no_method():
    censored = rollups.daily(_day([0.4, 0.025], ["good", "good"], censoring=["", "<"], limits=[0.025, 0.025]),
                             date(2026, 11, 20)).iloc[0]
    assert censored["reported_mean"] == "0.20625"  # (0.4 + 0.0125) / 2, above the limit
    plain = rollups.daily(_day([0.4, 0.6], ["good", "good"]), date(2026, 11, 20)).iloc[0]
    assert plain["reported_mean"] == "0.5" and pd.isna(plain["censoring_method"]) and pd.isna(plain["detection_limit"])


def test_a_month_of_non_detects_is_reported_below_the_highest_limit_of_its_days():
    days = pd.concat([
        rollups.daily(_day([0.01, 0.01], ["good"] * 2, censoring=["<", "<"], limits=[0.01, 0.01]), date(2026, 11, 20)),
        rollups.daily(_day([0.02], ["good"], censoring=["<"], limits=[0.02]), date(2026, 11, 21))])
    month = rollups.monthly(days, date(2026, 11, 1)).iloc[0]
    assert month["mean"] == pytest.approx((0.005 * 2 + 0.01) / 3)
    assert month["reported_mean"] == "< 0.02" and month["values_censored"] == 3
