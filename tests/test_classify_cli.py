"""`envmon classify`: the analysts' calculator gives what the pipeline's API gives, row by row."""
import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipelines.assessment import air_quality, seawater, surface_water

ENVMON = str(Path(sys.executable).parent / "envmon")


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
    text = "mode,so2,no2,co,o3,pm10,pm2_5,o3_8h\nhourly,5,20,0.7,60,61,30,\ndaily,5,20,0.7,150,61,80,170\nhourly,,,,,,,\n"
    out = pd.read_csv(io.StringIO(classify("air", text, tmp_path).stdout), dtype=str, keep_default_na=False)
    assert out["aqi"].tolist() == ["56", "110", ""]
    assert out["level"].tolist() == ["二级", "三级", ""]
    assert out["primary_pollutant"].tolist() == ["pm10", "o3", ""]
    assert out["failing_parameters"][1] == "pm2_5;o3"
    assert air_quality.daily_aqi({"so2": 5, "no2": 20, "co": 0.7, "o3": 150, "pm10": 61, "pm2_5": 80,
                                  "o3_8h": 170}).aqi == 110


@pytest.mark.parametrize("domain, text, message", [
    ("surface-water", "water_body_type,ph\nriver,abc\n", "line 2, column ph: 'abc' is not a number"),
    ("surface-water", "ph\n7\n", "needs a water_body_type column"),
    ("surface-water", "water_body_type,ph\nsea,7\n", "line 2, column water_body_type"),
    ("air", "so2\n5\n", "needs a mode column"),
])
def test_bad_input_is_a_clear_error(tmp_path, domain, text, message):
    result = classify(domain, text, tmp_path)
    assert result.returncode == 2 and message in result.stderr
