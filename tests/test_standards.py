"""Worked examples from the standards' tables (shared/reference/standards.md), on and just past limits,
and the effective periods of every rule table."""
import math
from datetime import date, datetime, timezone

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


BEFORE_2026 = date(2026, 2, 28)   # HJ 633-2012, GB 3095-2012, HJ 663-2013
FROM_2026 = date(2026, 3, 1)      # HJ 633—2026, GB 3095—2026 phase 1, HJ 663—2026


@pytest.mark.parametrize("code, period, concentration, expected", [
    ("pm2_5", "PT24H", 80, 107),   # 106.25 rounded up (standards.md §4.1 worked example)
    ("pm2_5", "PT24H", 75, 100),   # on a breakpoint
    ("pm10", "PT24H", 150, 100),
    ("o3", "PT1H", 160, 50),
    ("co", "PT1H", 5, 50),
    ("so2", "PT24H", 50, 50),      # the 24-h breakpoints, not the 1-h ones (caiyunapp error, standards.md §0)
])
def test_individual_aqi_under_hj633_2012(code, period, concentration, expected):
    assert standards.iaqi(code, period, concentration, BEFORE_2026) == expected


@pytest.mark.parametrize("code, concentration, expected", [
    ("pm2_5", 60, 100),   # the new IAQI-100 breakpoint (standards.md §4.0)
    ("pm2_5", 80, 119),   # 100 + 50 × 20/55 = 118.2, rounded up
    ("pm10", 120, 100),
    ("pm10", 150, 112),   # 100 + 50 × 30/130 = 111.5
    ("pm2_5", 35, 50),    # unchanged below 35
    ("pm2_5", 115, 150),  # and from 115 up
])
def test_individual_aqi_under_hj633_2026(code, concentration, expected):
    assert standards.iaqi(code, "PT24H", concentration, FROM_2026) == expected


def test_iaqi_is_not_computed_where_hj633_says_so():
    for day in (BEFORE_2026, FROM_2026):
        assert standards.iaqi("so2", "PT1H", 801, day) is None   # SO2 1-h above 800
        assert standards.iaqi("o3", "PT8H", 801, day) is None    # O3 8-h above 800
        assert standards.iaqi("pm2_5", "PT24H", 600, day) == 500


def test_aqi_levels_and_colours():
    assert standards.aqi_level(50)["category"] == "优"
    assert standards.aqi_level(51)["hex"] == "#FFFF00"
    assert standards.aqi_level(301)["level"] == "六级"
    assert standards.aqi_level(1)["hex"] == "#00E400"  # not go-aqi's RGB(0,255,0), standards.md §0


@pytest.mark.parametrize("name", sorted(standards.RULE_TABLES))
def test_every_rule_row_names_its_standard_its_source_and_its_status(name):
    table = standards.rule_table(name)
    assert (table["standard"].str.len() > 0).all()
    assert (table["status"].str.len() > 0).all()
    cited = table["source"] if "source" in table else table["basis"]
    assert (cited.str.len() > 0).all()


@pytest.mark.parametrize("name", sorted(standards.RULE_TABLES))
def test_no_two_rows_of_a_rule_overlap_in_time(name):
    table = standards.rule_table(name)
    starts = table["valid_from"].map(lambda t: date.fromisoformat(t) if t else date.min)
    ends = table["valid_to"].map(lambda t: date.fromisoformat(t) if t else date.max)
    assert (starts <= ends).all()
    for _, rows in table.assign(start=starts, end=ends).groupby(list(standards.RULE_TABLES[name])):
        periods = sorted(zip(rows["start"], rows["end"]))
        for (_, end), (start, _) in zip(periods, periods[1:]):
            assert end < start, f"{name}: two rows of one rule in force together"


def test_every_data_file_with_an_effective_period_is_a_known_rule_table():
    dated = {p.stem for p in standards.DATA_DIR.glob("*.csv")
             if "valid_from" in pd.read_csv(p, nrows=0).columns}
    assert dated == set(standards.RULE_TABLES)


@pytest.mark.parametrize("name", ["hj633_breakpoints", "aqi_levels", "aqi_concentration_rounding", "aqi_conventions",
                                  "air_validity", "gb3095_air_limits", "hj663_annual_statistics"])
def test_the_air_rules_change_on_2026_03_01_without_a_gap(name):
    before, after = standards.in_force(name, BEFORE_2026), standards.in_force(name, FROM_2026)
    key = list(standards.RULE_TABLES[name])
    assert set(map(tuple, before[key].values)) == set(map(tuple, after[key].values))  # every rule continues
    assert not (before["standard"].str.contains("2026")).any()
    if name != "aqi_conventions":  # the feed's conventions (availability) are one row for both periods
        assert after["standard"].str.contains("2026").all()


