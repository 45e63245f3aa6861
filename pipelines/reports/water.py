"""Surface-water figures of the documents, each from the pipeline's own rule functions on the
valid day values the reader made: a section's month (`surface_water.classify_period(..., "month")`),
its year (`classify_period(monthly_means(...), "year")`), a river (`classify_river`), a
cross-boundary section (`cross_boundary.assess_month` / `assess_year`), a drinking-water source
(`drinking_water_exceedances`, the day rule's Table 2 verdict, `trophic_state`).

Completeness (地表水环境质量评价办法 2011, pipelines/reference/data/surface_water_completeness.csv)
is judged by the same `surface_water.period_means` that the classes are made from: an indicator
with fewer valid values than the period's rule is left out of the class, and where one of the
indicators a section must be assessed on is left out (pipelines/reference/data/required_indicators.csv,
or the agreement's own indicators), the period is reported incomplete: never compliant.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from pipelines import display
from pipelines.assessment import cross_boundary, daily, surface_water
from pipelines.reference import registry, standards
from pipelines.reports.document import MISSING

CHLA_UG_PER_MG = 1000   # chla is stored in mg/L (parameters.csv, as CNEMC prints it); the TLI takes µg/L
TREND_PARAMETERS = ("codmn", "nh3n", "tp", "do")
BETTER_WHEN_HIGHER = frozenset({"do"})
BOUNDARY_KINDS = {"provincial": "省界", "city": "市界", "national": "国界"}

COMPLIANT, FAILED, INCOMPLETE, NO_DATA = "达标", "未达标", "数据不全", "无有效数据"


def required_indicators() -> tuple[str, ...]:
    """One table with the assessment's status (pipelines/reference/data/required_indicators.csv)."""
    return surface_water.required_indicators()


def parameter_name(code: str) -> str:
    table = standards.parameters()
    return table.loc[code, "name_zh"] if code in table.index else code


def names(codes) -> str:
    return "、".join(parameter_name(c) for c in codes)


@dataclass
class PeriodResult:
    """A section's month or year: the verdict, the means it was made from, what is missing."""
    section_id: str
    verdict: surface_water.Verdict
    means: dict[str, float]
    required: tuple[str, ...]
    valid_days: int = 0
    months: int = 0
    missing: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.verdict.is_assessed:
            return NO_DATA
        if self.missing:
            # the indicators present already fail the target: the missing ones cannot make it comply
            return FAILED if self.verdict.is_compliant is False else INCOMPLETE
        if self.verdict.is_compliant is None:
            return MISSING
        return COMPLIANT if self.verdict.is_compliant else FAILED

    @property
    def is_complete(self) -> bool:
        return self.verdict.is_assessed and not self.missing

    @property
    def water_class(self) -> str | None:
        return self.verdict.water_class

    def class_text(self) -> str:
        """The class as a table prints it: marked when the period was incomplete."""
        if not self.verdict.is_assessed:
            return MISSING
        return self.water_class + ("（数据不全）" if self.missing else "")

    def note(self) -> str:
        if not self.verdict.is_assessed:
            return "本期无有效监测数据 (no valid values)"
        if self.missing:
            return f"数据不全：{names(self.missing)}无有效值 (incomplete: no valid {', '.join(self.missing)})"
        return ""


TARGET_STATUS_NOTE = ("水质目标标“（假定）”者为断面登记表中的假定目标（尚无正式目标文件），其评价结论标“（目标为假定）”；"
                      "目标未定的断面只评水质类别，不判是否达标（“目标未定”）。")


def target_status(section_id: str, first_day) -> str | None:
    """The registry's status of the section's target in force on the period's first day
    (official, assumed, unset; None where it cannot say): the documents write it beside each
    verdict (issue 23)."""
    from pipelines import target_status as statuses

    return statuses.registry_status(section_id, first_day)


def against_target(status: str, status_of_target: str | None) -> str:
    """是否达标 as the documents write it: 达标 / 未达标 against an official target, 未达标（目标为假定）
    against an assumed one, 目标未定 where the section has no target (never 未达标)."""
    if status_of_target == "unset" and status in (COMPLIANT, FAILED, INCOMPLETE, MISSING):
        return display.word("target_unset", "zh")
    if status in (COMPLIANT, FAILED):
        return display.assumed_target_text(status, "zh", status_of_target)
    return status


