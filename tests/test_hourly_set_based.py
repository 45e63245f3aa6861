"""Issue 27: the real-time AQI of many hours at once (air_quality.hourly_aqis, and through it
published.compare_published and air_agreement) is the hour-by-hour rule, row for row.

The reference below is hourly_aqi as it was written before issue 27, one hour at a time (each value
rounded and looked up alone, the rule version looked up per value); hourly_aqi itself is now one
hour of hourly_aqis. Checked on the real Beibu sample under both rule versions in one call (each
hour under the rules at its own end: HJ 633-2012 to the hour labelled 02-28T23, HJ 633—2026 from
03-01T00), with gaps, on every HJ 633 breakpoint of both versions and one rounding step either side,
with required pollutants missing (the availability rule), SO2 over 800 with and without a 24-h value,
and hours with nothing."""
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from pipelines.assessment import air_quality
from pipelines.clock import BUREAU_TZ
from pipelines.quality import published
from pipelines.reference import standards
from tests.conftest import real_data

BEIBU_MARCH_2026 = "cnemc-air/beibu6-hourly-2026-03-01-to-03-28.csv"
LAST_2012_HOUR = datetime(2026, 2, 28, 23, tzinfo=BUREAU_TZ)
FIRST_2026_HOUR = datetime(2026, 3, 1, 0, tzinfo=BUREAU_TZ)


def _reference_hourly_aqi(values: dict, at=None) -> air_quality.AqiResult:
    """hourly_aqi as written before issue 27 (verbatim): one hour, one value at a time."""
    sub, notes = {}, []
    for code, period in air_quality._breakpoint_periods("hourly_breakpoints", at).items():
        value = air_quality._present(values, code)
        if value is None:
            continue
        index = standards.iaqi(code, period, air_quality.rounded_concentration(code, value, at), at)
        if index is None and code == "so2":
            fallback = air_quality._present(values, "so2_24h")
            notes.append("SO2 1-h above 800: sub-index from the 24-h value" if fallback is not None
                         else "SO2 1-h above 800 and no 24-h value: SO2 not indexed")
            if fallback is not None:
                index = standards.iaqi("so2", "PT24H", air_quality.rounded_concentration("so2", fallback, at), at)
        if index is not None:
            sub[code] = index
    result = air_quality._result(sub, notes, at)
    missing = [code for code in air_quality._list_rule("hourly_required_pollutants", at)
               if air_quality._present(values, code) is None]
    threshold = air_quality._number_rule("hourly_incomplete_above_aqi", at)
    if missing and result.aqi is not None and result.aqi <= threshold:
        withheld = air_quality._result({}, notes + [f"no AQI: {', '.join(missing)} missing and the others give "
                                                    f"{result.aqi} (≤ {threshold}; aqi_conventions.csv "
                                                    "hourly_required_pollutants)"], at)
        withheld.sub_indices = sub
        return withheld
    return result


def _same(got: air_quality.AqiResult, expected: air_quality.AqiResult) -> bool:
    """Equal in every field, the sub-indices in the same order (the calculator prints them in it)."""
    return got == expected and list(got.sub_indices.items()) == list(expected.sub_indices.items())


