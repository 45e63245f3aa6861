"""Worked examples for HJ 633 (2012 and 2026), GB 3095 validity and limits (2012 and 2026 phases) and
HJ 663 statistics, on both sides of 2026-03-01."""
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.assessment import air_quality, daily, rollups
from pipelines.reference import standards

LOW_GASES = {"so2": 5, "no2": 20, "co": 0.7, "o3": 60}   # sub-indices 2, 10, 7, 19: never the AQI here
LAST_2012_HOUR = "2026-02-28T23:00:00+08:00"    # 22:00–23:00 on 02-28
FIRST_2026_HOUR = "2026-03-01T00:00:00+08:00"   # 23:00–24:00 on 02-28: labelled by its end, under HJ 633—2026
SECOND_2026_HOUR = "2026-03-01T01:00:00+08:00"


def test_hourly_aqi_uses_1h_breakpoints_for_gases_and_24h_for_particles():
    result = air_quality.hourly_aqi({"so2": 5, "no2": 20, "co": 0.7, "o3": 60, "pm10": 61, "pm2_5": 30}, LAST_2012_HOUR)
    # PM10 61 against 24-h breakpoints: 50 + 50 × 11/100 = 55.5 → 56 (rounded up)
    assert result.sub_indices["pm10"] == 56 and result.aqi == 56
    assert result.primary_pollutants == ["pm10"] and result.level == "二级" and result.category == "良"
    # NO2 20 against 1-h breakpoints (100 → 50): 10
    assert result.sub_indices["no2"] == 10


# Hand-worked: PM2.5 against 0/35/75/115/150 (HJ 633-2012) and 0/35/60/115/150 (HJ 633—2026).
#   60: 50 + 50·25/40 = 81.25 → 82      | 100 (on the new breakpoint)
#   61: 50 + 50·26/40 = 82.5 → 83       | 100 + 50·1/55 = 100.9 → 101
#   75: 100 (on the old breakpoint)     | 100 + 50·15/55 = 113.6 → 114
#  120: 150 + 50·5/35 = 157.1 → 158     | the same segment: 158
#  150: 200                             | 200
@pytest.mark.parametrize("pm2_5, before, after", [(60, 82, 100), (61, 83, 101), (75, 100, 114), (120, 158, 158),
                                                  (150, 200, 200)])
def test_pm2_5_hours_on_both_sides_of_2026_03_01(pm2_5, before, after):
    values = {**LOW_GASES, "pm10": 20, "pm2_5": pm2_5}
    assert air_quality.hourly_aqi(values, LAST_2012_HOUR).aqi == before
    assert air_quality.hourly_aqi(values, FIRST_2026_HOUR).aqi == after
    assert air_quality.hourly_aqi(values, SECOND_2026_HOUR).aqi == after
    assert air_quality.hourly_aqi(values, FIRST_2026_HOUR).primary_pollutants == ["pm2_5"]


# Hand-worked: PM10 against 0/50/150/250 (2012) and 0/50/120/250 (2026).
#   60: 50 + 50·10/100 = 55            | 50 + 50·10/70 = 57.1 → 58
#   61: 55.5 → 56                       | 50 + 50·11/70 = 57.9 → 58
#   75: 62.5 → 63                       | 50 + 50·25/70 = 67.9 → 68
#  120: 85                              | 100 (on the new breakpoint)
#  150: 100                             | 100 + 50·30/130 = 111.5 → 112
@pytest.mark.parametrize("pm10, before, after", [(60, 55, 58), (61, 56, 58), (75, 63, 68), (120, 85, 100),
                                                 (150, 100, 112)])
def test_pm10_hours_on_both_sides_of_2026_03_01(pm10, before, after):
    values = {**LOW_GASES, "pm10": pm10, "pm2_5": 10}
    assert air_quality.hourly_aqi(values, LAST_2012_HOUR).aqi == before
    assert air_quality.hourly_aqi(values, FIRST_2026_HOUR).aqi == after


def test_an_hour_names_the_standards_it_was_computed_under():
    before = air_quality.hourly_aqi({**LOW_GASES, "pm10": 20, "pm2_5": 75}, LAST_2012_HOUR)
    after = air_quality.hourly_aqi({**LOW_GASES, "pm10": 20, "pm2_5": 75}, FIRST_2026_HOUR)
    assert before.standard.startswith("HJ 633-2012") and after.standard.startswith("HJ 633—2026")
    assert (before.category, after.category) == ("良", "轻度污染")
    assert after.exceeding_pollutants == ["pm2_5"] and before.exceeding_pollutants == []


