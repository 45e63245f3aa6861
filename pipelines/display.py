"""How a value is written for people: one decision per kind of value (class, verdict, rate,
exceedance multiples, number), in Chinese and English, so that every page, document, notice and
command output tells missing, insufficient, failed and compliant apart the same way
(shared/STYLE.md: "No data is one decision in one place").

Missing is never written as a programmer's word (nan, None, NaT, null) nor as a failure: a period
without a valid value reads 无数据 / no data, one with too few valid values 数据不足 / insufficient
data, a section-day lacking an indicator its method requires 指标不全 / indicators incomplete, and
a section without a target 目标未定 / target not set. 未达标 / failed is kept for real failures.

A verdict made against a target the registry only assumes (assessments.target_status 'assumed',
issue 23) says so wherever it is written: 未达标（目标为假定） / failed (assumed target); one whose
target is not set (target_status 'unset') is no verdict at all: 目标未定, never 未达标. Official
targets read as before. There is no silent default.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache

LANGUAGES = ("zh", "en")

WORDS = {
    "no_data": ("无数据", "no data"),
    "insufficient": ("数据不足", "insufficient data"),
    "indicators_incomplete": ("指标不全", "indicators incomplete"),
    "target_unset": ("目标未定", "target not set"),
    "compliant": ("达标", "compliant"),
    "failed": ("未达标", "failed"),
    "assumed_target": ("目标为假定", "assumed target"),
    "official_target": ("正式目标", "official target"),
    "assumed_target_kind": ("假定目标", "assumed target"),
    "dash": ("—", "—"),
}

# assessments.target_status (issue 23): what the target a verdict was made against rests on
TARGET_STATUSES = ("official", "assumed", "unset")

# the stored assessment statuses (assessments.status) and what a reader is told of each
STATUS_WORD = {
    "assessed": None,                      # the verdict says it: compliant or failed
    "insufficient data": "insufficient",
    "no data": "no_data",
    "indicators incomplete": "indicators_incomplete",
    "target unset": "target_unset",        # a section's target, where the registry has none
}


def word(key: str, lang: str = "zh") -> str:
    zh, en = WORDS[key]
    return en if lang == "en" else zh


def is_missing(value) -> bool:
    """None, NaN, NaT, pandas NA, an empty string: no value to show."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == "" or value.strip().lower() in ("nan", "none", "nat", "null", "<na>")
    try:
        return bool(value != value)  # NaN and NaT are not equal to themselves
    except (TypeError, ValueError):
        return True  # pd.NA: its comparison has no truth value


def class_text(water_class, lang: str = "zh", status: str | None = None) -> str:
    """The class as the standard writes it (Ⅲ, 劣Ⅴ, 二类), or why there is none."""
    if not is_missing(water_class):
        return str(water_class)
    return word(STATUS_WORD.get(status or "no data") or "no_data", lang)


def verdict_text(is_compliant, lang: str = "zh", status: str | None = "assessed",
                 target_status: str | None = None) -> str:
    """达标 / 未达标 only for an assessed period; otherwise the reason there is no verdict. Against an
    assumed target: 达标（目标为假定） / compliant (assumed target); without a target: 目标未定."""
    if status and status != "assessed":
        return word(STATUS_WORD.get(status) or "no_data", lang)
    if target_status == "unset":
        return word("target_unset", lang)
    if is_missing(is_compliant):
        return word("no_data", lang)
    return assumed_target_text(word("compliant" if bool(is_compliant) else "failed", lang), lang, target_status)


def target_status_of(row) -> str | None:
    """A stored row's target_status ('official', 'assumed', 'unset'), or None where it has none (a
    row written before issue 23, a frame without the column)."""
    value = row.get("target_status") if hasattr(row, "get") else None
    return None if is_missing(value) else str(value)


def assumed_target_text(verdict: str, lang: str = "zh", target_status: str | None = "assumed") -> str:
    """A verdict's words as written against an assumed target ('未达标' → '未达标（目标为假定）',
    'failed' → 'failed (assumed target)'); unchanged against an official one or an unknown status."""
    if target_status != "assumed":
        return verdict
    return f"{verdict} ({word('assumed_target', lang)})" if lang == "en" else f"{verdict}（{word('assumed_target', lang)}）"


