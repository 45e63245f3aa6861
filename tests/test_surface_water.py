"""Worked examples for the 2011 assessment method's rules, computed by hand."""
import pandas as pd
import pytest

from pipelines.assessment import surface_water


def test_raw_values_are_compared_for_realtime_data_and_reported_decimals_for_period_means():
    assert surface_water.reported("codmn", 2.0036, "realtime_feed") == 2.0036   # class II, as CNEMC publishes
    assert surface_water.reported("codmn", 2.0036, "period_mean") == 2.0        # two decimals
    assert surface_water.reported("nh3n", 0.1235, "period_mean") == 0.124       # half to even: 5 after odd 3
    assert surface_water.reported("nh3n", 0.1245, "period_mean") == 0.124       # 5 after even 4 stays
    assert surface_water.classify({"codmn": 2.0036}).water_class == "Ⅱ"
    assert surface_water.classify({"codmn": 2.0036}, context="period_mean").water_class == "Ⅰ"


def test_main_pollutants_are_the_three_worst_ties_broken_by_the_multiple():
    # over class III: CODMn 16 (劣Ⅴ, 1.67×), NH3-N 2.5 (劣Ⅴ, 1.50×), TP 0.45 (劣Ⅴ, 1.25×), BOD5 7 (Ⅴ, 0.75×)
    verdict = surface_water.classify({"nh3n": 2.5, "tp": 0.45, "codmn": 16, "bod5": 7, "do": 6}, target_class="Ⅲ")
    assert verdict.water_class == "劣Ⅴ" and verdict.grade == "重度污染"
    assert verdict.main_pollutants == ["codmn", "nh3n", "tp"]   # 1.67 > 1.50 > 1.25; BOD5 is only Ⅴ


def test_no_main_pollutant_when_the_section_is_class_iii_or_better():
    assert surface_water.classify({"nh3n": 0.9, "tp": 0.15}).main_pollutants == []


def test_failing_indicators_carry_multiples_against_target_and_class_iii():
    verdict = surface_water.classify({"nh3n": 1.2, "tp": 0.15}, target_class="Ⅱ")
    failing = {f.parameter: f for f in verdict.failing}
    assert failing["nh3n"].multiple_vs_target == pytest.approx(1.4)      # (1.2 − 0.5) / 0.5
    assert failing["nh3n"].multiple_vs_class_iii == pytest.approx(0.2)   # (1.2 − 1.0) / 1.0
    assert failing["tp"].multiple_vs_target == pytest.approx(0.5)        # (0.15 − 0.1) / 0.1
    assert failing["tp"].multiple_vs_class_iii is None


def test_a_month_is_the_mean_of_its_valid_values():
    month = pd.DataFrame({"parameter": ["nh3n"] * 3 + ["do"], "value": [0.8, 1.4, None, 5.5]})
    verdict = surface_water.classify_period(month, "month", target_class="Ⅲ")
    assert verdict.water_class == "Ⅳ"        # (0.8 + 1.4) / 2 = 1.1
    assert verdict.is_compliant is False


def test_a_year_needs_eight_monthly_values_or_it_is_insufficient_data():
    def year(months):
        return pd.DataFrame({"parameter": "nh3n", "month": [f"2026-{m:02d}" for m in range(1, months + 1)],
                             "value": 0.4})
    assert not surface_water.classify_period(surface_water.monthly_means(year(7)), "year").is_assessed
    assert surface_water.classify_period(surface_water.monthly_means(year(8)), "year").water_class == "Ⅱ"


def test_a_river_with_fewer_than_five_sections_is_classed_on_mean_values():
    sections = {"a": {"nh3n": 0.4}, "b": {"nh3n": 1.2}, "c": {"nh3n": 0.5}}
    verdict = surface_water.classify_river(sections)
    assert verdict.method == "mean of sections" and verdict.water_class == "Ⅲ"  # mean 0.7


@pytest.mark.parametrize("nh3n_by_section, grade", [
    ([0.4] * 9 + [1.2], "优"),                        # Ⅰ–Ⅲ 90%
    ([0.4] * 15 + [1.2] * 5, "良好"),                 # Ⅰ–Ⅲ 75%
    ([0.4] * 7 + [1.2] * 2 + [2.5], "轻度污染"),      # Ⅰ–Ⅲ 70%, 劣Ⅴ 10%
    ([0.4] * 5 + [1.2] * 3 + [2.5] * 2, "中度污染"),  # Ⅰ–Ⅲ 50%, 劣Ⅴ 20%
])
def test_five_or_more_sections_are_graded_by_the_section_shares(nh3n_by_section, grade):
    verdict = surface_water.classify_river({str(i): {"nh3n": v} for i, v in enumerate(nh3n_by_section)})
    assert verdict.method == "section shares" and verdict.grade == grade


@pytest.mark.parametrize("share_good, share_bad, grade", [
    (0.90, 0.0, "优"), (0.8999, 0.0, "良好"), (0.75, 0.0, "良好"), (0.7499, 0.1999, "轻度污染"),
    (0.60, 0.20, "中度污染"), (0.50, 0.3999, "中度污染"), (0.60, 0.40, "重度污染"),
])
def test_grade_from_shares_on_each_boundary(share_good, share_bad, grade):
    assert surface_water.grade_from_shares(share_good, share_bad) == grade


def test_drinking_water_table_2_items():
    found = surface_water.drinking_water_exceedances({"sulfate": 250, "nitrate": 12, "mn": 0.15})
    assert [(f["parameter"], round(f["multiple"], 2)) for f in found] == [("nitrate", 0.2), ("mn", 0.5)]


def test_trophic_state_index_worked_check():
    # standards.md §2.4: the class III lake limits give TLI ≈ 48.0
    state = surface_water.trophic_state({"chla": 10, "tp": 0.05, "tn": 1.0, "sd": 1.0, "codmn": 4})
    assert state.index == pytest.approx(48.0, abs=0.05) and state.grade == "中营养"
    assert sum(state.weights.values()) == pytest.approx(1.0)


def test_trophic_state_renormalises_over_the_parameters_present():
    # chla and TP only: W = 1/1.7056 and 0.7056/1.7056
    state = surface_water.trophic_state({"chla": 10, "tp": 0.05})
    tli_chla = 10 * (2.5 + 1.086 * 2.302585)        # ln 10
    tli_tp = 10 * (9.436 + 1.624 * -2.995732)       # ln 0.05
    expected = (tli_chla * 1 + tli_tp * 0.7056) / 1.7056
    assert state.index == pytest.approx(expected, abs=1e-3)
    assert state.weights["chla"] == pytest.approx(1 / 1.7056)


@pytest.mark.parametrize("index, grade", [(29.99, "贫营养"), (30, "中营养"), (50, "中营养"), (50.01, "轻度富营养"),
                                          (60, "轻度富营养"), (70, "中度富营养"), (70.01, "重度富营养")])
def test_trophic_grades_on_their_boundaries(index, grade):
    assert surface_water.trophic_grade(index) == grade