def exceedances(verdict: surface_water.Verdict) -> str:
    """主要超标项目（超标倍数）: the indicators worse than the target, largest multiple first, each
    with its multiple over the target class's limit (none for pH and DO)."""
    failing = sorted(verdict.failing, key=lambda f: -1.0 if f.multiple_vs_target is None else f.multiple_vs_target,
                     reverse=True)
    parts = [parameter_name(f.parameter) + ("" if f.multiple_vs_target is None else f"({f.multiple_vs_target:.2f}倍)")
             for f in failing]
    return "、".join(parts) or MISSING


def month_result(section_id: str, days: pd.DataFrame, target_class: str | None = None,
                 indicators=None, required=None) -> PeriodResult:
    """A section's month from its valid day values (parameter, value, day)."""
    frame = days[["parameter", "value"]]
    target = target_class or period_target(section_id, days, "month")
    verdict = surface_water.classify_period(frame, "month", registry.water_body_type(section_id), target, indicators)
    means = surface_water.period_means(frame, "month")
    required = tuple(required or required_indicators())
    return PeriodResult(section_id, verdict, means, required, valid_days=int(days["day"].nunique()),
                        missing=[c for c in required if c not in means])


def period_target(section_id: str, days: pd.DataFrame, period: str) -> str | None:
    """The section's target class in force at the end of the period its days belong to (a month: its
    last day; a year: 31 December, as the rule versions are taken), None when unset (issue 23): a
    month of 2025 is judged against 2025's target whatever the registry says today. No days: None
    (nothing to judge)."""
    from datetime import date, timedelta

    from pipelines.reference.targets import target_in_force

    if days.empty or "month" not in days.columns:
        return None
    year, month = (int(part) for part in str(days["month"].max()).split("-")[:2])
    last = date(year, 12, 31) if period == "year" else (date(year, month, 28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return target_in_force(section_id, last).target_class


def year_result(section_id: str, days: pd.DataFrame) -> PeriodResult:
    """A section's year from its valid day values (parameter, value, month): months below the
    month rule are dropped, then an indicator needs the year rule's number of monthly values."""
    monthly = surface_water.monthly_means(days[["parameter", "value", "month"]])
    target = period_target(section_id, days, "year")
    verdict = surface_water.classify_period(monthly, "year", registry.water_body_type(section_id), target)
    means = surface_water.period_means(monthly, "year")
    required = required_indicators()
    return PeriodResult(section_id, verdict, means, required, valid_days=int(days["day"].nunique()),
                        months=int(monthly["month"].nunique()) if len(monthly) else 0,
                        missing=[c for c in required if c not in means])


def drinking_water(result: PeriodResult) -> tuple[str, str, str]:
    """(是否达标, 表2项目, note) of a drinking-water source: the class against its target and the
    GB 3838 Table 2 items, by the day rule's own function (daily._add_drinking_water_items: an item
    over its limit fails the source, whatever the class)."""
    verdict = result.verdict
    row = {"failing_parameters": json.dumps([f.as_dict() for f in verdict.failing]), "standard": "",
           "is_compliant": verdict.is_compliant}
    daily._add_drinking_water_items(row, result.means)
    over = surface_water.drinking_water_exceedances(result.means)
    table2 = [c for c in surface_water.drinking_water_limits().index if c in result.means]
    if over:
        items = "、".join(f"{parameter_name(i['parameter'])}({i['multiple']:.2f}倍)" for i in over)
    elif table2:
        items = f"未超标（{names(table2)}）"
    else:
        items = "未监测 (not measured)"
    if result.status in (NO_DATA, INCOMPLETE) and row["is_compliant"] is not False:
        return result.status, items, result.note()
    if row["is_compliant"] is None:
        return MISSING, items, result.note()
    return (COMPLIANT if row["is_compliant"] else FAILED), items, result.note()


def drinking_water_rows(sections, results: dict, with_weights: bool) -> list[list]:
    """One row per drinking-water reservoir: name, city, target, class, status, Table 2 items,
    TLI(Σ) and trophic grade (and, with_weights, the indicators that weighed in), note."""
    table = registry.sections()
    rows = []
    for section_id in sections:
        section, result = table.loc[section_id], results[section_id]
        status, items, note = drinking_water(result)
        state = trophic(result) if registry.water_body_type(section_id) == "lake" else None
        row = [section["name_zh"], section["city"], section["target_class"], result.water_class or MISSING,
               status, items, None if state is None else round(state.index, 1), state.grade if state else MISSING]
        if with_weights:
            row.append(names(sorted(state.weights)) if state else MISSING)
        rows.append([*row, note])
    return rows


def section_status(section_id: str, result: PeriodResult) -> tuple[str, str]:
    """(是否达标, 主要超标项目（超标倍数）) of a section's period: a drinking-water source answers for
    the GB 3838 Table 2 items as well (as its days do)."""
    text = exceedances(result.verdict) if result.verdict.is_assessed else MISSING
    if not registry.sections().loc[section_id, "is_drinking_water_source"]:
        return result.status, text
    status, _items, _note = drinking_water(result)
    over = [f"{parameter_name(i['parameter'])}({i['multiple']:.2f}倍)"
            for i in surface_water.drinking_water_exceedances(result.means)]
    if over:
        text = "、".join(([] if text == MISSING else [text]) + over)
    return status, text


def trophic(result: PeriodResult):
    """TLI of a lake or reservoir from the period's means (chla converted to µg/L)."""
    values = {code: result.means[code] for code in surface_water.tli_parameters().index if code in result.means}
    if "chla" in values:
        values["chla"] = values["chla"] * CHLA_UG_PER_MG
    return surface_water.trophic_state(values)


def cross_boundary_month(section_id: str, month_label: str, days: pd.DataFrame):
    """cross_boundary.assess_month on the month's valid day values, with the completeness of the
    agreement's own indicators (or the required ones, under the default scheme)."""
    verdict = cross_boundary.assess_month(section_id, month_label, days[["parameter", "value"]])
    scheme = verdict.scheme
    means = surface_water.period_means(days[["parameter", "value"]], "month")
    required = tuple(scheme.indicators or required_indicators())
    result = PeriodResult(section_id, verdict.verdict, means, required, valid_days=int(days["day"].nunique()),
                          missing=[c for c in required if c not in means])
    return verdict, result


def incomplete_months(section_id: str, days: pd.DataFrame, required) -> list[str]:
    """The months (YYYY-MM) of `days` in which one of `required` has no valid value, and the months
    with no value at all are not in `days`: the caller knows which months it asked for."""
    out = []
    for month, rows in days.groupby("month", sort=True):
        means = surface_water.period_means(rows[["parameter", "value"]], "month")
        if any(c not in means for c in required):
            out.append(month)
    return out


def river_groups(section_ids) -> list[tuple[str, str, list[str]]]:
    """(kind, name, sections): each river's river-type sections, then each basin's."""
    sections = registry.sections().loc[list(section_ids)]
    rivers = sections[sections["station_type"] == "river"]
    groups = [("河流", name, list(group.index)) for name, group in rivers.groupby("water_body", sort=False)]
    groups += [("流域", name, list(group.index)) for name, group in rivers.groupby("basin", sort=False)]
    return groups


def jurisdictions(section_id: str) -> tuple[str, str, str]:
    section = registry.sections().loc[section_id]
    return (BOUNDARY_KINDS.get(section["boundary_kind"], section["boundary_kind"] or MISSING),
            section["upstream_jurisdiction"] or MISSING, section["downstream_jurisdiction"] or MISSING)


def scheme_text(scheme) -> tuple[str, str]:
    """(考核方案, 考核指标) as the tables print them."""
    indicators = names(scheme.indicators) if scheme.indicators else "全部评价指标"
    if scheme.scheme_id == "default":
        return "默认（无协议方案：断面自身目标，每月须达标）", indicators
    return f"{scheme.scheme_id}：{scheme.source}", indicators