def test_no_primary_pollutant_at_or_below_50():
    result = air_quality.hourly_aqi({**LOW_GASES, "pm2_5": 35, "pm10": 20}, FIRST_2026_HOUR)
    assert result.aqi == 50 and result.primary_pollutants == []


def test_ties_are_decided_on_the_integer_sub_indices():
    result = air_quality.hourly_aqi({**LOW_GASES, "pm2_5": 75, "pm10": 150}, LAST_2012_HOUR)
    assert result.aqi == 100 and set(result.primary_pollutants) == {"pm2_5", "pm10"}
    # 2026: PM2.5 60 → 100 and PM10 120 → 100; PM10 121 → 100.4, which rounds up to 101 and wins alone
    assert set(air_quality.hourly_aqi({**LOW_GASES, "pm2_5": 60, "pm10": 120}, FIRST_2026_HOUR).primary_pollutants) \
        == {"pm2_5", "pm10"}
    assert air_quality.hourly_aqi({**LOW_GASES, "pm2_5": 60, "pm10": 121}, FIRST_2026_HOUR).primary_pollutants == ["pm10"]


def test_an_hour_missing_a_required_pollutant_has_an_aqi_only_above_100():
    # the feed's availability rule (aqi_conventions.csv): SO2, NO2, CO, O3 and PM2.5 required
    missing_so2 = {"no2": 20, "co": 0.7, "o3": 60, "pm10": 20}
    withheld = air_quality.hourly_aqi({**missing_so2, "pm2_5": 60}, FIRST_2026_HOUR)     # the others give 100
    assert withheld.aqi is None and withheld.sub_indices["pm2_5"] == 100 and "so2" in withheld.notes[0]
    assert air_quality.hourly_aqi({**missing_so2, "pm2_5": 61}, FIRST_2026_HOUR).aqi == 101
    # with only PM10 missing, the AQI comes from the other five
    assert air_quality.hourly_aqi({**LOW_GASES, "pm2_5": 30}, FIRST_2026_HOUR).aqi == 43


def test_so2_above_800_in_the_hour_takes_the_24h_value():
    result = air_quality.hourly_aqi({**LOW_GASES, "pm10": 20, "pm2_5": 10, "so2": 900, "so2_24h": 150}, FIRST_2026_HOUR)
    assert result.sub_indices["so2"] == 100 and "24-h" in result.notes[0]
    assert "so2" not in air_quality.hourly_aqi({"so2": 900}).sub_indices


def test_daily_aqi_takes_the_larger_o3_index_and_skips_8h_above_800():
    result = air_quality.daily_aqi({"pm2_5": 80, "o3": 150, "o3_8h": 170}, date(2026, 2, 28))
    assert result.sub_indices["pm2_5"] == 107          # 106.25 rounded up
    assert result.sub_indices["o3"] == 110             # 8-h: 100 + 50 × 10/55 = 109.1 → 110
    assert result.exceeding_pollutants == ["pm2_5", "o3"] and result.category == "轻度污染"
    over = air_quality.daily_aqi({"o3": 900, "o3_8h": 850}, date(2026, 2, 28))
    assert over.sub_indices["o3"] == 350 and over.notes      # 1-h: 300 + 100 × 100/200


def test_daily_aqi_uses_the_breakpoints_of_its_day():
    # a PM2.5 24-h mean of 70: 50 + 50·35/40 = 93.75 → 94 on 02-28 (a good day); 100 + 50·10/55 → 110 on 03-01
    assert air_quality.daily_aqi({"pm2_5": 70}, date(2026, 2, 28)).aqi == 94
    assert air_quality.daily_aqi({"pm2_5": 70}, date(2026, 3, 1)).aqi == 110
    assert air_quality.is_good_day(94, date(2026, 2, 28)) and not air_quality.is_good_day(110, date(2026, 3, 1))


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


def _year(year: int, **values) -> pd.DataFrame:
    days = pd.date_range(f"{year}-01-01", f"{year}-12-31", freq="D")
    return pd.DataFrame({"so2": 12.0, "no2": 20.0, "pm10": 56.0, "pm2_5": 28.0, "co": 0.8, "o3_8h": 96.0, **values},
                        index=days)