def test_the_hour_labelled_midnight_of_march_1_is_under_the_2026_rules():
    # the feed labels an hour by its end: 2026-03-01T00 is 23:00–24:00 on 02-28, and follows HJ 633—2026
    assert standards.rule_date("2026-03-01T00:00:00+08:00") == FROM_2026
    assert standards.rule_date("2026-02-28T16:00:00Z") == FROM_2026
    assert standards.rule_date("2026-02-28T23:00:00+08:00") == BEFORE_2026
    assert standards.rule_date(datetime(2026, 2, 28, 23, 0, tzinfo=timezone.utc)) == FROM_2026
    assert standards.iaqi("pm2_5", "PT24H", 75, "2026-03-01T00:00:00+08:00") == 114
    assert standards.iaqi("pm2_5", "PT24H", 75, "2026-02-28T23:00:00+08:00") == 100


def test_gb3095_pm2_5_limits_by_phase():
    assert (standards.air_limit("pm2_5", "annual", at=BEFORE_2026), standards.air_limit("pm2_5", "PT24H", at=BEFORE_2026)) == (35, 75)
    assert (standards.air_limit("pm2_5", "annual", at=FROM_2026), standards.air_limit("pm2_5", "PT24H", at=FROM_2026)) == (30, 60)
    assert standards.air_limit("pm2_5", "annual", at=date(2030, 12, 31)) == 30
    assert standards.air_limit("pm2_5", "annual", at=date(2031, 1, 1)) == 25      # phase 2
    assert standards.air_limit("pm2_5", "PT24H", "class_1", at=date(2031, 1, 1)) == 25
    assert standards.air_limit("no2", "annual", at=date(2030, 12, 31)) == 40


@pytest.mark.parametrize("code, averaging", [("pm10", "annual"), ("pm10", "PT24H"), ("so2", "annual"), ("no2", "PT1H")])
def test_phase_2_limits_not_yet_known_are_refused_not_guessed(code, averaging):
    with pytest.raises(standards.RuleRefused, match="phase 2.*UNVERIFIED.*refuses"):
        standards.air_limit(code, averaging, at=date(2031, 6, 1))


def test_the_rule_version_names_the_standards_in_force():
    before, after = standards.rule_version("air", BEFORE_2026), standards.rule_version("air", FROM_2026)
    assert before.label == "HJ 633-2012; GB 3095-2012; HJ 663-2013"
    assert after.label == "HJ 633—2026; GB 3095—2026 phase 1 (transitional); HJ 663—2026"
    assert after.id.startswith("air@2026-03-01#") and before.id.startswith("air@start#")
    assert standards.rule_version("air", date(2031, 1, 1)).label.endswith("phase 2; HJ 663—2026")
    assert standards.rule_version("air", "2026-07-01") == after            # one version, any day of it
    assert standards.rule_version("surface_water", FROM_2026) == standards.rule_version("surface_water", BEFORE_2026)


def test_a_changed_rule_row_is_a_new_rule_version(tmp_path, monkeypatch):
    import shutil

    before = standards.rule_version("air", FROM_2026)
    shutil.copytree(standards.DATA_DIR, tmp_path / "data")
    path = tmp_path / "data" / "hj633_breakpoints.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[(table["code"] == "pm2_5") & (table["valid_from"] == "2026-03-01"), "status"] = "C2 (official text)"
    table.to_csv(path, index=False)
    monkeypatch.setattr(standards, "DATA_DIR", tmp_path / "data")
    standards.reload_rules()
    try:
        after = standards.rule_version("air", FROM_2026)
        assert after.id != before.id and after.label == before.label
        assert standards.rule_version("air", BEFORE_2026).id.startswith("air@start#")
    finally:
        monkeypatch.undo()
        standards.reload_rules()


def test_a_time_that_is_not_iso_8601_is_an_error_not_a_guess():
    with pytest.raises(ValueError, match="not an ISO 8601"):
        standards.rule_date("March 2026")


def test_unverified_seawater_rows_are_marked_as_such():
    table = standards.seawater_limits()
    # standards.md §3 could not confirm the metals from the official text
    for code in ("hg", "cd", "pb", "cr6", "as", "cu", "zn"):
        assert table.loc[code, "status"] == "UNVERIFIED"
    assert table.loc["din", "status"] == "C2"


def test_known_public_errors_are_not_in_the_tables():
    breakpoints = standards.aqi_breakpoints(BEFORE_2026).set_index(["code", "period"])
    assert breakpoints.loc[("so2", "PT24H"), "iaqi_100"] == 150   # not the 1-h 500
    # 120 and 60 are not errors from 2026-03-01: they are HJ 633—2026 (standards.md §0, corrected)
    assert breakpoints.loc[("pm10", "PT24H"), "iaqi_100"] == 150
    assert breakpoints.loc[("pm2_5", "PT24H"), "iaqi_100"] == 75
    revised = standards.aqi_breakpoints(FROM_2026).set_index(["code", "period"])
    assert (revised.loc[("pm10", "PT24H"), "iaqi_100"], revised.loc[("pm2_5", "PT24H"), "iaqi_100"]) == (120, 60)
    assert revised.loc[("so2", "PT24H"), "iaqi_100"] == 150
    assert standards.surface_water_limit("tn", "Ⅳ", "lake") == 1.5  # not "105"
    assert standards.surface_water_limit("nh3n", "Ⅰ") == 0.15       # not 0.015
    assert not math.isnan(standards.surface_water_limit("cd", "Ⅴ"))
