"""Quarantine reasons as a reader reads them (dashboards/app/reasons.py): the instrument-range rule
shares its Great Expectations rule name with the fetch-time rule, and must not be told as it."""
from dashboards.app import reasons

PAIR_RULE = "expect_column_pair_values_a_to_be_greater_than_b"


def test_an_over_range_reading_is_told_as_over_range_in_chinese_not_as_a_late_time():
    stored = "above the instrument's upper limit for ph: 34.53 > 14"
    assert reasons.readable(PAIR_RULE, stored, "zh") == "高于仪器量程上限：pH 34.53 > 14"


def test_the_english_reason_names_the_parameter_not_its_code():
    stored = "below the instrument's lower limit for nh3n: −9999 < 0 mg/L"
    english = reasons.readable(PAIR_RULE, stored, "en")
    assert english.startswith("below the instrument's lower limit for ammonia") and "nh3n" not in english
    assert english.endswith("−9999 < 0 mg/L")


def test_the_fetch_time_rule_keeps_its_own_words():
    assert reasons.readable(PAIR_RULE, "", "zh") == "时间晚于获取时间"
