"""Worked examples from the standards' tables (shared/reference/standards.md), on and just past limits."""
import math

import pandas as pd
import pytest

from pipelines.reference import standards


@pytest.mark.parametrize("code, value, water_body_type, expected", [
    ("nh3n", 1.0, "river", "Ⅲ"),      # on the class III limit: the better class
    ("nh3n", 1.001, "river", "Ⅳ"),    # just over it
    ("nh3n", 0.15, "river", "Ⅰ"),
    ("nh3n", 2.0, "river", "Ⅴ"),
    ("nh3n", 2.01, "river", "劣Ⅴ"),
    ("cod", 15, "river", "Ⅰ"),        # classes I and II share 15: the better class
    ("do", 7.5, "river", "Ⅰ"),        # DO: greater is better
    ("do", 7.49, "river", "Ⅱ"),
    ("do", 5.0, "river", "Ⅲ"),
    ("do", 1.99, "river", "劣Ⅴ"),
    ("tp", 0.05, "river", "Ⅱ"),       # river TP limits
    ("tp", 0.05, "lake", "Ⅲ"),        # lake and reservoir TP limits
    ("tp", 0.2, "lake", "Ⅴ"),
    ("ph", 6.0, "river", "Ⅰ"),        # inside 6–9
    ("ph", 9.01, "river", "劣Ⅴ"),
    ("hg", 0.00005, "river", "Ⅰ"),
    ("hg", 0.00006, "river", "Ⅲ"),
])
def test_surface_water_class_of_a_value(code, value, water_body_type, expected):
    assert standards.surface_water_class(code, value, water_body_type) == expected


def test_items_without_a_class_limit_are_not_classed():
    assert standards.surface_water_class("water_temp", 25.0) is None
    assert standards.surface_water_class("tn", 1.0, "river") is None  # TN has lake limits only


def test_assessment_indicators_are_the_21_of_the_2011_method():
    indicators = standards.assessment_indicators()
    assert len(indicators) == 21
    assert not {"water_temp", "tn", "fecal_coliform"} & set(indicators)


def test_exceedance_multiple_against_class_iii_reproduces_the_qinzhou_report():
    # Qinzhou 2022-02 report: 总磷(0.42倍) for a river section; class III TP = 0.2, so C = 0.284.
    assert standards.exceedance_multiple("tp", 0.284, "Ⅲ") == pytest.approx(0.42)
    assert standards.exceedance_multiple("tp", 0.2, "Ⅲ") is None  # on the limit: no exceedance
    assert standards.exceedance_multiple("do", 1.0, "Ⅲ") is None  # not computed for DO


@pytest.mark.parametrize("code, value, expected", [
    ("phosphate", 0.015, "一类"),
    ("phosphate", 0.030, "二类"),     # classes 2 and 3 share 0.030
    ("phosphate", 0.046, "劣四类"),
    ("din", 0.30, "二类"),
    ("do", 6.0, "二类"),              # GB 3097 writes > 6 for class 1
    ("do", 6.01, "一类"),
    ("ph", 8.6, "三类"),              # outside 7.8–8.5, inside 6.8–8.8
    ("ph", 8.9, "劣四类"),
])
def test_seawater_class_of_a_value(code, value, expected):
    assert standards.seawater_class(code, value) == expected


@pytest.mark.parametrize("code, period, concentration, expected", [
    ("pm2_5", "PT24H", 80, 107),   # 106.25 rounded up (standards.md §4.1 worked example)
    ("pm2_5", "PT24H", 75, 100),   # on a breakpoint
    ("pm10", "PT24H", 150, 100),
    ("o3", "PT1H", 160, 50),
    ("co", "PT1H", 5, 50),
    ("so2", "PT24H", 50, 50),      # the 24-h breakpoints, not the 1-h ones (caiyunapp error, standards.md §0)
])
def test_individual_aqi(code, period, concentration, expected):
    assert standards.iaqi(code, period, concentration) == expected


def test_iaqi_is_not_computed_where_hj633_says_so():
    assert standards.iaqi("so2", "PT1H", 801) is None   # SO2 1-h above 800
    assert standards.iaqi("o3", "PT8H", 801) is None    # O3 8-h above 800
    assert standards.iaqi("pm2_5", "PT24H", 600) == 500


def test_aqi_levels_and_colours():
    assert standards.aqi_level(50)["category"] == "优"
    assert standards.aqi_level(51)["hex"] == "#FFFF00"
    assert standards.aqi_level(301)["level"] == "六级"
    assert standards.aqi_level(1)["hex"] == "#00E400"  # not go-aqi's RGB(0,255,0), standards.md §0


@pytest.mark.parametrize("name", ["gb3838_surface_water.csv", "gb3838_drinking_water.csv", "gb3097_seawater.csv",
                                  "hj633_breakpoints.csv", "gb3095_air_limits.csv", "aqi_levels.csv",
                                  "water_class_grades.csv"])
def test_every_limit_row_cites_its_source_and_status(name):
    table = pd.read_csv(standards.DATA_DIR / name, dtype=str, keep_default_na=False)
    assert (table["source"].str.len() > 0).all()
    assert (table["status"].str.len() > 0).all()


def test_unverified_seawater_rows_are_marked_as_such():
    table = standards.seawater_limits()
    # standards.md §3 could not confirm the metals from the official text
    for code in ("hg", "cd", "pb", "cr6", "as", "cu", "zn"):
        assert table.loc[code, "status"] == "UNVERIFIED"
    assert table.loc["din", "status"] == "C2"


def test_known_public_errors_are_not_in_the_tables():
    breakpoints = standards.aqi_breakpoints().set_index(["code", "period"])
    assert breakpoints.loc[("so2", "PT24H"), "iaqi_100"] == 150   # not the 1-h 500
    assert breakpoints.loc[("pm10", "PT24H"), "iaqi_100"] == 150  # not 120
    assert breakpoints.loc[("pm2_5", "PT24H"), "iaqi_100"] == 75  # not 60
    assert standards.surface_water_limit("tn", "Ⅳ", "lake") == 1.5  # not "105"
    assert standards.surface_water_limit("nh3n", "Ⅰ") == 0.15       # not 0.015
    assert not math.isnan(standards.surface_water_limit("cd", "Ⅴ"))
