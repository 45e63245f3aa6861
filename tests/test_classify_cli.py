"""`envmon classify`: the analysts' calculator gives what the pipeline's API gives, row by row, under the
rules in force at each row's observed_at."""
import io
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.assessment import air_quality, seawater, surface_water
from pipelines.reference import standards

ENVMON = str(Path(sys.executable).parent / "envmon")
OLD = "HJ 633-2012; GB 3095-2012; HJ 663-2013"
NEW = "HJ 633—2026; GB 3095—2026 phase 1 (transitional); HJ 663—2026"


def classify(domain, text, tmp_path):
    path = tmp_path / "input.csv"
    path.write_text(text, encoding="utf-8")
    return subprocess.run([ENVMON, "classify", domain, "--input", str(path)], capture_output=True, text=True,
                          env={**os.environ, "ENVMON_HOME": str(tmp_path)}, timeout=120)


def test_surface_water_rows_keep_their_columns_and_order(tmp_path):
    text = ("site,water_body_type,ph,do,codmn,nh3n,tp,target_class\n"
            "A,river,7.2,6.5,3,1.2,0.08,Ⅲ\nB,lake,7.5,8,,0.2,0.05,\nC,river,,,,,,\n")
    result = classify("surface-water", text, tmp_path)
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False)
    assert list(out.columns[:8]) == ["site", "water_body_type", "ph", "do", "codmn", "nh3n", "tp", "target_class"]
    assert out["site"].tolist() == ["A", "B", "C"]
    assert out["water_class"].tolist() == ["Ⅳ", "Ⅲ", ""]
    assert out["failing_parameters"].tolist() == ["nh3n", "", ""]
    api = surface_water.classify({"ph": 7.2, "do": 6.5, "codmn": 3, "nh3n": 1.2, "tp": 0.08}, "river", "Ⅲ",
                                 context="period_mean")
    assert out["water_class"][0] == api.water_class and out["grade"][0] == api.grade


def test_lake_rows_use_lake_limits_and_get_a_trophic_state(tmp_path):
    out = pd.read_csv(io.StringIO(classify("surface-water", "water_body_type,tp,chla\nlake,0.05,10\nriver,0.05,10\n",
                                           tmp_path).stdout), dtype=str, keep_default_na=False)
    assert out["water_class"].tolist() == ["Ⅲ", "Ⅱ"]
    assert out["tli"][0] != "" and out["tli"][1] == ""


def test_seawater_classes_are_written_as_the_standard_writes_them(tmp_path):
    out = pd.read_csv(io.StringIO(classify("seawater", "ph,do,din,phosphate\n8.1,6.5,0.35,0.02\n8.1,6.5,0.6,0.02\n",
                                           tmp_path).stdout), dtype=str, keep_default_na=False)
    assert out["water_class"].tolist() == ["三类", "劣四类"]
    assert out["failing_parameters"].tolist() == ["din", "din"]
    assert seawater.classify({"ph": 8.1, "do": 6.5, "din": 0.35, "phosphate": 0.02}).water_class == "三类"


def test_air_hourly_and_daily_modes(tmp_path):
    text = ("mode,observed_at,so2,no2,co,o3,pm10,pm2_5,o3_8h\n"
            "hourly,2026-02-01T10:00:00+08:00,5,20,0.7,60,61,30,\n"
            "daily,2026-02-01,5,20,0.7,150,61,80,170\nhourly,2026-02-01T11:00:00+08:00,,,,,,,\n")
    out = pd.read_csv(io.StringIO(classify("air", text, tmp_path).stdout), dtype=str, keep_default_na=False)
    assert out["aqi"].tolist() == ["56", "110", ""]
    assert out["level"].tolist() == ["二级", "三级", ""]
    assert out["primary_pollutant"].tolist() == ["pm10", "o3", ""]
    assert out["failing_parameters"][1] == "pm2_5;o3"
    assert air_quality.daily_aqi({"so2": 5, "no2": 20, "co": 0.7, "o3": 150, "pm10": 61, "pm2_5": 80,
                                  "o3_8h": 170}, date(2026, 2, 1)).aqi == 110


def test_air_rows_use_the_rules_in_force_at_their_observed_at(tmp_path):
    # PM2.5 75 µg/m³ in the hour: 100 under HJ 633-2012, 100 + 50·15/55 → 114 under HJ 633—2026; the hour
    # labelled 2026-03-01T00:00 (its end) is the first under the new rules, as the CNEMC feed has it
    text = ("mode,observed_at,so2,no2,co,o3,pm10,pm2_5\n"
            "hourly,2026-02-28T23:00:00+08:00,5,20,0.7,60,20,75\n"
            "hourly,2026-03-01T00:00:00+08:00,5,20,0.7,60,20,75\n"
            "hourly,2026-02-28T16:00:00Z,5,20,0.7,60,20,75\n"
            "daily,2026-02-28,5,20,0.7,60,20,75\n"
            "daily,2026-03-01,5,20,0.7,60,20,75\n")
    out = pd.read_csv(io.StringIO(classify("air", text, tmp_path).stdout), dtype=str, keep_default_na=False)
    assert out["aqi"].tolist() == ["100", "114", "114", "100", "114"]
    assert out["standard"].tolist() == [OLD, NEW, NEW, OLD, NEW]
    assert out["rule_version"][1] == standards.rule_version("air", date(2026, 3, 1)).id


