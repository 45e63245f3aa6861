"""Quarantine reasons in words a person reads, in the page's language. The pipeline stores each
quarantined value's rule (a Great Expectations rule name or the reader's own rule) and a reason in
English words; a rule's name is a programmer's word and never shown, and the Chinese view reads the
rule's meaning in Chinese (the English reason, with its particulars, is the English view's)."""
from __future__ import annotations

import re

from pipelines import display

RULES = {  # rule: (English, 中文)
    "expect_column_values_to_be_between": ("outside the instrument's range (e.g. −9999, a sensor's error code)",
                                           "超出仪器量程（如 −9999 等错误代码）"),
    "expect_column_values_to_not_be_null": ("a required field is empty", "必填字段为空"),
    "expect_column_values_to_be_in_set": ("a station or parameter the registry does not know", "未登记的站点或指标"),
    "expect_column_values_to_be_of_type": ("a value of the wrong type", "数据类型错误"),
    "expect_column_pair_values_a_to_be_greater_than_b": ("a time later than the file was fetched", "时间晚于获取时间"),
    "expect_column_values_to_match_regex": ("a malformed value", "格式错误"),
    "qc_duplicate": ("an exact copy of another row of the same batch", "同批次中完全重复的记录"),
    "qc_conflicting_duplicate": ("another value for the same station, parameter and time", "同一站点、指标、时间的冲突值"),
    # the file readers' own rules (pipelines/sources/files.py)
    "time": ("a time that could not be read", "时间无法识别"),
    "unreadable_time": ("a time that could not be read", "时间无法识别"),
    "number": ("a value that is not a number", "数值无法识别"),
    "value_truncated": ("a value cut short in the feed", "数值被截断"),
    "no_reading": ("a row without a reading", "无监测值的记录"),
    "record_not_a_list": ("a record of the wrong shape", "记录格式错误"),
}


# the instrument-range rule shares its GX rule name (a pair of columns) with the fetch-time rule, so
# it is told apart by its stored words (pipelines/quality/validation.py _in_words)
INSTRUMENT_LIMIT = re.compile(r"^(below|above) the instrument's (?:lower|upper) limit for (\w+): (.+)$")
INSTRUMENT_WORDS = {"below": ("below the instrument's lower limit", "低于仪器量程下限"),
                    "above": ("above the instrument's upper limit", "高于仪器量程上限")}


def _instrument_limit(reason: str, lang: str) -> str | None:
    """'above the instrument's upper limit for ph: 34.53 > 14' as a reader writes it, the parameter
    named, not coded: '高于仪器量程上限：pH 34.53 > 14'."""
    matched = INSTRUMENT_LIMIT.match(reason)
    if matched is None:
        return None
    side, code, particulars = matched.groups()
    english, chinese = INSTRUMENT_WORDS[side]
    name = display.parameter_name(code, lang)
    return f"{chinese}：{name} {particulars}" if lang == "zh" else f"{english} for {name}: {particulars}"


def readable(expectation: str | None, reason: str | None, lang: str = "en") -> str:
    """English: the stored reason where it is words, else the rule's meaning. Chinese: the rule's
    meaning in Chinese, else the stored reason (a rule this table does not know yet)."""
    expectation = expectation or ""
    reason = reason or ""
    limit = _instrument_limit(reason, lang)
    if limit is not None:
        return limit
    meaning = RULES.get(expectation) or next((v for k, v in RULES.items() if expectation.startswith(k)), None)
    words_stored = bool(reason) and not reason.startswith("expect_") and reason != expectation
    if lang == "zh" and meaning is not None:
        return meaning[1]
    if words_stored:
        return reason
    if meaning is not None:
        return meaning[0]
    return reason or expectation or "—"
