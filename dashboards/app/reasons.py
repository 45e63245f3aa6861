"""Quarantine reasons in words a person reads, for the rules whose stored reason is a Great
Expectations rule name (the pipeline's newer rows carry their reason in words already)."""
from __future__ import annotations

RULES = {
    "expect_column_values_to_be_between": ("outside the instrument's range (e.g. −9999, a sensor's error code)",
                                           "超出仪器量程（如 −9999 等错误代码）"),
    "expect_column_values_to_not_be_null": ("a required field is empty", "必填字段为空"),
    "expect_column_values_to_be_in_set": ("a station or parameter the registry does not know", "未登记的站点或指标"),
    "expect_column_values_to_be_of_type": ("a value of the wrong type", "数据类型错误"),
    "expect_column_pair_values_a_to_be_greater_than_b": ("a time later than the file was fetched", "时间晚于获取时间"),
    "expect_column_values_to_match_regex": ("a malformed value", "格式错误"),
    "qc_duplicate": ("an exact copy of another row of the same batch", "同批次中完全重复的记录"),
    "qc_conflicting_duplicate": ("another value for the same station, parameter and time", "同一站点、指标、时间的冲突值"),
}


def readable(expectation: str | None, reason: str | None, lang: str = "en") -> str:
    """The stored reason where it is words already, else the rule's meaning (and the rule's name)."""
    expectation = expectation or ""
    reason = reason or ""
    if reason and not reason.startswith("expect_") and reason != expectation:
        return reason
    meaning = RULES.get(expectation) or next((v for k, v in RULES.items() if expectation.startswith(k)), None)
    if meaning is None:
        return reason or expectation
    words = meaning[1] if lang == "zh" else meaning[0]
    return f"{words} ({expectation})"