def test_annual_assessment_and_composite_index_under_gb3095_2012():
    result = air_quality.annual_assessment(_year(2025))
    assert result.valid and all(result.compliant.values())
    # Σ C/S = 12/60 + 20/40 + 56/70 + 28/35 + 0.8/4 + 96/160 = 0.2 + 0.5 + 0.8 + 0.8 + 0.2 + 0.6
    assert result.composite_index == pytest.approx(3.1)
    assert result.composite_primary in {"pm10", "pm2_5"}
    assert air_quality.annual_assessment(_year(2025, pm2_5=40.0)).compliant["pm2_5"] is False   # above 35
    assert result.standard == "HJ 633-2012; GB 3095-2012; HJ 663-2013"


def test_pm2_5_at_32_fails_in_2026_against_30_and_would_have_passed_against_35():
    year_2026 = air_quality.annual_assessment(_year(2026, pm2_5=32.0))
    assert year_2026.limits["pm2_5"] == {"percentile": 60.0, "mean": 30.0}   # GB 3095—2026 phase 1
    assert year_2026.means["pm2_5"] == pytest.approx(32.0) and year_2026.compliant["pm2_5"] is False
    assert year_2026.is_compliant is False and year_2026.rules_from == date(2026, 12, 31)
    assert year_2026.standard.startswith("HJ 633—2026; GB 3095—2026 phase 1")
    # January and February 2026 were under the 2012 rules: the year follows its last day, and says so
    assert "HJ 633-2012" in year_2026.notes[0]
    # the same concentrations in 2025, under GB 3095-2012 (35/75): compliant
    year_2025 = air_quality.annual_assessment(_year(2025, pm2_5=32.0))
    assert year_2025.limits["pm2_5"] == {"percentile": 75.0, "mean": 35.0}
    assert year_2025.compliant["pm2_5"] is True and year_2025.is_compliant is True
    # the composite index divides by the limit in force: 32/30 in 2026
    assert year_2026.composite_index - year_2025.composite_index == pytest.approx(32 / 30 - 32 / 35)


def test_the_24h_percentile_is_judged_against_60_in_2026():
    days = _year(2026, pm2_5=25.0)
    days.iloc[:30, days.columns.get_loc("pm2_5")] = 70.0  # 30 days at 70: the 95th percentile is 70
    result = air_quality.annual_assessment(days)
    assert result.percentiles["pm2_5"] == pytest.approx(70.0) and result.compliant["pm2_5"] is False
    assert air_quality.annual_assessment(days.set_axis(_year(2025).index)).compliant["pm2_5"] is True   # ≤ 75


def test_a_phase_2_year_is_refused_while_its_pm10_so2_no2_limits_are_unknown():
    with pytest.raises(standards.RuleRefused, match="GB 3095—2026 phase 2"):
        air_quality.annual_assessment(_year(2031))
    # PM2.5 alone is known in phase 2: 25 µg/m³
    assert air_quality.annual_assessment(_year(2031)[["pm2_5"]]).limits["pm2_5"]["mean"] == 25.0


def test_a_city_day_is_the_mean_of_its_stations():
    stations = pd.DataFrame({"day": [date(2026, 3, 1)] * 2 + [date(2026, 3, 2)],
                             "station_id": ["a", "b", "a"], "pm2_5": [30.0, 40.0, np.nan], "so2": [5.0, 7.0, 6.0]})
    city = air_quality.city_daily_values(stations)
    assert city.loc["2026-03-01", "pm2_5"] == 35.0 and pd.isna(city.loc["2026-03-02", "pm2_5"])
    assert city.loc["2026-03-02", "so2"] == 6.0


def _flat_day(day: date, pm2_5: float) -> dict[str, pd.Series]:
    return {code: pd.Series([value] * 24) for code, value in
            {"so2": 5.0, "no2": 20.0, "co": 0.7, "o3": 60.0, "pm10": 20.0, "pm2_5": pm2_5}.items()}