def _hours(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {code: pd.to_numeric(frame[code], errors="coerce").to_numpy(dtype=float) for code in air_quality.POLLUTANTS}


def _one(columns: dict[str, np.ndarray], i: int) -> dict:
    return {code: float(column[i]) for code, column in columns.items() if not np.isnan(column[i])}


@pytest.fixture(scope="module")
def beibu_hours():
    """The real sample's hours twice: at their own ends (HJ 633—2026) and 14 days earlier (02-15 …
    03-14: both versions), one value in eight left out (the availability rule then withholds some)."""
    frame = pd.read_csv(real_data(BEIBU_MARCH_2026), dtype=str, keep_default_na=False)
    ends = [datetime.strptime(t, "%Y-%m-%dT%H%M").replace(tzinfo=BUREAU_TZ) for t in frame["timepoint"]]
    columns = _hours(frame)
    rng = np.random.default_rng(27)
    gapped = {code: np.where(rng.random(len(frame)) < 0.125, np.nan, column) for code, column in columns.items()}
    both = {code: np.concatenate([columns[code], gapped[code]]) for code in columns}
    return both, ends + [end - timedelta(days=14) for end in ends]


@pytest.mark.real_data
def test_every_hour_of_the_real_sample_under_both_versions_is_the_hour_by_hour_rule(beibu_hours):
    columns, ends = beibu_hours
    many = air_quality.hourly_aqis(columns, ends)
    versions, withheld = {}, 0
    for i, end in enumerate(ends):
        expected = _reference_hourly_aqi(_one(columns, i), end)
        got = many.result(i)
        assert _same(got, expected), (i, end, got, expected)
        versions[expected.rule_version] = versions.get(expected.rule_version, 0) + 1
        withheld += expected.aqi is None and bool(expected.sub_indices)
    # both versions, each hour under its own: the hour labelled 03-01T00 (the last of 02-28) under 2026
    assert set(versions) == {standards.rule_version("air", LAST_2012_HOUR).id,
                             standards.rule_version("air", FIRST_2026_HOUR).id}
    assert min(versions.values()) > 5000 and withheld > 100, (versions, withheld)


def _breakpoint_hours(at) -> list[dict]:
    """Each hourly pollutant on every breakpoint of the version in force at `at` and one rounding
    step either side, the others low; then the same hour without each required pollutant."""
    hours = []
    low = {"so2": 5.0, "no2": 20.0, "co": 0.7, "o3": 60.0, "pm10": 20.0, "pm2_5": 10.0}
    table = standards.aqi_breakpoints(at)
    rounding = air_quality._concentration_decimals(standards.version_start("aqi_concentration_rounding", at))
    for code, period in air_quality._breakpoint_periods("hourly_breakpoints", at).items():
        row = table[(table["code"] == code) & (table["period"] == period)].iloc[0]
        step = 10.0 ** -rounding[code]
        for level in standards.AQI_LEVELS:
            point = row[f"iaqi_{level}"]
            if pd.isna(point):
                continue
            for value in (point - step, point - step / 2, point, point + step / 2, point + step):
                if value >= 0:
                    hours.append({**low, code: value})
    # the availability rule on both sides of its threshold: without each required pollutant, the others
    # giving exactly the AQI of 100 (a particle on its IAQI-100 breakpoint) and just above it
    for missing in air_quality._list_rule("hourly_required_pollutants", at):
        particle = "pm10" if missing == "pm2_5" else "pm2_5"
        point = table[(table["code"] == particle) & (table["period"] == "PT24H")].iloc[0]["iaqi_100"]
        for value in (point, point + 1):
            hours.append({c: v for c, v in {**low, particle: value}.items() if c != missing})
    hours += [{**low, "so2": 900.0, "so2_24h": 150.0}, {**low, "so2": 900.0}, {"so2": 801.0},
              {"so2": 800.0, "so2_24h": 3000.0}, {}, {"pm10": 20.0}, {"pm10": 700.0}, {"o3": 1300.0, "pm2_5": 600.0},
              {**low, "co": 4.25, "pm2_5": 74.5}, {**low, "pm10": float("nan")}]
    return hours


@pytest.mark.parametrize("at", [LAST_2012_HOUR, FIRST_2026_HOUR], ids=["HJ633-2012", "HJ633-2026"])
def test_every_breakpoint_of_both_versions_many_at_once_is_each_hour_alone(at):
    hours = _breakpoint_hours(at)
    codes = sorted({code for hour in hours for code in hour})
    columns = {code: np.array([hour.get(code, np.nan) for hour in hours], dtype=float) for code in codes}
    # every hour under both versions in one call, the times interleaved
    times = [at if n % 2 == 0 else (FIRST_2026_HOUR if at == LAST_2012_HOUR else LAST_2012_HOUR)
             for n in range(2 * len(hours))]
    doubled = {code: np.repeat(column, 2) for code, column in columns.items()}
    many = air_quality.hourly_aqis(doubled, times)
    for i, time in enumerate(times):
        hour = hours[i // 2]
        expected = _reference_hourly_aqi(hour, time)
        assert _same(many.result(i), expected), (hour, time, many.result(i), expected)
        assert _same(air_quality.hourly_aqi(hour, time), expected)        # one hour alone
    results = [many.result(i) for i in range(len(times))]
    assert any(r.aqi is None and r.sub_indices for r in results)          # withheld by the availability rule
    assert any(r.notes and "24-h value" in r.notes[0] for r in results)
    assert any(len(r.primary_pollutants) > 1 for r in results)           # ties on the integer sub-indices


def _observations_and_published(frame: pd.DataFrame, shift: timedelta, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample's hours as compare_published is given them (long observations, the published AQI),
    moved back by `shift`, one reading in eight left out."""
    ends = pd.to_datetime(frame["timepoint"], format="%Y-%m-%dT%H%M").dt.tz_localize(BUREAU_TZ).dt.tz_convert("UTC")
    ends = ends - shift
    rows = []
    for code in air_quality.POLLUTANTS:
        values = pd.to_numeric(frame[code], errors="coerce")
        rows.append(pd.DataFrame({"station_id": frame["stationcode"], "observed_at": ends, "averaging_period": "PT1H",
                                  "parameter": code, "value": values}))
    observations = pd.concat(rows, ignore_index=True)
    observations = observations[rng.random(len(observations)) > 0.125]
    published_rows = pd.DataFrame({"source": "cnemc-air", "station_id": frame["stationcode"], "observed_at": ends,
                                   "published_class": None, "published_aqi": pd.to_numeric(frame["aqi"], errors="coerce"),
                                   "published_primary_pollutants": frame["primarypollutant"]})
    return observations, published_rows


def _reference_compare(published_rows: pd.DataFrame, observations: pd.DataFrame) -> tuple[list, list]:
    """compare_published's air rows hour by hour, as written before issue 27: the hour's readings
    (the frame's last value of a parameter winning), _reference_hourly_aqi under the rules of the
    hour's end, the largest sub-index where the availability rule withholds the AQI."""
    readings: dict = {}
    for station, time, period, parameter, value in observations.itertuples(index=False):
        if not pd.isna(value):
            readings.setdefault((station, time, period), {})[parameter] = value
    aqis, agrees = [], []
    for row in published_rows.itertuples(index=False):
        result = _reference_hourly_aqi(readings.get((row.station_id, row.observed_at, "PT1H"), {}),
                                       standards.rule_date(row.observed_at))
        computed = published._aqi_of_present(result)
        aqis.append(computed)
        agrees.append(None if pd.isna(row.published_aqi) else computed == int(row.published_aqi))
    return aqis, agrees


@pytest.mark.real_data
def test_the_published_comparison_of_hours_on_both_sides_of_the_switch_is_the_hour_by_hour_rule():
    frame = pd.read_csv(real_data(BEIBU_MARCH_2026), dtype=str, keep_default_na=False)
    frame = frame[frame["timepoint"] <= "2026-03-04T2300"].reset_index(drop=True)   # four days: both sides
    rng = np.random.default_rng(2027)
    # the days as published and the same days two days earlier: 02-27 … 03-04, the switch inside
    parts = [_observations_and_published(frame, timedelta(days=shift), rng) for shift in (0, 2)]
    observations = pd.concat([p[0] for p in parts], ignore_index=True)
    published_rows = pd.concat([p[1] for p in parts], ignore_index=True)
    # a reading sent twice (the later one stands), an hour with no readings, an hour published without an AQI
    repeat = observations.iloc[[0]].assign(value=observations.iloc[0]["value"] + 200)
    observations = pd.concat([observations, repeat], ignore_index=True)
    lonely = published_rows.iloc[[0]].assign(station_id="9999A")
    published_rows = pd.concat([published_rows, lonely], ignore_index=True)
    published_rows.loc[3, "published_aqi"] = np.nan
    compared = published.compare_published(published_rows, observations)
    aqis, agrees = _reference_compare(published_rows, observations)
    pd.testing.assert_series_equal(compared["envmon_aqi"], pd.Series(aqis, dtype=float), check_names=False)
    assert compared["agrees"].tolist() == agrees
    assert compared["envmon_class"].isna().all()
    days = {standards.rule_version("air", standards.rule_date(t)).id for t in published_rows["observed_at"]}
    assert len(days) == 2                                     # both rule versions among the hours compared
    assert compared.loc[3, "agrees"] is None and agrees[-1] is False
    assert sum(a is False for a in agrees) > 50 and sum(a is True for a in agrees) > 500


def test_hours_published_twice_and_readings_of_other_periods_compare_as_hour_by_hour():
    hour = pd.Timestamp("2026-03-01T00:00:00+08:00").tz_convert("UTC")   # the first HJ 633—2026 hour
    earlier = hour - pd.Timedelta(hours=1)                                 # the last HJ 633-2012 hour
    rows = []
    for time in (earlier, hour):
        for code, value in {"so2": 6, "no2": 20, "co": 0.7, "o3": 38, "pm10": 60, "pm2_5": 61}.items():
            rows.append({"station_id": "1401A", "observed_at": time, "averaging_period": "PT1H", "parameter": code,
                         "value": value})
    rows.append({"station_id": "1401A", "observed_at": hour, "averaging_period": "PT24H", "parameter": "pm2_5",
                 "value": 500.0})   # a 24-h value at the same time: not the hour's
    observations = pd.DataFrame(rows)
    published_rows = pd.DataFrame([{"source": "cnemc-air", "station_id": "1401A", "observed_at": t,
                                    "published_class": None, "published_aqi": aqi}
                                   for t, aqi in ((earlier, 83), (hour, 101), (hour, 83), (earlier, 101))])
    compared = published.compare_published(published_rows, observations)
    # PM2.5 61: 83 under HJ 633-2012, 101 under HJ 633—2026 (tests/test_air_quality.py works them by hand)
    assert compared["envmon_aqi"].tolist() == [83, 101, 101, 83]
    assert compared["agrees"].tolist() == [True, True, False, False]
    assert compared["envmon_aqi"].tolist() == _reference_compare(published_rows, observations)[0]


@pytest.mark.real_data
def test_the_agreement_of_the_sample_judged_under_another_version_is_the_hour_by_hour_rule():
    payload = real_data(BEIBU_MARCH_2026).read_text(encoding="utf-8")
    frame = pd.read_csv(real_data(BEIBU_MARCH_2026), dtype=str, keep_default_na=False)
    old = published.air_agreement(payload, rules_at=date(2026, 2, 28))
    columns = _hours(frame)
    expected = [_reference_hourly_aqi(_one(columns, i), date(2026, 2, 28)) for i in range(len(frame))]
    published_aqi = pd.to_numeric(frame["aqi"], errors="coerce")
    agree = sum(r.aqi is not None and r.aqi == p for r, p in zip(expected, published_aqi))
    assert old.aqi_agree == agree and old.hours == sum(r.aqi is not None and not pd.isna(p)
                                                       for r, p in zip(expected, published_aqi))
