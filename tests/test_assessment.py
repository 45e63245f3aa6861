import json
from datetime import date, datetime, timezone

import pandas as pd
import pytest

from pipelines.assessment import daily, seawater, surface_water

DAY = date(2026, 11, 20)


def test_single_factor_class_is_the_worst_indicator():
    verdict = surface_water.classify({"ph": 7.5, "do": 6.5, "codmn": 3.0, "nh3n": 1.2, "tp": 0.08},
                                                "river", "Ⅲ")
    assert verdict.water_class == "Ⅳ"  # NH3-N 1.2 is class IV; the rest are class II or better
    assert verdict.parameter_classes["do"] == "Ⅱ"
    assert [f.parameter for f in verdict.failing] == ["nh3n"]
    assert verdict.failing[0].multiple_vs_target == pytest.approx(0.2)      # (1.2 − 1.0) / 1.0
    assert verdict.failing[0].multiple_vs_class_iii == pytest.approx(0.2)


def test_multiples_are_computed_against_the_target_and_class_iii():
    verdict = surface_water.classify({"nh3n": 0.9}, "river", "Ⅱ")
    failing = verdict.failing[0]
    assert failing.multiple_vs_target == pytest.approx(0.8)   # (0.9 − 0.5) / 0.5: Shaoguan's 超Ⅱ类 style
    assert failing.multiple_vs_class_iii is None              # within class III


def test_reported_only_items_do_not_class_a_section():
    verdict = surface_water.classify({"water_temp": 30, "tn": 5.0, "fecal_coliform": 90000, "ph": 7})
    assert verdict.water_class == "Ⅰ" and set(verdict.parameter_classes) == {"ph"}


def test_nothing_measured_is_not_a_class():
    assert not surface_water.classify({"water_temp": 20}).is_assessed


def test_seawater_point_class():
    verdict = seawater.classify({"din": 0.35, "phosphate": 0.02, "ph": 8.1, "do": 6.5}, "二类")
    assert verdict.water_class == "三类"
    assert verdict.failing == ["din"]


def _observation(station_id, parameter, value, flag="not_evaluated", hour=0):
    return {"station_id": station_id, "parameter": parameter, "value": value, "qc_flag": flag,
            "observed_at": datetime(2026, 11, 20, hour, tzinfo=timezone.utc)}


def test_daily_assessment_uses_means_of_the_assessable_values():
    observations = pd.DataFrame([
        *[_observation("nanliu-hengtang", "nh3n", v, hour=h) for v, h in ((0.8, 0), (1.6, 4), (0.8, 8), (1.6, 12))],
        *[_observation("nanliu-hengtang", "do", 6.2, hour=h) for h in (0, 4, 8, 12)],
        *[_observation("nanliu-hengtang", "tp", 0.9, hour=h) for h in (0, 4, 8)],  # 3 readings: below the day rule
    ])
    # which QC flags enter is the nightly run's choice, tested through its steps in test_nightly.py
    rows = {r["station_id"]: r for r in daily.assess_surface_water_day(observations, DAY)}
    hengtang = rows["nanliu-hengtang"]
    assert hengtang["water_class"] == "Ⅳ"          # mean NH3-N 1.2; TP left out
    assert hengtang["is_compliant"] is False and hengtang["is_cross_boundary"] is True
    assert hengtang["values_used"] == 8
    assert json.loads(hengtang["failing_parameters"])[0]["multiple_vs_target"] == pytest.approx(0.2)
    assert hengtang["grade"] == "轻度污染"


def test_every_registry_section_gets_a_row_even_without_data():
    rows = daily.assess_surface_water_day(pd.DataFrame(columns=["station_id", "parameter", "value", "qc_flag"]), DAY)
    assert rows and all(r["status"] == "insufficient data" and r["water_class"] is None for r in rows)


def _air_hours(station_id, parameter, values):
    start = pd.Timestamp("2026-11-20 01:00", tz="Asia/Shanghai")
    return [{"station_id": station_id, "parameter": parameter, "value": v, "qc_flag": "not_evaluated",
             "averaging_period": "PT1H", "observed_at": (start + pd.Timedelta(hours=i)).tz_convert("UTC")}
            for i, v in enumerate(values)]


def test_daily_air_assessment_from_hourly_values():
    observations = pd.DataFrame(_air_hours("1401A", "pm2_5", [80.0] * 24) + _air_hours("1401A", "o3", [100.0] * 24)
                                + _air_hours("1402A", "pm2_5", [80.0] * 19))   # 19 hours: not a valid day
    rows = {r["station_id"]: r for r in daily.assess_air_day(observations, DAY)}
    # 24-h mean 80 on 2026-11-20, under HJ 633—2026: 100 + 50 × 20/55 = 118.2 → 119 (107 under HJ 633-2012)
    assert rows["1401A"]["aqi"] == 119 and rows["1401A"]["primary_pollutants"] == "pm2_5"
    assert rows["1401A"]["is_compliant"] is False and rows["1401A"]["grade"] == "轻度污染"
    assert rows["1402A"]["status"] == "insufficient data" and rows["1402A"]["aqi"] is None


def test_a_drinking_water_source_fails_on_a_table_2_item():
    observations = pd.DataFrame([
        {**_observation("hepu-reservoir", "nh3n", 0.2), "source": "lab"},
        {**_observation("hepu-reservoir", "mn", 0.15), "source": "lab"},     # Table 2 limit 0.1
    ])
    row = {r["station_id"]: r for r in daily.assess_surface_water_day(observations, DAY)}["hepu-reservoir"]
    assert row["water_class"] == "Ⅱ" and row["is_compliant"] is False
    assert json.loads(row["failing_parameters"])[0]["parameter"] == "mn"