def target_status_text(target_status, lang: str = "zh") -> str:
    """A target's status as a reader is told it: 正式目标 / 假定目标 / 目标未定; '—' where unknown."""
    key = {"official": "official_target", "assumed": "assumed_target_kind", "unset": "target_unset"}.get(
        None if is_missing(target_status) else str(target_status))
    return word(key, lang) if key else "—"


def target_text(target_class, lang: str = "zh", target_status: str | None = None) -> str:
    """A target as a table or notice writes it: 'Ⅲ', 'Ⅲ（假定）' / 'Ⅲ (assumed)' where the registry
    only assumes it, 目标未定 / target not set where there is none."""
    if target_status == "unset" or (is_missing(target_class) and target_status is not None):
        return word("target_unset", lang)
    if is_missing(target_class):
        return "—"
    if target_status == "assumed":
        return f"{target_class} (assumed)" if lang == "en" else f"{target_class}（假定）"
    return str(target_class)


def class_and_verdict(water_class, is_compliant, lang: str = "zh", status: str | None = "assessed",
                      target_status: str | None = None) -> str:
    """'Ⅳ · 未达标', 'Ⅱ · 达标', 'Ⅳ · 未达标（目标为假定）', 'Ⅱ · 目标未定' (the class is computed
    without a target), or just '无数据' / '数据不足' where there is no valid class."""
    if status == "target unset" and not is_missing(water_class):
        status, target_status = "assessed", "unset"
    if (status and status != "assessed") or is_missing(water_class):
        return class_text(None, lang, status if status != "assessed" else "no data")
    return f"{water_class} · {verdict_text(is_compliant, lang, status, target_status)}"


def rate_text(compliant: int, assessed: int, periods: int, lang: str = "zh") -> str:
    """A compliance rate over the periods that were assessed, with how many had data:
    '83% (10/12)' (10 of 12 periods compliant, all 12 assessed), '80% (8/10, 10/12 期有数据)' (two
    months without data left out of the rate), or '— (0/12, 无数据)'."""
    if assessed == 0:
        return f"— (0/{periods}, {word('no_data', lang)})"
    with_data = "" if assessed == periods else (
        f", {assessed}/{periods} " + ("periods with data" if lang == "en" else "期有数据"))
    return f"{compliant / assessed:.0%} ({compliant}/{assessed}{with_data})"


@lru_cache(maxsize=1)
def _parameter_names() -> dict[str, tuple[str, str]]:
    from pipelines.reference import standards

    table = standards.parameters()
    codes = table.index if "code" not in table.columns else table["code"]
    return {code: (row["name_zh"], row["name_en"]) for code, (_, row) in zip(codes, table.iterrows())}


def parameter_name(code: str, lang: str = "zh") -> str:
    names = _parameter_names().get(code)
    if names is None:
        return code
    return names[1] if lang == "en" else names[0]


def number_text(value, digits: int = 2, unit: str = "") -> str:
    """A number as a reader writes it; '—' where there is none."""
    if is_missing(value):
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isinf(number):
        return "—"
    text = f"{number:.{digits}f}"
    return f"{text} {unit}".strip()


def multiples_text(failing, lang: str = "zh") -> str:
    """The failing items with their exceedance multiples (超标倍数, (C − S) / S against the target,
    2011 method), as a bulletin writes them: '总磷 1.8倍；氨氮 0.3倍' / 'total phosphorus 1.8×;
    ammonia nitrogen 0.3×'. `failing` is the stored JSON list (or the list itself) of
    {"parameter", "multiple_vs_target", ...}; an empty list or missing value gives ''."""
    items = _failing_items(failing)
    parts = []
    for item in items:
        code = item.get("parameter") if isinstance(item, dict) else str(item)
        if not code:
            continue
        name = parameter_name(code, lang)
        multiple = item.get("multiple_vs_target") if isinstance(item, dict) else None
        if is_missing(multiple) or not isinstance(multiple, (int, float)):
            parts.append(name)
        else:
            parts.append(f"{name} {_multiple(multiple)}" + ("×" if lang == "en" else "倍"))
    return ("; " if lang == "en" else "；").join(parts)


