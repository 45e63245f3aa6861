"""The one place where missing, insufficient, failed and compliant are worded (pipelines/display.py)."""
import math

import pandas as pd
import pytest

from pipelines import display


@pytest.mark.parametrize("missing", [None, float("nan"), pd.NaT, pd.NA, "", "nan", "None"])
def test_a_missing_class_reads_no_data_never_a_failure(missing):
    assert display.class_and_verdict(missing, False, "zh") == "无数据"
    assert display.class_and_verdict(missing, None, "en") == "no data"


def test_an_assessed_class_reads_with_its_verdict():
    assert display.class_and_verdict("Ⅳ", False, "zh") == "Ⅳ · 未达标"
    assert display.class_and_verdict("Ⅱ", True, "en") == "Ⅱ · compliant"


def test_insufficient_data_is_its_own_word():
    assert display.class_and_verdict("Ⅳ", False, "zh", status="insufficient data") == "数据不足"
    assert display.verdict_text(None, "en", status="indicators incomplete") == "indicators incomplete"


def test_a_rate_counts_only_the_periods_with_data():
    assert display.rate_text(10, 12, 12, "zh") == "83% (10/12)"
    assert display.rate_text(8, 10, 12, "zh") == "80% (8/10, 10/12 期有数据)"
    assert display.rate_text(0, 0, 12, "en") == "— (0/12, no data)"


def test_multiples_are_written_as_a_bulletin_writes_them():
    stored = '[{"parameter": "tp", "multiple_vs_target": 1.8}, {"parameter": "nh3n", "multiple_vs_target": 0.3}]'
    assert display.multiples_text(stored, "zh") == "总磷 1.8倍；氨氮 0.3倍"
    english = display.multiples_text(stored, "en")
    assert english.endswith("0.3×") and "{" not in english and "tp" not in english.split()[0]
    assert display.multiples_text(None) == display.multiples_text("[]") == ""


def test_numbers_never_print_nan_or_inf():
    assert display.number_text(float("nan")) == "—"
    assert display.number_text(math.inf) == "—"
    assert display.number_text(1.234, 1, "mg/L") == "1.2 mg/L"


def test_a_small_real_exceedance_never_reads_as_zero():
    # TP at 0.206 mg/L against a class Ⅲ limit of 0.2: (0.206 − 0.2) / 0.2 = 0.03 times over
    assert display.multiples_text('[{"parameter": "tp", "multiple_vs_target": 0.03}]', "zh") == "总磷 0.03倍"
