"""QC tests after IOOS QARTOD, configured per parameter in pipelines/reference/data/qc_parameters.csv."""
from datetime import datetime, timezone

import pandas as pd
import pytest

from expectations import build
from pipelines.quality import qc
from pipelines.observations import conform


def _series(parameter, values, hours=4, flag="not_evaluated", start="2026-11-20 00:00"):
    times = pd.date_range(start, periods=len(values), freq=f"{hours}h", tz="Asia/Shanghai")
    return conform(pd.DataFrame({
        "station_id": "nanliu-hengtang", "parameter": parameter, "observed_at": times, "utc_offset_minutes": 480,
        "averaging_period": "PT0S", "value": values, "unit": "mg/L", "qc_flag": flag, "qc_note": "",
        "source": "cnemc-water", "batch_id": "b", "original_value": [str(v) for v in values]}))


NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)


def test_clean_series_is_good():
    checked = qc.apply(_series("nh3n", [0.40, 0.42, 0.45, 0.43, 0.41, 0.44]), NOW)
    assert (checked["qc_flag"] == "good").all()


def test_spike_is_suspect_and_kept():
    # NH3-N spike threshold 2 mg/L: 6.0 against neighbours 0.4 and 0.45
    checked = qc.apply(_series("nh3n", [0.40, 0.42, 6.0, 0.45, 0.41]), NOW)
    assert checked["qc_flag"].tolist()[2] == "suspect" and "spike" in checked["qc_note"][2]
    assert checked["value"][2] == 6.0   # original values unchanged


def test_flat_line_of_four_readings_is_suspect():
    checked = qc.apply(_series("tp", [0.11, 0.12, 0.12, 0.12, 0.12, 0.13]), NOW)
    assert checked["qc_flag"].tolist() == ["good", "suspect", "suspect", "suspect", "suspect", "good"]


def test_rate_of_change():
    # pH limit 0.5 per hour: 7.2 → 9.8 in 4 hours is 0.65/h (no spike: it stays there)
    checked = qc.apply(_series("ph", [7.2, 7.2, 9.8, 9.8]), NOW)
    assert "rate of change" in checked["qc_note"][2]


def test_outside_plausible_but_inside_instrument_range_is_suspect():
    checked = qc.apply(_series("ph", [7.0, 10.5, 7.1]), NOW)   # plausible 5–10, instrument 0–14
    assert checked["qc_flag"][1] == "suspect" and "plausible range" in checked["qc_note"][1]


def test_a_future_time_fails():
    checked = qc.apply(_series("do", [6.0, 6.1], start="2026-11-22 00:00"), NOW)
    assert (checked["qc_flag"] == "fail").all() and "future" in checked["qc_note"][0]


def test_without_a_time_given_the_future_is_judged_by_the_injected_clock(set_clock):
    readings = _series("do", [6.0, 6.1], start="2026-11-22 00:00")   # 11-21 16:00 and 20:00 UTC
    set_clock(datetime(2026, 11, 21, 14, 59, tzinfo=timezone.utc))   # more than an hour before the first
    assert qc.apply(readings)["qc_flag"].tolist() == ["fail", "fail"]
    set_clock(datetime(2026, 11, 21, 15, 0, tzinfo=timezone.utc))    # the first within the hour's tolerance
    assert qc.apply(readings)["qc_flag"].tolist() == ["good", "fail"]
    set_clock(datetime(2026, 11, 23, tzinfo=timezone.utc))
    assert qc.apply(readings)["qc_flag"].tolist() == ["good", "good"]


def test_no_fixture_lies_in_the_future_of_the_suites_clock():
    """The CNEMC water snapshot of 12-31 20:00 (fetched 2027-01-01 02:00) was flagged `fail` while the
    real date came before it, and the tests built on it passed on failed values."""
    from pipelines.sources import files
    from tests.conftest import FIXTURES

    fetched = datetime(2027, 1, 1, 2, 0, tzinfo=files.BUREAU_TZ)
    for source, name in (("cnemc-water", "cnemc-water-publish.json"), ("cnemc-air", "cnemc-air-hourly.csv")):
        checked = qc.apply(files.parse_file(source, FIXTURES / name, fetched).observations)
        assert not checked["qc_note"].str.contains("future").any(), name
    water = qc.apply(files.parse_file("cnemc-water", FIXTURES / "cnemc-water-publish.json", fetched).observations)
    hengtang = water[(water["station_id"] == "nanliu-hengtang") & water["value"].notna()]
    assert set(hengtang["qc_flag"]) == {"good"}  # a normal station's readings: good, assessed


def test_the_worst_flag_wins_and_source_markers_stay():
    checked = qc.apply(_series("nh3n", [0.4, 0.42, 0.41], flag="suspect"), NOW)
    assert (checked["qc_flag"] == "suspect").all()
    assert qc.worst(["good", "suspect", "fail"]) == "fail" and qc.worst(["missing", "fail"]) == "missing"


def test_source_markers_map_onto_the_vocabulary():
    markers = qc.source_markers().set_index(["source", "marker"])["qc_flag"]
    assert markers[("cnemc-water", "维护")] == "suspect" and markers[("cnemc-water", "当天质控不合格")] == "fail"
    assert markers[("cnemc-water", "*")] == "missing"


@pytest.mark.parametrize("dataset", sorted(build.DATASET_PARAMETERS))
def test_suites_enforce_the_instrument_ranges_of_the_same_table(dataset):
    suite = build.suite_for(dataset)
    ranges = next(e["meta"]["ranges"] for e in suite["expectations"] if "ranges" in e["meta"])
    table = qc.metadata()
    for code, (low, high) in ranges.items():
        assert (low, high) == (table.loc[code, "instrument_min"], table.loc[code, "instrument_max"])