def _multiple(multiple: float) -> str:
    """1.8, 0.3, 0.03: one decimal as bulletins print them, two where one would read as zero for a
    real exceedance (a value 3 % over its limit is a failure, never '0.0倍')."""
    text = f"{multiple:.1f}"
    return f"{multiple:.2f}" if text in ("0.0", "-0.0") and multiple != 0 else text


def _failing_items(failing) -> list:
    if isinstance(failing, (list, tuple)):
        return list(failing)
    if is_missing(failing):
        return []
    try:
        items = json.loads(failing)
    except (TypeError, ValueError):
        return [{"parameter": code} for code in str(failing).split(";") if code]
    return items if isinstance(items, list) else []


def text_or_dash(value) -> str:
    """A stored text, date or time as it is; '—' where there is none (nothing to say, such as the
    resolution day of an open episode), never None, nan or NaT."""
    if is_missing(value):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "—"
    return str(value)


def aqi_text(aqi, lang: str = "zh", status: str | None = "assessed") -> str:
    """A day's AQI as an integer (HJ 633 rounds it up to one), or why there is none: 无数据 /
    数据不足 as the stored status says."""
    if not is_missing(aqi) and (status in (None, "assessed")):
        try:
            return str(int(round(float(aqi))))
        except (TypeError, ValueError):
            return str(aqi)
    return class_text(None, lang, status if status not in (None, "assessed") else "no data")


# the pollutants as HJ 633 and the bulletins write them (codes, the same in both languages)
POLLUTANT_LABELS = {"pm2_5": "PM2.5", "pm10": "PM10", "o3": "O3", "o3_8h": "O3-8h", "o3_1h": "O3-1h",
                    "no2": "NO2", "so2": "SO2", "co": "CO"}


def pollutants_text(codes, lang: str = "zh") -> str:
    """Stored primary pollutants ('pm2_5;o3_8h') as a bulletin writes them ('PM2.5、O3-8h');
    '—' where there are none (an AQI of 50 or less has no primary pollutant)."""
    if is_missing(codes):
        return "—"
    parts = [POLLUTANT_LABELS.get(code.strip(), code.strip()) for code in str(codes).split(";") if code.strip()]
    return (", " if lang == "en" else "、").join(parts) or "—"


# --- agreements and their money (cross_boundary_agreements.csv, issue 23) ---------------------

AGREEMENT_VERDICTS = {
    "met": ("达到协议考核要求", "met the agreement's targets"),
    "not_met": ("未达到协议考核要求", "missed the agreement's targets"),
    "pending": ("待定（无数据或数据不全的月份可改变结论）", "pending (months without data could change it)"),
    "terms_unknown": ("不能评价（协议考核目标原文未取得）", "cannot be assessed (the agreement's target wording was not recovered)"),
    "no_data": ("无数据", "no data"),
}


def agreement_verdict_text(verdict: str, lang: str = "zh") -> str:
    """An agreement year's verdict (cross_boundary.agreement_verdict) in words."""
    zh, en = AGREEMENT_VERDICTS[verdict]
    return en if lang == "en" else zh


def required_rate_text(rate, lang: str = "zh") -> str:
    """The compliance rate an agreement demands ('83%'), or that its copies do not give it."""
    if is_missing(rate):
        return "not recovered (the agreement's target wording)" if lang == "en" else "未取得（协议考核目标原文未取得）"
    return f"{float(rate):.0%}"


def amount_text(yuan, lang: str = "zh", per: str | None = None) -> str:
    """A sum of money as the agreements write it: '1亿元', '3亿元', '5000万元' / 'CNY 100 million';
    per 'year' adds 每年 / a year, per 'agreement' says it is the whole agreement's sum. A sum the
    terms do not state reads 金额未载明 / amount not stated, never 0."""
    if is_missing(yuan):
        return "amount not stated" if lang == "en" else "金额未载明"
    yuan = float(yuan)
    if lang == "en":
        text = f"CNY {yuan / 1e6:g} million" if yuan >= 1e6 else f"CNY {yuan:g}"
        return text + {"year": " a year", "agreement": " for the whole agreement"}.get(per or "", "")
    if yuan >= 1e8:
        text = f"{yuan / 1e8:g}亿元"
    elif yuan >= 1e4:
        text = f"{yuan / 1e4:g}万元"
    else:
        text = f"{yuan:g}元"
    return {"year": f"每年{text}", "agreement": f"{text}（协议期合计）"}.get(per or "", text)