def test_without_observed_at_the_rules_in_force_today_apply_and_are_named(tmp_path):
    out = pd.read_csv(io.StringIO(classify("air", "mode,so2,no2,co,o3,pm10,pm2_5\nhourly,5,20,0.7,60,20,75\n",
                                           tmp_path).stdout), dtype=str, keep_default_na=False)
    today = standards.rule_version("air")
    assert out["standard"].tolist() == [today.label] and out["rule_version"].tolist() == [today.id]
    assert out["aqi"][0] == str(air_quality.hourly_aqi({"so2": 5, "no2": 20, "co": 0.7, "o3": 60, "pm10": 20,
                                                       "pm2_5": 75}).aqi)


def test_water_rows_take_observed_at_and_name_their_standard(tmp_path):
    out = pd.read_csv(io.StringIO(classify("surface-water", "water_body_type,observed_at,nh3n\nriver,2026-03-01,1.2\n",
                                           tmp_path).stdout), dtype=str, keep_default_na=False)
    assert out["water_class"].tolist() == ["Ⅳ"]
    assert out["standard"].tolist() == ["GB 3838-2002; 地表水环境质量评价办法(试行) 2011"]
    sea = pd.read_csv(io.StringIO(classify("seawater", "observed_at,din\n2026-03-01T09:30:00+08:00,0.35\n",
                                           tmp_path).stdout), dtype=str, keep_default_na=False)
    assert sea["water_class"].tolist() == ["三类"] and sea["standard"].tolist() == ["GB 3097-1997"]


@pytest.mark.parametrize("domain, text, problem", [
    ("air", "mode,so2,no2,co,o3,pm10,pm2_5\nhourly,5,20,0.7,60,-3,30\n", "pm10 -3 is below 0"),
    ("air", "mode,so2,no2,co,o3,pm10,pm2_5\nhourly,5,20,0.7,60,inf,30\n", "pm10 inf is not a finite number"),
    ("surface-water", "water_body_type,ph,do\nriver,15,6\n", "ph 15 is above 14"),
    ("surface-water", "water_body_type,ph,do\nriver,7,40\n", "do 40 is above 25"),
    ("surface-water", "water_body_type,ph,nh3n\nriver,7,-0.1\n", "nh3n -0.1 is below 0"),
    ("seawater", "ph,din\n-1,0.2\n", "ph -1 is below 0"),
])
def test_impossible_values_are_reported_per_row_and_not_classified(tmp_path, domain, text, problem):
    good_row = {"air": "hourly,5,20,0.7,60,20,30\n", "surface-water": "river,7,6\n", "seawater": "8.1,0.2\n"}[domain]
    result = classify(domain, text + good_row, tmp_path)
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False)
    assert problem in out["problems"][0] and out["problems"][1] == ""
    result_column = "aqi" if domain == "air" else "water_class"
    assert out[result_column][0] == "" and out[result_column][1] != ""   # not 劣Ⅴ, not classified at all


@pytest.mark.parametrize("cell", ["<0.02", "0.02L"])
def test_a_censored_cell_is_accepted_as_censored(tmp_path, cell):
    out = pd.read_csv(io.StringIO(classify("surface-water", f"water_body_type,tp,nh3n\nriver,{cell},0.1\n",
                                           tmp_path).stdout), dtype=str, keep_default_na=False)
    # counted as half the limit (censoring.csv), 0.01 mg/L: class Ⅰ
    assert out["water_class"].tolist() == ["Ⅰ"] and out["censored"].tolist() == ["tp<0.02"]
    assert out["problems"].tolist() == [""]


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"mode,so2\n", "no rows to classify"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text"),
])
def test_an_empty_or_unreadable_file_is_one_line_of_error(tmp_path, content, message):
    path = tmp_path / "input.csv"
    path.write_bytes(content)
    result = subprocess.run([ENVMON, "classify", "air", "--input", str(path)], capture_output=True, text=True,
                            env={**os.environ, "ENVMON_HOME": str(tmp_path)}, timeout=120)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


@pytest.mark.parametrize("domain, text, message", [
    ("surface-water", "water_body_type,ph\nriver,abc\n", "line 2, column ph: 'abc' is not a number"),
    ("surface-water", "ph\n7\n", "needs a water_body_type column"),
    ("surface-water", "water_body_type,ph\nsea,7\n", "line 2, column water_body_type"),
    ("air", "so2\n5\n", "needs a mode column"),
    ("air", "mode,observed_at,so2\nhourly,2026-03-01T08:00,5\n", "line 2, column observed_at: '2026-03-01T08:00' has no UTC offset"),
    ("seawater", "observed_at,din\nyesterday,0.2\n", "line 2, column observed_at: 'yesterday' is not an ISO 8601"),
])
def test_bad_input_is_a_clear_error(tmp_path, domain, text, message):
    result = classify(domain, text, tmp_path)
    assert result.returncode == 2 and message in result.stderr