def test_a_month_spanning_2026_03_01_counts_each_day_under_its_own_rules():
    # 2026-02-15 … 2026-03-14 at a PM2.5 24-h mean of 70 µg/m³: AQI 94 (good) on each February day,
    # 110 (exceedance) from 03-01 (period_changeover.csv, air/month: split)
    span = pd.date_range("2026-02-15", "2026-03-14", freq="D").date
    rows = pd.DataFrame([daily.air_day_row("1401A", day, _flat_day(day, 70.0), 144) for day in span])
    assert rows.set_index("period_start").loc[date(2026, 2, 28), "aqi"] == 94
    assert rows.set_index("period_start").loc[date(2026, 3, 1), "aqi"] == 110
    counted = rollups.air_days(rows, span[0], span[-1]).iloc[0]
    assert (counted["days_assessed"], counted["good_days"], counted["exceedance_days"]) == (28, 14, 14)
    before, after = standards.rule_version("air", date(2026, 2, 28)), standards.rule_version("air", date(2026, 3, 1))
    assert counted["rule_versions"] == f"{before.id}: 14; {after.id}: 14"
    assert counted["standards"] == f"{before.label}; {after.label}"


def test_a_day_row_records_its_rule_version_and_standard():
    row = daily.air_day_row("1401A", date(2026, 3, 1), _flat_day(date(2026, 3, 1), 70.0), 144)
    assert row["rule_version"] == standards.rule_version("air", date(2026, 3, 1)).id
    assert row["standard"].startswith("HJ 633—2026") and row["is_compliant"] is False
    earlier = daily.air_day_row("1401A", date(2026, 2, 28), _flat_day(date(2026, 2, 28), 70.0), 144)
    assert earlier["standard"] == "HJ 633-2012; GB 3095-2012; HJ 663-2013" and earlier["is_compliant"] is True


def _hours_of(day: date, station_id: str, pm2_5: float) -> list[dict]:
    start = pd.Timestamp(day, tz="Asia/Shanghai") + pd.Timedelta(hours=1)   # hour ends 01:00 … 24:00
    return [{"station_id": station_id, "parameter": code, "value": value, "qc_flag": "not_evaluated",
             "averaging_period": "PT1H", "observed_at": (start + pd.Timedelta(hours=h)).tz_convert("UTC")}
            for h in range(24) for code, value in {**LOW_GASES, "pm10": 20.0, "pm2_5": pm2_5}.items()]


def test_a_city_year_is_made_from_its_stations_days():
    from pipelines.assessment import air_annual

    observations = {day: pd.DataFrame(_hours_of(day, "1401A", 28.0) + _hours_of(day, "1402A", 36.0))
                    for day in (date(2026, 2, 28), date(2026, 3, 1))}
    days = air_annual.station_days(observations.__getitem__, ["1401A", "1402A"], date(2026, 2, 28), date(2026, 3, 1))
    assert len(days) == 4 and set(days["pm2_5"]) == {28.0, 36.0}
    city = air_quality.city_daily_values(days)
    assert city["pm2_5"].tolist() == [32.0, 32.0]
    # the city's mean of 32 fails the 2026 limit (30) and would have passed the 2012 one (35)
    assert air_quality.annual_assessment(city, 2026).compliant["pm2_5"] is False
    assert air_quality.annual_assessment(city.set_axis(pd.DatetimeIndex(["2025-02-28", "2025-03-01"])), 2025) \
        .compliant["pm2_5"] is True
    assert air_annual.city_stations("南宁市")[:2] == ["1401A", "1402A"]


# --- the set-based day assessment (issue 27) held equal to the one-series rules ----------------

def _reference_daily_aqi(values: dict, day) -> tuple:
    """HJ 633 daily AQI one pollutant at a time, as daily_aqi was written before issue 27: each
    value rounded and looked up alone, O3 8-h over the table leaving the 1-h index."""
    sub = {}
    for code, period in air_quality._breakpoint_periods("daily_breakpoints", day).items():
        if values.get(code) is None:
            continue
        index = standards.iaqi("o3" if code == "o3_8h" else code, period,
                               air_quality.rounded_concentration(code, values[code], day), day)
        if index is not None:
            sub[code] = index
    if "o3_8h" in sub:
        sub["o3"] = max(sub.pop("o3_8h"), sub.get("o3", 0))
    if not sub:
        return None, [], []
    aqi = max(sub.values())
    primary = [c for c, v in sub.items() if v == aqi] if aqi > 50 else []
    return aqi, primary, sorted(sub)


