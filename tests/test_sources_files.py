from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from pipelines.observations import BUREAU_TZ, bureau_day
from pipelines.sources import files
from tests.conftest import FIXTURES, real_data

FETCHED_NEW_YEAR = datetime(2027, 1, 1, 2, 0, tzinfo=BUREAU_TZ)


def _water():
    return files.parse_file("cnemc-water", FIXTURES / "cnemc-water-publish.json", FETCHED_NEW_YEAR)


def _value(frame, station, parameter):
    return frame[(frame["station_id"] == station) & (frame["parameter"] == parameter)].iloc[0]


def test_water_raw_value_comes_from_the_tooltip_and_the_display_is_kept():
    frame = _water().observations
    nh3n = _value(frame, "nanliu-hengtang", "nh3n")
    assert nh3n["value"] == 0.41234 and nh3n["original_value"] == "0.412"


def test_water_time_has_no_year_and_is_beijing_time_across_new_year():
    row = _value(_water().observations, "nanliu-hengtang", "ph")
    assert row["observed_at"] == pd.Timestamp("2026-12-31 12:00", tz="UTC")  # 20:00 UTC+8 of last year
    assert row["utc_offset_minutes"] == 480


def test_water_markers_become_flags_not_losses():
    frame = _water().observations
    tp = _value(frame, "nanliu-hengtang", "tp")
    assert tp["qc_flag"] == "missing" and "极值过滤" in tp["qc_note"] and pd.isna(tp["value"])
    chla = _value(frame, "nanliu-hengtang", "chla")                      # `*`: not monitored, kept as such
    assert chla["qc_flag"] == "missing" and chla["original_value"] == "*" and "not monitored" in chla["qc_note"]
    maintenance = frame[frame["station_id"] == "jiuzhou-wenchequiao"]
    with_values = maintenance[maintenance["value"].notna()]
    assert len(with_values) == 9 and (with_values["qc_flag"] == "suspect").all()   # kept, flagged, not quarantined
    assert maintenance["qc_note"].str.contains("维护").all()
    assert not (frame["station_id"] == "beilun-bianmaomatou").any()      # null time: no reading


def test_water_rows_outside_the_registry_are_out_of_scope():
    parsed = _water()
    # 石角 of Guangdong's 北江 (Qingyuan) is not the 九洲江 石角; 古北口 is in Beijing: 11 items each
    assert parsed.out_of_scope == 22
    assert "jiuzhou-shijiao" not in set(parsed.observations["station_id"])


def test_the_published_class_and_station_status_are_kept_beside_the_values():
    published = _water().published.set_index("station_id")
    assert published.loc["nanliu-hengtang", "published_class"] == "Ⅲ"
    assert published.loc["jiuzhou-wenchequiao", "station_status"] == "维护"
    assert published.loc["jiuzhou-wenchequiao", "published_name"] == "鼠岭(文车桥)"


def test_a_truncated_response_is_a_clear_error():
    text = (FIXTURES / "cnemc-water-publish.json").read_text(encoding="utf-8")
    with pytest.raises(files.PayloadError, match="truncated"):
        files.parse_cnemc_water(text[: len(text) // 2], FETCHED_NEW_YEAR)


def test_html_instead_of_json_is_a_clear_error(tmp_path):
    page = tmp_path / "error.json"
    page.write_text("<html><body>502 Bad Gateway</body></html>")
    with pytest.raises(files.PayloadError, match="not a Publish.ashx response"):
        files.parse_file("cnemc-water", page, FETCHED_NEW_YEAR)


def test_air_csv_periods_missing_values_and_scope():
    parsed = files.parse_file("cnemc-air", FIXTURES / "cnemc-air-hourly.csv", datetime(2026, 3, 15, 2, tzinfo=BUREAU_TZ))
    frame = parsed.observations
    assert parsed.out_of_scope == 12          # one station outside the registry, 12 values
    published = parsed.published.set_index(["station_id", "observed_at"]).sort_index()
    # PM10 61 µg/m³ on 2026-03-15 under HJ 633—2026: 50 + 50 × 11/70 = 57.9 → 58, as the feed publishes it
    assert published["published_aqi"].tolist()[0] == 58 and "PM10" in published["published_primary_pollutants"].iloc[0]
    pm10 = frame[(frame["station_id"] == "1401A") & (frame["parameter"] == "pm10") & (frame["averaging_period"] == "PT1H")]
    assert pm10.sort_values("observed_at")["qc_flag"].tolist() == ["not_evaluated", "missing"]
    no2_empty = frame[(frame["parameter"] == "no2") & (frame["averaging_period"] == "PT1H") & frame["value"].isna()]
    assert len(no2_empty) == 1 and no2_empty["original_value"].iloc[0] == ""
    assert set(frame["averaging_period"]) == {"PT1H", "PT8H", "PT24H"}
    # the 00:00 value is the mean of 23:00–24:00: it belongs to the day before
    midnight = frame[frame["observed_at"] == pd.Timestamp("2026-03-14 16:00", tz="UTC")]
    assert set(bureau_day(midnight["observed_at"], midnight["averaging_period"])) <= {
        pd.Timestamp("2026-03-14").date(), pd.Timestamp("2026-03-15").date()}
    hourly = midnight[midnight["averaging_period"] == "PT1H"]
    assert set(bureau_day(hourly["observed_at"], hourly["averaging_period"])) == {pd.Timestamp("2026-03-14").date()}


@pytest.mark.real_data
def test_real_water_sample_parses_with_every_guangxi_registry_section_found():
    path = real_data("cnemc-water/publish-ashx-2020-05-08.json")
    parsed = files.parse_file("cnemc-water", path, datetime(2020, 5, 8, 16, tzinfo=BUREAU_TZ))
    import json
    total = len(json.loads(Path(path).read_text(encoding="utf-8"))["tbody"])
    sections_seen = parsed.observations["station_id"].nunique()
    assert sections_seen >= 25 and parsed.out_of_scope > 10 * (total - 100)
    assert (parsed.observations["observed_at"].dt.year == 2020).all()


@pytest.mark.real_data
def test_real_air_sample_keeps_the_26_stations_and_marks_na_missing():
    path = real_data("cnemc-air/beibu6-hourly-2026-03-01-to-03-28.csv")
    parsed = files.parse_file("cnemc-air", path, datetime(2026, 3, 29, tzinfo=BUREAU_TZ))
    frame = parsed.observations
    assert frame["station_id"].nunique() == 26 and parsed.out_of_scope == 0
    assert ((frame["qc_flag"] == "missing") == frame["value"].isna()).all()