def test_censored_values_count_as_half_the_limit_in_means():
    from pipelines.assessment import daily
    frame = _series("cd", [0.002, 0.002])
    frame.loc[1, ["censoring", "detection_limit", "value"]] = ["<", 0.001, 0.001]
    means = daily.daily_means(frame)
    assert means["mean"][0] == pytest.approx((0.002 + 0.0005) / 2)


def test_a_time_gap_is_noted_without_changing_the_flag():
    frame = _series("nh3n", [0.40, 0.42, 0.41, 0.43, 0.42])
    frame = frame.drop(index=2).reset_index(drop=True)   # the 08:00 reading is missing: 8 h instead of 4
    checked = qc.apply(frame, NOW)
    assert "gap of 8.0 h" in checked["qc_note"][2] and checked["qc_flag"][2] == "good"
    assert checked["qc_note"][1] == ""


def _with_repeats(values_by_hour):
    frames = [_series("nh3n", [value], start=f"2026-11-20 {hour:02d}:00") for hour, value in values_by_hour]
    return pd.concat(frames, ignore_index=True)


def test_an_exact_duplicate_is_quarantined_and_one_copy_kept():
    frame = _with_repeats([(0, 0.40), (4, 0.42), (4, 0.42), (8, 0.45)])
    kept, held = qc.split_duplicates(frame)
    assert kept["value"].tolist() == [0.40, 0.42, 0.45] and (kept["qc_flag"] == "not_evaluated").all()
    assert len(held) == 1 and held["expectation"].tolist() == ["qc_duplicate"]
    assert held["reason"].iloc[0].startswith("duplicate: an exact copy")


def test_conflicting_duplicates_keep_the_last_value_flagged_suspect_and_quarantine_the_others():
    frame = _with_repeats([(0, 0.40), (4, 0.42), (4, 0.9), (4, 0.5), (8, 0.45)])
    kept, held = qc.split_duplicates(frame)
    assert kept["value"].tolist() == [0.40, 0.5, 0.45]
    disputed = kept[kept["value"] == 0.5].iloc[0]
    assert disputed["qc_flag"] == "suspect" and disputed["qc_note"] == "conflicting duplicate: the batch also gave 0.42, 0.9"
    assert sorted(held["value"]) == [0.42, 0.9]
    assert all(r.startswith("conflicting duplicate") and "later value 0.5 is loaded" in r for r in held["reason"])
    assert len(kept) + len(held) == len(frame)


def test_validation_settles_duplicates_so_every_row_is_loaded_or_quarantined():
    from pipelines.quality.validation import validate
    frame = _with_repeats([(0, 0.40), (4, 0.42), (4, 0.9), (8, 0.45), (8, 0.45)])
    outcome = validate(frame, "water")
    assert len(outcome.good) == 3 and len(outcome.quarantined) == 2
    assert not outcome.good.duplicated(subset=["station_id", "parameter", "observed_at"]).any()
    assert set(outcome.quarantined["expectation"]) == {"qc_duplicate"}


def test_the_day_before_is_context_for_the_first_readings_of_a_batch():
    yesterday = _series("nh3n", [0.40, 0.42, 0.41], start="2026-11-19 12:00")
    # today's first reading jumps 6 mg/L from yesterday's 20:00 and back: a spike only with the context
    today = _series("nh3n", [6.0, 0.43, 0.45], start="2026-11-20 00:00")
    alone = qc.apply(today, NOW)
    with_context = qc.apply(today, NOW, context=yesterday)
    assert alone["qc_flag"][0] == "good"
    assert with_context["qc_flag"][0] == "suspect" and "spike" in with_context["qc_note"][0]
    assert len(with_context) == len(today) and with_context["value"].tolist() == today["value"].tolist()


def test_a_flat_line_across_midnight_is_found_with_the_context():
    # NH3-N flat-line count is 4 (qc_parameters.csv): two equal readings either side of midnight
    yesterday = _series("nh3n", [0.40, 0.5, 0.5], start="2026-11-19 12:00")
    today = _series("nh3n", [0.5, 0.5, 0.44], start="2026-11-20 00:00")
    assert (qc.apply(today, NOW)["qc_flag"] == "good").all()
    flagged = qc.apply(today, NOW, context=yesterday)
    assert flagged["qc_flag"].tolist() == ["suspect", "suspect", "good"]
    assert all("flat line" in note for note in flagged["qc_note"][:2])


def test_surface_and_bottom_samples_are_separate_series():
    # surface about 0.4, bottom about 4 at the same times. As one series the layers would alternate
    # and look like spikes (NH3-N spike threshold 2 mg/L); as two they are steady.
    times = pd.date_range("2026-11-20 08:00", periods=3, freq="4h", tz="Asia/Shanghai")
    frame = conform(pd.DataFrame({
        "station_id": "maowei-01", "parameter": "nh3n", "observed_at": list(times) * 2, "utc_offset_minutes": 480,
        "averaging_period": "PT0S", "value": [0.4, 0.41, 0.42, 4.0, 4.1, 4.2], "unit": "mg/L",
        "qc_flag": "not_evaluated", "qc_note": "", "source": "coastal", "batch_id": "b",
        "original_value": "x", "layer": ["surface"] * 3 + ["bottom"] * 3}))
    assert (qc.apply(frame, NOW)["qc_flag"] == "good").all()