def _reference_day(hourly: dict[str, pd.Series], day) -> dict:
    """The day's statistics by the pandas rules, one series at a time (daily_mean,
    o3_8h_daily_max, the O3 1-h maximum)."""
    values = {code: air_quality.daily_mean(series, day) for code, series in hourly.items() if code != "o3"}
    o3 = hourly["o3"].dropna()
    values["o3"] = float(o3.max()) if len(o3) >= air_quality.validity(day)["daily_mean"] else None
    values["o3_8h"] = air_quality.o3_8h_daily_max(hourly["o3"], at=day)
    return values


def _real_days_with_gaps(first: date, last: date) -> pd.DataFrame:
    """The real Beibu hours of [first, last], one in eight left out, and three in ten O3 and CO values
    given a decimal (the feed's are whole): the sums then round differently if summed differently."""
    from datetime import datetime

    from pipelines.observations import conform, with_partition_day
    from pipelines.sources import files
    from tests.conftest import FORMATS

    parsed = files.parse_file("cnemc-air", FORMATS / "cnemc-air" / "beibu6-hourly-2026-03-01-to-03-28.csv",
                              datetime(2026, 3, 29))
    frame = with_partition_day(conform(parsed.observations))
    frame = frame[(frame["partition_day"] >= first) & (frame["partition_day"] <= last)]
    rng = np.random.default_rng(27)
    frame = frame[rng.random(len(frame)) > 0.125]
    decimal = frame["parameter"].isin(["o3", "co"]).to_numpy() & (rng.random(len(frame)) < 0.3)
    return frame.assign(value=np.where(decimal, frame["value"] + np.round(rng.random(len(frame)), 1), frame["value"]))


def test_the_rolling_8h_means_are_pandas_to_the_last_bit():
    rng = np.random.default_rng(8)
    rows = np.vstack([np.round(row, decimals) for row, decimals in zip(rng.random((3000, 24)) * 300,
                                                                       rng.integers(0, 4, 3000))])
    rows[rng.random((3000, 24)) < rng.random((3000, 1)) * 0.6] = np.nan
    rows[:200] = np.where(np.isnan(rows[:200]), np.nan, 77.3)      # one repeated value (pandas snaps to it)
    rows[200:300] *= -1                                            # all negative
    means, counts = air_quality.rolling_means_8h(rows)
    for row, mean, count in zip(rows, means, counts):
        series = pd.Series(row).rolling(8, min_periods=1)
        np.testing.assert_array_equal(mean, series.mean().to_numpy())
        np.testing.assert_array_equal(count, series.count().to_numpy())


def test_the_set_based_air_days_are_the_one_series_rules_on_the_real_sample():
    # 2026-02-27 … 03-03: both rule versions (HJ 633-2012 until 02-28, HJ 633—2026 from 03-01)
    frame = _real_days_with_gaps(date(2026, 2, 27), date(2026, 3, 3))
    days = sorted(set(frame["partition_day"]))
    many = daily.assess_air_days(frame, days)
    rows = pd.DataFrame(many).set_index(["period_start", "station_id"])
    stations = list(rows.index.get_level_values("station_id").unique())
    grid = daily.hourly_grid(frame, stations, days)
    statistics = air_quality.daily_statistics(grid, days)
    checked = {"assessed": 0, "insufficient data": 0}
    for d, day in enumerate(days):
        for s, station in enumerate(stations):
            hourly = {code: pd.Series(grid[s, d, p]) for p, code in enumerate(air_quality.POLLUTANTS)}
            expected = _reference_day(hourly, day)
            got = {code: (None if np.isnan(column[s, d]) else float(column[s, d])) for code, column in statistics.items()}
            assert got == expected, (station, day)                  # equal to the last bit, None where not valid
            aqi, primary, indicators = _reference_daily_aqi(expected, day)
            row = rows.loc[(day, station)]
            assert (row["aqi"] if row["aqi"] is not None and not pd.isna(row["aqi"]) else None) == aqi
            assert row["primary_pollutants"] == ";".join(primary) and row["indicators_assessed"] == ";".join(indicators)
            assert row["status"] == ("assessed" if aqi is not None else "insufficient data")
            assert row["rule_version"] == standards.rule_version("air", day).id
            checked[row["status"]] += 1
    assert checked["assessed"] >= 60 and checked["insufficient data"] > 0, checked
    # the one-day function gives each day's rows (the nightly's path)
    for day in days:
        one_day = daily.assess_air_day(frame[frame["partition_day"] == day].drop(columns="partition_day"), day)
        assert one_day == [row for row in many if row["period_start"] == day]
