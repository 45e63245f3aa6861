"""Issue 27: the water classes of all section-days at once (daily.assess_surface_water_days through
surface_water.classify_many and standards.surface_water_ranks / exceedance_multiples) give exactly the
rows of the one-day reference (daily.assess_surface_water_day, one classify per section), on a mixed
day: values on class limits, censored values below their detection limit, a required indicator
missing ('indicators incomplete'), lake TP limits, a drinking-water source's Table 2 item, a section
without data, manual samples beside automatic readings.

These tests compare the set-based code with itself: the one-day reference and `classify` now go
through the same arrays (classify_many, surface_water_ranks, exceedance_multiples), so a rule broken
there breaks both sides alike and passes here. The independent oracle is tests/test_gb3838_oracle.py:
a plain scalar GB 3838 class, exceedance multiple and verdict written from the standard
(standards.md §1, §2.2) and checked against these functions on every limit (±1e-9, one float step)
and on seeded random values and sections."""
from datetime import date, timedelta

import pandas as pd
import pytest

from pipelines.assessment import daily, surface_water
from pipelines.reference import standards

DAY = date(2026, 11, 3)


def _readings(section_id, day, values, source="cnemc-water", censored=(), limits=None):
    """Six 4-hourly readings of each value (a day's automatic data; lab: one sample)."""
    start = pd.Timestamp(day, tz="Asia/Shanghai")
    count = 1 if source in daily.MANUAL_SOURCES else 6
    return [{"station_id": section_id, "parameter": code, "observed_at": start + pd.Timedelta(hours=4 * i),
             "averaging_period": "PT0S", "value": value, "qc_flag": "not_evaluated", "source": source,
             "censoring": "<" if code in censored else None,
             "detection_limit": (limits or {}).get(code)}
            for code, value in values.items() for i in range(count)]


def mixed_day(day):
    rows = []
    # river, values exactly on limits: NH3-N 0.5 is Ⅱ (the better class), TP 0.2 Ⅲ, DO 5 Ⅲ (min), CODMn just over 6 → Ⅳ
    rows += _readings("nanliu-hengtang", day, {"ph": 6.0, "do": 5.0, "codmn": 6.0000001, "nh3n": 0.5, "tp": 0.2})
    # river, on the class V limits and just past them (劣Ⅴ), pH outside its range
    rows += _readings("nanliu-yaqiao", day, {"ph": 9.2, "do": 2.0, "codmn": 15.0, "nh3n": 2.0000001, "tp": 0.4,
                                             "bod5": 10.0, "cod": 40.5})
    # censored: NH3-N and TP below their detection limits count as half the limit
    rows += _readings("nanliu-nanyu", day, {"ph": 7.1, "do": 7.5, "codmn": 2.0, "nh3n": 0.025, "tp": 0.01},
                      censored=("nh3n", "tp"), limits={"nh3n": 0.025, "tp": 0.01})
    # no TP at all: indicators incomplete (failing on what it has: NH3-N Ⅴ)
    rows += _readings("qinjiang-qinjiangdong", day, {"ph": 7.4, "do": 6.1, "codmn": 3.2, "nh3n": 1.8})
    # no TP, all good: indicators incomplete, not compliant
    rows += _readings("qinjiang-gaosuxiqiao", day, {"ph": 7.4, "do": 6.1, "codmn": 3.2, "nh3n": 0.4})
    # lakes: TP 0.04 (lake Ⅲ, a river's Ⅱ) and 0.06 (lake Ⅳ); TN is not an indicator
    rows += _readings("hepu-reservoir", day, {"ph": 7.0, "do": 6.5, "codmn": 3.0, "nh3n": 0.3, "tp": 0.04, "tn": 1.6})
    rows += _readings("dawangtan-reservoir", day, {"ph": 7.0, "do": 6.5, "codmn": 3.0, "nh3n": 0.3, "tp": 0.06})
    # a drinking-water source with a Table 2 item over its limit, from a lab sample
    rows += _readings("hongchaojiang-reservoir", day, {"ph": 7.0, "do": 8.0, "codmn": 1.5, "nh3n": 0.1, "tp": 0.01,
                                                       "mn": 0.15}, source="lab")
    # a lab sample beside automatic readings of the same item: the automatic ones are used
    rows += _readings("beilun-dongxing", day, {"ph": 7.2, "do": 6.0, "codmn": 4.0, "nh3n": 1.0, "tp": 0.1})
    rows += _readings("beilun-dongxing", day, {"nh3n": 1.9, "cu": 0.5}, source="lab")
    # three readings only: below the day rule, the indicator is left out
    rows += _readings("yongjiang-laokou", day, {"ph": 7.0, "do": 6.0, "codmn": 4.0, "nh3n": 0.9, "tp": 0.1})[:-3]
    return pd.DataFrame(rows)


