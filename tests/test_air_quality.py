"""Worked examples for HJ 633-2012, GB 3095-2012 validity and HJ 663-2013 statistics."""
import numpy as np
import pandas as pd
import pytest

from pipelines.assessment import air_quality


def test_hourly_aqi_uses_1h_breakpoints_for_gases_and_24h_for_particles():
    result = air_quality.hourly_aqi({"so2": 5, "no2": 20, "co": 0.7, "o3": 60, "pm10": 61, "pm2_5": 30})
    # PM10 61 against 24-h breakpoints: 50 + 50 × 11/100 = 55.5 → 56 (rounded up)
    assert result.sub_indices["pm10"] == 56 and result.aqi == 56
    assert result.primary_pollutants == ["pm10"] and result.level == "二级" and result.category == "良"
    # NO2 20 against 1-h breakpoints (100 → 50): 10
    assert result.sub_indices["no2"] == 10


def test_no_primary_pollutant_at_or_below_50():
    result = air_quality.hourly_aqi({"pm2_5": 35, "pm10": 20})
    assert result.aqi == 50 and result.primary_pollutants == []


def test_ties_name_every_primary_pollutant():
    result = air_quality.hourly_aqi({"pm2_5": 75, "pm10": 150})
    assert result.aqi == 100 and set(result.primary_pollutants) == {"pm2_5", "pm10"}


def test_so2_above_800_in_the_hour_takes_the_24h_value():
    result = air_quality.hourly_aqi({"so2": 900, "so2_24h": 150})
    assert result.sub_indices["so2"] == 100 and "24-h" in result.notes[0]
    assert "so2" not in air_quality.hourly_aqi({"so2": 900}).sub_indices


def test_daily_aqi_takes_the_larger_o3_index_and_skips_8h_above_800():
    result = air_quality.daily_aqi({"pm2_5": 80, "o3": 150, "o3_8h": 170})
    assert result.sub_indices["pm2_5"] == 107          # 106.25 rounded up
    assert result.sub_indices["o3"] == 110             # 8-h: 100 + 50 × 10/55 = 109.1 → 110
    assert result.exceeding_pollutants == ["pm2_5", "o3"] and result.category == "轻度污染"
    over = air_quality.daily_aqi({"o3": 900, "o3_8h": 850})
    assert over.sub_indices["o3"] == 350 and over.notes      # 1-h: 300 + 100 × 100/200


def test_concentrations_are_rounded_before_the_lookup():
    assert air_quality.rounded_concentration("co", 4.25) == 4.2     # 0.1 mg/m³, half to even
    assert air_quality.rounded_concentration("pm2_5", 74.5) == 74.0


def test_daily_mean_needs_20_hours():
    hours = pd.Series([10.0] * 19 + [np.nan] * 5)
    assert air_quality.daily_mean(hours) is None
    assert air_quality.daily_mean(pd.Series([10.0] * 20 + [np.nan] * 4)) == 10.0


def test_o3_8h_mean_needs_6_of_8_hours():
    hours = pd.Series([100.0] * 5 + [np.nan] * 3, index=pd.date_range("2026-07-01 01:00", periods=8, freq="h"))
    assert pd.isna(air_quality.o3_8h_moving_means(hours).iloc[-1])
    hours.iloc[5] = 140.0
    assert air_quality.o3_8h_moving_means(hours).iloc[-1] == pytest.approx(640 / 6)


def test_hj663_percentile_worked_example():
    assert air_quality.percentile([2, 3, 4, 4, 5, 8], 90) == pytest.approx(6.5)   # standards.md §4.3
    assert air_quality.percentile([1, 2, 3, 4, 5], 95) == pytest.approx(np.percentile([1, 2, 3, 4, 5], 95))


def test_annual_validity_counts_days_per_month():
    days = pd.date_range("2026-01-01", "2026-12-31", freq="D")
    full = pd.Series(30.0, index=days)
    assert air_quality.annual_is_valid(full)
    thin_february = full.drop(full[(full.index.month == 2) & (full.index.day > 24)].index)  # 24 days in February
    assert not air_quality.annual_is_valid(thin_february)


def test_annual_assessment_and_composite_index():
    days = pd.date_range("2026-01-01", "2026-12-31", freq="D")
    daily = pd.DataFrame({"so2": 12.0, "no2": 20.0, "pm10": 56.0, "pm2_5": 28.0, "co": 0.8, "o3_8h": 96.0}, index=days)
    result = air_quality.annual_assessment(daily)
    assert result.valid and all(result.compliant.values())
    # Σ C/S = 12/60 + 20/40 + 56/70 + 28/35 + 0.8/4 + 96/160 = 0.2 + 0.5 + 0.8 + 0.8 + 0.2 + 0.6
    assert result.composite_index == pytest.approx(3.1)
    assert result.composite_primary in {"pm10", "pm2_5"}
    polluted = daily.assign(pm2_5=40.0)
    assert air_quality.annual_assessment(polluted).compliant["pm2_5"] is False   # annual mean above 35
