import pandas as pd
import pytest

from pipelines.assessment import cross_boundary, trends


def test_spearman_by_hand():
    # values 1 2 3 4 5 7 6: ranks 1 2 3 4 5 7 6, Σd² = 2, r_s = 1 − 12 / (7 × 48) = 0.9643
    trend = trends.spearman_trend([1, 2, 3, 4, 5, 7, 6])
    assert trend.statistic == pytest.approx(1 - 12 / 336)
    assert trend.critical_value == 0.714 and trend.direction == "rising"


def test_spearman_not_significant_below_the_critical_value():
    # ranks 3 1 4 2 5 against 1..5: Σd² = 4 + 1 + 1 + 4 + 0 = 10, r_s = 1 − 60/120 = 0.5 < 0.900
    trend = trends.spearman_trend([3, 1, 4, 1.5, 5])
    assert trend.statistic == pytest.approx(0.5) and trend.direction == "no significant trend"


def test_falling_series():
    assert trends.spearman_trend([9, 8, 7, 6, 5, 4]).direction == "falling"


def test_beyond_the_table_the_approximation_says_so():
    critical, basis = trends.spearman_critical(12)
    assert 0.49 < critical < 0.60 and "UNVERIFIED" in basis


def test_mann_kendall_and_seasonal_kendall():
    rising = [0.2 + 0.01 * i for i in range(36)]
    assert trends.mann_kendall(rising).direction == "rising"
    seasonal = [0.5 + 0.2 * (m % 12 in (5, 6, 7)) - 0.005 * m for m in range(48)]
    result = trends.seasonal_kendall(seasonal)
    assert result.method == "seasonal-kendall" and result.direction == "falling"
    flat = [0.3, 0.31, 0.29, 0.3, 0.32, 0.28, 0.3, 0.31, 0.29, 0.3]
    assert trends.mann_kendall(flat).direction == "no significant trend"


def test_the_jiuzhou_scheme_assesses_its_five_indicators_only():
    scheme = cross_boundary.scheme_for("jiuzhou-wenchequiao", 2019)
    assert scheme.indicators == ("ph", "codmn", "nh3n", "tp", "bod5") and scheme.required_monthly_compliance == 0.83
    month = pd.DataFrame({"parameter": ["nh3n", "tp", "do"], "value": [0.8, 0.15, 2.5]})  # DO 劣Ⅴ but not in the scheme
    verdict = cross_boundary.assess_month("jiuzhou-wenchequiao", "2019-06", month)
    assert verdict.verdict.water_class == "Ⅲ" and verdict.verdict.is_compliant
    assert verdict.answerable_jurisdiction == "广西壮族自治区 玉林市"


def test_other_sections_use_the_default_scheme_and_their_own_target():
    scheme = cross_boundary.scheme_for("pingerhe-pingerguan", 2026)
    assert scheme.indicators is None and scheme.target_class == "Ⅱ"


def _year(compliant_months: int):
    rows = []
    for month in range(1, 13):
        rows.append({"parameter": "nh3n", "month": f"2019-{month:02d}",
                     "value": 0.8 if month <= compliant_months else 1.2})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("compliant_months, meets", [(10, True), (9, False)])
def test_yearly_compliance_rate_against_the_2019_rate(compliant_months, meets):
    # 10/12 = 83.3% ≥ 83%; 9/12 = 75% < 83%. The annual mean stays within class III in both.
    result = cross_boundary.assess_year("jiuzhou-wenchequiao", 2019, _year(compliant_months))
    assert result.months_assessed == 12 and result.months_compliant == compliant_months
    assert result.annual.water_class == "Ⅲ"
    assert result.meets_agreement is meets


def test_month_to_date_rows_follow_each_sections_scheme():
    from datetime import date

    rollups = pd.DataFrame([
        {"station_id": "jiuzhou-wenchequiao", "parameter": p, "averaging_period": "PT0S", "mean": v, "values_assessable": 30}
        for p, v in (("nh3n", 0.9), ("tp", 0.15), ("do", 2.5))] + [
        {"station_id": "nanliu-hengtang", "parameter": p, "averaging_period": "PT0S", "mean": v, "values_assessable": 30}
        for p, v in (("nh3n", 0.9), ("do", 2.5))])
    rows = {r["station_id"]: r for r in cross_boundary.month_to_date_rows(rollups, date(2019, 6, 1))}
    assert rows["jiuzhou-wenchequiao"]["water_class"] == "Ⅲ"          # DO is not a 九洲江 scheme indicator
    assert "jiuzhou-gd-gx" in rows["jiuzhou-wenchequiao"]["standard"]
    assert rows["nanliu-hengtang"]["water_class"] == "Ⅴ" and not rows["nanliu-hengtang"]["is_compliant"]
    assert rows["huanghua-boundary"]["status"] == "no data"   # no valid value in the month: no data, not too few