def test_the_set_based_day_is_the_one_day_reference_on_a_mixed_day():
    observations = mixed_day(DAY)
    reference = daily.assess_surface_water_day(observations, DAY)
    set_based = daily.assess_surface_water_days(observations.assign(partition_day=DAY), [DAY])
    assert set_based == reference            # every column of every registry section, in the same order
    rows = {r["station_id"]: r for r in set_based}
    assert (rows["nanliu-hengtang"]["water_class"], rows["nanliu-hengtang"]["is_compliant"]) == ("Ⅳ", False)
    assert rows["nanliu-yaqiao"]["water_class"] == "劣Ⅴ"
    assert (rows["nanliu-nanyu"]["water_class"], rows["nanliu-nanyu"]["status"]) == ("Ⅰ", "assessed")
    assert (rows["qinjiang-qinjiangdong"]["status"], rows["qinjiang-qinjiangdong"]["is_compliant"]) == \
        ("indicators incomplete", False)
    assert (rows["qinjiang-gaosuxiqiao"]["status"], rows["qinjiang-gaosuxiqiao"]["is_compliant"]) == \
        ("indicators incomplete", None)
    assert rows["hepu-reservoir"]["water_class"] == "Ⅲ" and rows["dawangtan-reservoir"]["water_class"] == "Ⅳ"
    assert "tn" not in rows["hepu-reservoir"]["indicators_assessed"]
    assert "GB 3838-2002 Table 2" in rows["hongchaojiang-reservoir"]["standard"]
    assert rows["beilun-dongxing"]["water_class"] == "Ⅲ"   # the automatic NH3-N, not the lab's 1.9
    assert rows["yongjiang-laokou"]["values_used"] == 24 and "tp" not in rows["yongjiang-laokou"]["indicators_assessed"]
    assert rows["zuojiang-quli"]["status"] == "insufficient data"


def test_the_set_based_days_are_the_one_day_reference_day_by_day():
    days = [DAY, DAY + timedelta(days=1)]
    second = mixed_day(days[1])
    second["value"] = second["value"] * 1.5           # another day, other classes
    frames = [mixed_day(days[0]).assign(partition_day=days[0]), second.assign(partition_day=days[1])]
    set_based = daily.assess_surface_water_days(pd.concat(frames, ignore_index=True), days)
    reference = [row for day, frame in zip(days, frames) for row in daily.assess_surface_water_day(frame, day)]
    assert set_based == reference


@pytest.mark.parametrize("code, water_body_type", [("nh3n", "river"), ("tp", "river"), ("tp", "lake"),
                                                    ("do", "river"), ("codmn", "lake"), ("hg", "river")])
def test_the_class_of_values_on_and_beside_each_limit_many_at_once_is_the_class_of_each(code, water_body_type):
    limits = [standards.surface_water_limit(code, k, water_body_type) for k in standards.SURFACE_WATER_CLASSES]
    values = [v * f for v in limits for f in (1.0, 1 - 1e-9, 1 + 1e-9)]
    ranks = standards.surface_water_ranks([code] * len(values), values, [water_body_type] * len(values))
    one_by_one = [standards.surface_water_class(code, v, water_body_type) for v in values]
    assert [standards.SURFACE_WATER_RANKED[r] for r in ranks] == one_by_one
    on_limits = [one_by_one[3 * n] for n in range(5)]
    if code == "do":                                  # a minimum: more is better; each limit its own class
        assert on_limits == list(standards.SURFACE_WATER_CLASSES)
        assert one_by_one[3 * 4 + 1] == standards.SURFACE_WATER_WORST   # just under class V's minimum
    else:                                             # on a limit shared with a better class: the better one
        assert on_limits == [standards.SURFACE_WATER_CLASSES[limits.index(limit)] for limit in limits]
        assert one_by_one[3 * 4 + 2] == standards.SURFACE_WATER_WORST   # just over class V
    multiples = standards.exceedance_multiples([code] * 2, [limits[2], limits[2] * 1.5], ["Ⅲ"] * 2,
                                               [water_body_type] * 2)
    if code == "do":
        assert all(pd.isna(multiples))
    else:
        assert pd.isna(multiples[0]) and multiples[1] == pytest.approx(0.5)


def test_many_keys_at_once_are_each_key_alone():
    cases = {"a": ({"nh3n": 2.5, "tp": 0.45, "codmn": 16, "bod5": 7, "do": 6}, "river", "Ⅲ"),
             "b": ({"nh3n": 0.9, "tp": 0.15}, "river", None),
             "c": ({"tp": 0.06, "tn": 3.0, "ph": 7}, "lake", "Ⅱ"),
             "d": ({"water_temp": 20}, "river", "Ⅲ"),
             "e": ({}, "lake", None)}
    keys, codes, values = [], [], []
    for key, (found, _, _) in cases.items():
        keys += [key] * len(found)
        codes += list(found)
        values += list(found.values())
    many = surface_water.classify_many(keys, codes, values, {k: c[1] for k, c in cases.items()},
                                       {k: c[2] for k, c in cases.items()})
    for key, (found, water_body_type, target) in cases.items():
        alone = surface_water.classify(found, water_body_type, target)
        assert (many[key].water_class, many[key].parameter_classes, many[key].failing, many[key].main_pollutants) == \
            (alone.water_class, alone.parameter_classes, alone.failing, alone.main_pollutants)
    assert many["a"].main_pollutants == ["codmn", "nh3n", "tp"]   # 劣Ⅴ first, then 1.5 over Ⅲ before 1.25
    assert not many["d"].is_assessed and not many["e"].is_assessed
