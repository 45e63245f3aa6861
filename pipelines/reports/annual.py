"""The annual assessment (年度考核): each section's and river's class of the year (the river rule:
fewer than 5 sections by their mean, 5 or more by the shares of their classes), the compliance of
each cross-boundary section against its agreement, the drinking-water sources, trends, and the air
of each city against GB 3095 class Ⅱ, for one year, from the warehouse."""
from __future__ import annotations

import math
from datetime import date, datetime, timezone

import pandas as pd

from pipelines.assessment import cross_boundary, surface_water, trends
from pipelines.reference import registry, standards
from pipelines.reports import air, figures
from pipelines.reports import water as w
from pipelines.reports.bulletin import cities, city_of_bureau, in_scope
from pipelines.reports.document import (
    MISSING, Column, Document, Figure, Table, data_status, fingerprint, inputs, lineage_tables, stamp_of,
    unverified_assumptions,
)
from pipelines.reports.reading import Month, WarehouseReader, months_of

RIVER_METHODS = {"mean of sections": "断面均值法（<5个断面）", "section shares": "断面比例法（≥5个断面）"}
DIRECTIONS = {"rising": "上升", "falling": "下降", "no significant trend": "无显著趋势"}
MIN_SEASONAL_YEARS = 2


def reads(year: int) -> list[tuple[str, Month]]:
    """What the assessment reads, (domain, month): the water and air of the year and the year before (上年)."""
    return [(domain, m) for m in months_of(year - 1) + months_of(year) for domain in ("air", "water")]


def _direction(trend, code: str) -> str:
    text = DIRECTIONS[trend.direction]
    if trend.direction == "no significant trend":
        return text
    better = (trend.direction == "rising") == (code in w.BETTER_WHEN_HIGHER)
    return f"{text}（水质{'变好' if better else '变差'}）"


def _counts_text(counts: dict) -> str:
    return "、".join(f"{k}类{n}个" for k, n in counts.items() if n) or MISSING


def section_tables(reader, year, sections, now, before) -> Table:
    from pipelines import display

    table = registry.sections()
    rows = []
    for section_id in sections:
        section, result = table.loc[section_id], now[section_id]
        status, exceeding = w.section_status(section_id, result)
        target_status = w.target_status(section_id, date(year, 1, 1))  # an assumed target is said to be one
        rows.append([section["name_zh"], section["water_body"], section["city"],
                     display.target_text(section["target_class"], "zh", target_status),
                     result.water_class or MISSING, before[section_id].class_text(),
                     w.against_target(status, target_status), exceeding, result.months, result.note()])
    rules = surface_water.completeness()
    return Table("sections_annual", "断面年度水质", f"表1 {year}年地表水断面年度水质",
                 [Column("断面名称"), Column("所在水体"), Column("所在地市"), Column("水质目标"), Column("年度水质类别"),
                  Column("上年类别"), Column("是否达标"), Column("主要超标项目（超标倍数）"), Column("有效月数", "integer"),
                  Column("备注")], rows,
                 [f"年均值为各月均值的算术平均；某指标有效月均值少于 {rules.loc['year', 'min_values']} 个时不参与年度评价 "
                  f"({rules.loc['year', 'status']})，必评指标（{w.names(w.required_indicators())}）缺年均值时“数据不全”。",
                  "超标倍数以水质目标类别的标准限值计。", w.TARGET_STATUS_NOTE])


def river_table(year, sections, now) -> Table:
    rows = []
    for kind, name, ids in w.river_groups(sections):
        values = {s: {c: v for c, v in now[s].means.items() if c in standards.assessment_indicators()}
                  for s in ids if now[s].is_complete}
        if not values:
            rows.append([kind, name, len(ids), 0, MISSING, MISSING, MISSING, None, None, MISSING])
            continue
        verdict = surface_water.classify_river(values)
        counts = verdict.class_counts or {}
        rows.append([kind, name, len(ids), len(values), RIVER_METHODS.get(verdict.method, verdict.method),
                     verdict.water_class or MISSING, verdict.grade or MISSING, verdict.share_i_iii,
                     verdict.share_worse_than_v, _counts_text(counts)])
    return Table("rivers_annual", "河流年度水质", f"表2 {year}年主要河流与流域水质状况",
                 [Column("类型"), Column("名称"), Column("断面数", "integer"), Column("参评断面数", "integer"),
                  Column("评价方法"), Column("水质类别（均值法）"), Column("水质状况"), Column("Ⅰ–Ⅲ类比例", "percent"),
                  Column("劣Ⅴ类比例", "percent"), Column("断面类别构成")], rows,
                 ["地表水环境质量评价办法（试行）2011：断面少于5个时以各断面指标均值按单因子评价；5个及以上时按断面类别比例定级"
                  "（Ⅰ–Ⅲ类≥90%优，75%–90%良好，<75%且劣Ⅴ<20%轻度污染，20%–40%中度污染，≥40%重度污染；river_grades.csv）。",
                  "参评断面为年度数据完整的河流型断面。"])


def cross_boundary_table(reader, year, sections) -> tuple[Table, list]:
    table = registry.sections()
    rows, rates = [], []
    for section_id in sections:
        section = table.loc[section_id]
        days = reader.section_days(section_id, months_of(year))
        scheme = cross_boundary.scheme_for(section_id, year)
        scheme_name, indicators = w.scheme_text(scheme)
        kind, upstream, downstream = w.jurisdictions(section_id)
        required = tuple(scheme.indicators or w.required_indicators())
        incomplete = w.incomplete_months(section_id, days, required)
        absent = [m.label for m in months_of(year) if m.label not in set(days["month"])]
        yearly = cross_boundary.assess_year(section_id, year, days[["parameter", "value", "month"]],
                                            required=required) if len(days) else None  # 数据不全 months not counted
        conclusion = MISSING if yearly is None else CONCLUSIONS[cross_boundary.agreement_verdict(yearly)[0]]
        remarks = []
        if incomplete:
            remarks.append(f"数据不全月份：{', '.join(incomplete)}")
        if absent:
            remarks.append(f"无数据月份：{', '.join(absent)}")
        annual_verdict = yearly.annual if yearly else None
        rows.append([section["name_zh"], section["water_body"], kind, upstream, downstream, scheme_name, indicators,
                     scheme.target_class, (annual_verdict.water_class if annual_verdict else None) or MISSING,
                     MISSING if annual_verdict is None or annual_verdict.is_compliant is None
                     else ("达标" if annual_verdict.is_compliant else "未达标"),
                     yearly.months_assessed if yearly else 0, yearly.months_compliant if yearly else 0,
                     yearly.compliance_rate if yearly else None, scheme.required_monthly_compliance, conclusion,
                     "；".join(remarks)])
        rates.append((section["name_zh"], yearly.compliance_rate if yearly else None, scheme.required_monthly_compliance))
    return Table("cross_boundary_annual", "跨界断面年度考核", f"表3 {year}年跨界断面水质考核结果",
                 [Column("断面名称"), Column("所在水体"), Column("交界类型"), Column("上游行政区"), Column("下游行政区"),
                  Column("考核方案"), Column("考核指标"), Column("水质目标"), Column("年均值水质类别"),
                  Column("年均值是否达标"), Column("评价月数", "integer"), Column("达标月数", "integer"),
                  Column("月均值达标率", "percent"), Column("协议要求达标率", "percent"), Column("是否达到协议要求"),
                  Column("备注")], rows,
                 ["达到协议要求 = 月均值达标率不低于协议要求且年均值达到目标类别 (cross_boundary.agreement_verdict)；"
                  "无数据或数据不全的月份既不算达标也不算未达标：这些月份全部未达标也能达到要求时为“达到”，"
                  "全部达标也达不到要求（或年均值未达到目标）时为“未达到”，否则为“待定（数据不全）”。",
                  "九洲江粤桂协议：2018年75%、2019年83%、2020年100%；其他断面按默认方案（每月达标）。"]), rates


CONCLUSIONS = {"met": "达到", "not_met": "未达到", "pending": "待定（数据不全）",
               "terms_unknown": "不能评价（协议考核目标未取得）", "no_data": "不能评价"}
IMPLIED = "按协议条款推算 (implied by the terms as recorded)"
NOT_IMPLIED = {"pending": "考核结论待定", "terms_unknown": "协议考核目标原文未取得", "no_data": "考核断面本年无数据"}


def agreement_tables(reader, year, sections) -> list[Table]:
    """表3-1 each compensation agreement in force in the year, at its assessment section: the
    compliance rate, the annual-mean class, the verdict and the money its terms as recorded imply
    (cross_boundary_agreements.csv); 表3-2 the monthly verdicts behind it. A year outside every
    agreement, or an agreement whose section is outside the document's scope, says so."""
    from pipelines import display

    names = registry.sections()["name_zh"]
    rows, months = [], []
    in_force = cross_boundary.agreements_in(year)
    for agreement in in_force:
        if agreement.section_id not in sections:
            continue
        days = reader.section_days(agreement.section_id, months_of(year))
        outcome = cross_boundary.agreement_outcome(agreement, year, days[["parameter", "value", "month"]]
                                                   if len(days) else days)
        rows.append(_agreement_row(outcome, names, display))
        months += [_agreement_month_row(outcome, month, display) for month in outcome.months]
    if not rows:
        known = cross_boundary.agreements()
        why = (f"{year}年不在任何已登记补偿协议的有效期内" if not in_force
               else "已登记协议的考核断面不在本报告范围内")
        after = (f"；{known[-1].valid_to.year}年以后未见公开的协议" if known and year > known[-1].valid_to.year else "")
        rows.append([why, *[MISSING] * (len(AGREEMENT_COLUMNS) - 2),
                     f"已登记的协议：{'；'.join(a.name_zh for a in known)}{after}"])
    shown = [a for a in in_force if a.section_id in sections]
    matches = [f"{a.section_printed}是否即{names.get(a.section_id, a.section_id)}（更名）未经核实，"
               f"本表按{names.get(a.section_id, a.section_id)}的数据评价" for a in shown if a.section_match != "name"]
    return [
        Table("agreements_annual", "补偿协议考核与资金", f"表3-1 {year}年跨界补偿协议考核结果与资金（按协议条款推算）",
              AGREEMENT_COLUMNS, rows,
              ["月均值达标率只计有评价结论的月份（pipelines.display.rate_text：达标月数/评价月数，及有数据的月数）；"
               "无数据或数据不全的月份既不算达标也不算未达标，可改变结论时记“待定”。",
               f"资金一栏为{IMPLIED}：协议条款取自公开报道（cross_boundary_agreements.csv，各条注明来源与可信度），"
               "并非实际拨付记录；条款未取得之处写明未取得，不作推测。",
               "协议所载考核断面与登记断面的对应见“评价所用登记断面”及说明" + "".join(f"；{m}" for m in matches) + "。"]),
        Table("agreement_months", "补偿协议逐月", f"表3-2 {year}年补偿协议考核断面逐月评价",
              [Column("协议"), Column("月份"), Column("月均值水质类别"), Column("是否达标"), Column("主要超标项目（超标倍数）"),
               Column("计入达标率")], months or [[MISSING, MISSING, MISSING, MISSING, MISSING, MISSING]],
              ["各月按协议考核指标的月均值评价（cross_boundary.assess_month）；无数据的月份不计入达标率，也不算未达标。"]),
    ]


AGREEMENT_COLUMNS = [
    Column("协议"), Column("考核断面（协议所载）"), Column("评价所用登记断面"), Column("考核指标"), Column("水质目标（年均值）"),
    Column("评价月数", "integer"), Column("达标月数", "integer"), Column("月均值达标率"), Column("协议要求达标率"),
    Column("年均值水质类别"), Column("年均值是否达标"), Column("考核结论"), Column("资金（按协议条款推算）"),
    Column("中央奖励"), Column("条款来源与可信度"), Column("说明"),
]


def _agreement_row(outcome, names, display) -> list:
    agreement, scheme, yearly = outcome.agreement, outcome.scheme, outcome.yearly
    assumed = scheme.target_status == "assumed"
    target = f"{scheme.target_class}（假定）" if assumed else scheme.target_class
    annual = yearly.annual if yearly else None
    annual_verdict = MISSING if annual is None or annual.is_compliant is None else (
        display.word("compliant" if annual.is_compliant else "failed"))
    if annual_verdict != MISSING and assumed:
        annual_verdict += "（目标为假定）"
    required = display.required_rate_text(scheme.required_monthly_compliance)
    section = f"{names.get(agreement.section_id, agreement.section_id)} ({agreement.section_id})"
    if agreement.section_match != "name":
        section += f"；假定（{agreement.section_printed}不在登记册中）"
    remarks = [agreement.section_note]
    absent = [m.month for m in outcome.months if m.verdict is None]
    uncounted = [m.month for m in outcome.months if m.verdict is not None and not m.counted]
    if absent:
        remarks.append(f"无数据月份：{', '.join(absent)}")
    if uncounted:
        remarks.append(f"数据不足或数据不全月份：{', '.join(uncounted)}")
    if agreement.reported_outcomes:
        remarks.append(f"公开报道的结果：{agreement.reported_outcomes}")
    return [agreement.name_zh, agreement.section_printed, section, w.names(scheme.indicators or ()), target,
            yearly.months_assessed if yearly else 0, yearly.months_compliant if yearly else 0,
            display.rate_text(yearly.months_compliant if yearly else 0, yearly.months_assessed if yearly else 0, 12),
            required, (annual.water_class if annual else None) or MISSING, annual_verdict,
            display.agreement_verdict_text(outcome.verdict), _transfer_text(outcome, display),
            _central_text(outcome, display),
            f"{agreement.status}；资金方向：{agreement.direction_status}；中央奖励：{agreement.central_award_status}；"
            f"来源：{agreement.source}",
            "；".join(remarks)]


def _transfer_text(outcome, display) -> str:
    """The money the terms as recorded name for the verdict: payer → payee and the sum."""
    agreement = outcome.agreement
    fund = f"两省（区）各出资{display.amount_text(agreement.fund_each_yuan, per=agreement.fund_per)}"
    if outcome.verdict not in ("met", "not_met"):
        return f"不能推算：{NOT_IMPLIED[outcome.verdict]}；条款：{fund}"
    transfer = outcome.transfer
    if transfer is None:
        return f"不能推算：协议{'达到' if outcome.verdict == 'met' else '未达到'}考核要求时的拨付方向未取得；条款：{fund}"
    if transfer.per != "year":
        return (f"不能按年推算：{transfer.payer} → {transfer.payee} "
                f"{display.amount_text(transfer.amount_yuan, per=transfer.per)}，逐年拨付办法未取得")
    return f"{IMPLIED}：{transfer.payer} → {transfer.payee} {display.amount_text(transfer.amount_yuan)}"


def _central_text(outcome, display) -> str:
    agreement = outcome.agreement
    award = (f"{agreement.central_award_condition}；拨付对象：{agreement.central_award_recipient}；"
             f"金额：{display.amount_text(agreement.central_award_yuan)}")
    state = {True: "条件满足（达到考核目标）", False: "条件未满足（未达到考核目标）"}.get(outcome.central_award, "不能判断")
    return f"{state}：{award}"


def _agreement_month_row(outcome, month, display) -> list:
    verdict = month.verdict
    if verdict is None:
        return [outcome.agreement.name_zh, month.month, MISSING, display.word("no_data"), MISSING, "否（无数据）"]
    result = verdict.verdict
    if not result.is_assessed:
        words = display.word("insufficient")
    elif not month.counted:
        words = display.word("indicators_incomplete")
    else:
        words = display.word("compliant" if result.is_compliant else "failed")
        if outcome.scheme.target_status == "assumed":
            words += "（目标为假定）"
    counted = "是" if month.counted else f"否（{words}）"
    exceeding = w.exceedances(result) if result.is_assessed else MISSING
    return [outcome.agreement.name_zh, month.month, result.water_class or MISSING, words, exceeding or MISSING, counted]


def drinking_table(year, sections, now) -> Table:
    rows = w.drinking_water_rows(sections, now, with_weights=False)
    return Table("drinking_annual", "饮用水源地年度", f"表4 {year}年集中式饮用水源地（湖库）水质",
                 [Column("水源地名称"), Column("所在地市"), Column("水质目标"), Column("年度水质类别"), Column("是否达标"),
                  Column("GB 3838 表2项目（超标倍数）"), Column("年均综合营养状态指数 TLI(Σ)", "decimal1"),
                  Column("营养状态"), Column("备注")], rows,
                 ["表2项目与 TLI 以年均值计 (总站生字〔2001〕090号)。"])


def trends_table(year, sections, reader) -> Table:
    """Spearman on the year's monthly means (the monthly values the annual class is made from);
    seasonal Kendall on the warehouse's stored monthly rollup means, every year up to this one
    (read through the reader, so that an issue keeps them and is rebuilt from them)."""
    stored = reader.monthly_rollups(w.TREND_PARAMETERS, sections, year).copy()
    stored["period_start"] = pd.to_datetime(stored["period_start"])
    table = registry.sections()
    rows = []
    for section_id in sections:
        monthly = surface_water.monthly_means(reader.section_days(section_id, months_of(year))[["parameter", "value", "month"]])
        for code in w.TREND_PARAMETERS:
            series = monthly[monthly["parameter"] == code].sort_values("month")["value"].tolist()
            spearman = trends.spearman_trend(series) if len(series) >= 5 else None
            history = stored[(stored["station_id"] == section_id) & (stored["parameter"] == code)]
            kendall, years, note = None, 0, "仓库中无该指标的月汇总 (no stored monthly rollups)"
            if len(history):
                note = ""
                first = history["period_start"].min()
                index = pd.date_range(f"{first.year}-01-01", f"{year}-12-01", freq="MS")
                values = history.set_index("period_start")["mean"].reindex(index)
                years = values.groupby(values.index.year).count().gt(0).sum()
                if years >= MIN_SEASONAL_YEARS:
                    kendall = trends.seasonal_kendall(values.tolist())
                else:
                    note = f"季节性Kendall需至少{MIN_SEASONAL_YEARS}年数据"
            if spearman is None:
                note = "；".join(filter(None, [f"年内有效月均值{len(series)}个，Spearman需至少5个", note]))
            rows.append([table.loc[section_id, "name_zh"], w.parameter_name(code), len(series),
                         None if spearman is None else spearman.statistic,
                         None if spearman is None else spearman.critical_value,
                         MISSING if spearman is None else _direction(spearman, code), int(years),
                         None if kendall is None else kendall.statistic,
                         None if kendall is None or kendall.p_value is None or math.isnan(kendall.p_value)
                         else kendall.p_value,
                         MISSING if kendall is None else _direction(kendall, code), note])
    return Table("trends", "趋势分析", f"表5 {year}年断面水质变化趋势",
                 [Column("断面名称"), Column("指标"), Column("有效月数", "integer"), Column("Spearman秩相关系数 rₛ", "decimal3"),
                  Column("临界值 W_p（α=0.05）", "decimal3"), Column("年内趋势"), Column("季节性Kendall年数", "integer"),
                  Column("Kendall τ", "decimal3"), Column("p值", "decimal3"), Column("多年趋势"), Column("说明")], rows,
                 ["年内趋势：年内各月均值对时间序号的 Spearman 秩相关 (trends.spearman_trend)，|rₛ| ≥ W_p 为显著；"
                  "n > 10 的临界值为 t 近似 (UNVERIFIED)。",
                  "多年趋势：仓库逐月汇总均值 (rollups) 的季节性 Mann-Kendall 检验 (trends.seasonal_kendall, α=0.05)。"])


def air_table(reader, year, scope_cities) -> tuple[Table, dict, dict, dict]:
    """The cities' air of the year: good days counted day by day (air.city_period), the HJ 663
    statistics, attainment, composite index and rank as the pipeline stores them
    (air.annual_statistics: table air_annual_statistics, pipelines.assessment.air_annual)."""
    from pipelines import display

    now_days = pd.concat([reader.air_city_days(m) for m in months_of(year)], ignore_index=True)
    before_days = pd.concat([reader.air_city_days(m) for m in months_of(year - 1)], ignore_index=True)
    statistics = air_quality_statistics(year)
    columns = [Column("城市"), Column("有效天数", "integer"), Column("年度统计有效性"), Column("优良天数比例", "percent"),
               Column("上年有效天数", "integer"), Column("上年优良天数比例", "percent"),
               Column("优良天数比例变化（百分点）", "points")]
    for code, label, kind, _stat in statistics:
        columns.append(Column(label, "decimal1" if code == "co" else "integer"))
    columns += [Column("超标项目"), Column("综合指数", "decimal2"), Column("综合指数排名", "integer"), Column("首要污染物"),
                Column("GB 3095 二级达标情况"), Column("评价标准")]
    rows, now, before = [], {}, {}
    annual_rows = air.annual_statistics(reader, year)
    for city in cities():
        now[city] = air.city_period(city, now_days, date(year, 12, 31))
        before[city] = air.city_period(city, before_days, date(year - 1, 12, 31))
    assessments = {city: annual_rows.get(city) for city in cities()}
    for city in scope_cities:
        result, period, last = assessments[city], now[city], before[city]
        values = []
        for code, _label, kind, stat in statistics:
            value = None if result is None else result.get(f"{code}_annual_mean" if stat == "mean" else f"{code}_percentile")
            values.append(air._rounded("o3_8h" if code == "o3" else code, value, date(year, 12, 31)))
        status = "no data" if result is None else result["status"]
        failing = [] if result is None else [c for c in (result["exceeding_items"] or "").split(";") if c]
        rows.append([city, period.days,
                     MISSING if status == "no data" else ("不满足" if status == "insufficient data" else "满足"),
                     period.good_share, last.days, last.good_share,
                     None if period.good_share is None or last.good_share is None
                     else (period.good_share - last.good_share) * 100,
                     *values, "、".join(air_name(c) for c in failing) or MISSING,
                     None if result is None else result["composite_index"],
                     None if result is None else result["city_rank"],
                     MISSING if result is None or result["composite_primary"] is None else air_name(result["composite_primary"]),
                     display.verdict_text(None if result is None else result["is_attained"], "zh", status),
                     air.label(date(year, 12, 31)) if result is None else result["standard"]])
    ranked = next((r["cities_ranked"] for r in annual_rows.values() if r.get("cities_ranked")), 0)
    return Table("air_annual", "环境空气年度评价", f"表6 {year}年各城市环境空气质量年度评价",
                 columns, rows,
                 ["年度评价按 HJ 663：各项年均值与日均值（O3 为日最大8小时平均）特定百分位数同时不超过 GB 3095 二级浓度限值为达标，"
                  "六项全部达标为城市达标；统计值、达标情况、综合指数与排名为流水线存储的年度统计 (air_annual_statistics，"
                  "pipelines.assessment.air_annual)，按年末所适用的标准版本 (period_changeover.csv: air/year)。",
                  "年度统计有效性：每年至少324个日均值、每月至少27个（二月25个）(GB 3095 表4)；不满足时为“数据不足”，不判达标与否。",
                  "综合指数 = Σ Cᵢ/Sᵢ（城市环境空气质量排名技术规定，官方文本未取得：UNVERIFIED），Sᵢ 为当年适用的二级限值；"
                  f"排名按综合指数（两位小数）由小到大，数值相同并列，共 {ranked} 个城市参与排名；"
                  "城市日均浓度为各点位日均值的算术平均 (UNVERIFIED for O3-8h)。"]), \
        now, before, assessments


def air_quality_codes(year: int) -> list[str]:
    from pipelines.assessment import air_quality

    return list(air_quality.annual_statistics_table(date(year, 12, 31)).index)


def air_name(code: str) -> str:
    names = {"pm2_5": "PM2.5", "pm10": "PM10", "o3": "O3", "no2": "NO2", "so2": "SO2", "co": "CO"}
    return names.get(code, code)


def air_quality_statistics(year: int) -> list[tuple[str, str, str, str]]:
    """(code, heading, kind, "mean"|"percentile") for each annual statistic of the HJ 663 table in
    force for the year."""
    from pipelines.assessment import air_quality

    out = []
    unit = lambda code: "mg/m³" if code == "co" else "µg/m³"  # noqa: E731
    for code, row in air_quality.annual_statistics_table(date(year, 12, 31)).iterrows():
        averaging = row["mean_limit_averaging"]
        if isinstance(averaging, str) and averaging:
            out.append((code, f"{air_name(code)}年均值（{unit(code)}）", "integer", "mean"))
        name = "O3日最大8小时" if code == "o3" else air_name(code)
        out.append((code, f"{name}第{int(float(row['percentile']))}百分位数（{unit(code)}）", "integer", "percentile"))
    return out


def build(reader: WarehouseReader, year: int, city_code: str | None = None) -> Document:
    city = city_of_bureau(city_code) if city_code else None
    scope = city or "全部城市"
    water = [s for s in registry.water_sections().index if in_scope(s, city, city_code)]
    sections = registry.sections()
    now = {s: w.year_result(s, reader.section_days(s, months_of(year))) for s in water}
    before = {s: w.year_result(s, reader.section_days(s, months_of(year - 1))) for s in water}
    crossing = [s for s in water if sections.loc[s, "is_cross_boundary"]]
    drinking = [s for s in water if sections.loc[s, "is_drinking_water_source"]]
    scope_cities = [city] if city else cities()
    cross, rates = cross_boundary_table(reader, year, crossing)
    agreement_rows = agreement_tables(reader, year, water)
    air_rows, air_now, air_before, assessments = air_table(reader, year, scope_cities)
    tables = [section_tables(reader, year, water, now, before), river_table(year, water, now), cross, *agreement_rows,
              drinking_table(year, drinking, now), trends_table(year, water, reader), air_rows]
    lineage = reader.lineage(reads(year))
    points = []
    header = [
        ("报告期 (period)", f"{year}年（{year}-01-01 至 {year}-12-31，北京时间）; 上年 {year - 1}年"),
        ("范围 (scope)", scope),
        ("数据状态 (data status)", data_status(reader, months_of(year))),
        ("数据截至 (newest load)", stamp_of(lineage, _epoch()).isoformat() if lineage["newest_load"] else MISSING),
        ("评价标准与方法 (standards and methods)",
         f"地表水: {standards.rule_version('surface_water', date(year, 12, 31)).label} "
         f"(年均值、河流评价、趋势); 跨界: 协议方案与补偿条款 (cross_boundary_schemes.csv, cross_boundary_agreements.csv); 湖库营养状态: TLI; "
         f"空气: 年度评价按 {air.label(date(year, 12, 31))} 的 GB 3095 二级 (period_changeover.csv: air/year), "
         f"优良天逐日按当日标准; "
         f"评价的 QC 标记: {', '.join(reader.assessable_flags)}"),
        ("未核实的假定 (unverified assumptions)",
         f"{len(unverified_assumptions(water + points))} 个断面的登记信息含假定，逐项列于“登记假定”页；"
         "标为 UNVERIFIED 的规则见 pipelines/reference/data/ 各表 status 列"),
        ("数据来源 (lineage)", f"{len(lineage['batches'])} 个批次, {len(lineage['payloads'])} 个载荷, "
                              f"{len(lineage['partitions'])} 个 (来源, 日) 分区；见“数据来源”页"),
    ]
    notes = Table("assumptions", "登记假定", "说明：登记册中的假定 (registry assumptions, as the registry states them)",
                  [Column("断面与假定")], [[line] for line in unverified_assumptions(water)], [])
    figure_list = _figures(year, now, water, rates, air_now, air_before, assessments, scope_cities)
    title = f"{'' if city is None else city}{year}年度环境质量考核评价报告"
    used = inputs(reader, [m for _, m in reads(year)])
    return Document("assessment", title, str(year), f"{year}年", scope, header,
                    [*tables, notes, *lineage_tables(lineage)], figure_list, lineage, stamp_of(lineage, _epoch()),
                    fingerprint("assessment", scope, str(year), used), used)


def _epoch():
    return datetime(1970, 1, 1, tzinfo=timezone.utc)


def _figures(year, now, water, rates, air_now, air_before, assessments, scope_cities) -> list[Figure]:
    colours = standards.water_class_grades()["colour_hex"].to_dict()
    classes = [*standards.SURFACE_WATER_CLASSES, standards.SURFACE_WATER_WORST]
    counted = [sum(now[s].water_class == k and now[s].is_complete for s in water) for k in classes]
    composite = [None if assessments[c] is None else assessments[c]["composite_index"] for c in scope_cities]
    return [
        Figure("cross_boundary_rates", "跨界断面月均值达标率与协议要求", figures.bar_chart(
            f"{year}年 跨界断面月均值达标率（虚线：协议要求）", [name for name, _r, _q in rates],
            [("月均值达标率", [r for _n, r, _q in rates], None)], 1.0,
            reference=[q for _n, _r, q in rates], reference_label="协议要求")),
        Figure("class_counts", "断面年度水质类别构成", figures.bar_chart(
            f"{year}年 断面年度水质类别构成（数据完整的断面）", classes, [("断面数", counted, None)],
            max(max(counted), 1), y_format=figures.counts, bar_colours=[colours[k] for k in classes])),
        Figure("air_good_share", "各城市空气质量优良天数比例", figures.bar_chart(
            f"{year}年 各城市空气质量优良天数比例", scope_cities,
            [("本年", [air_now[c].good_share for c in scope_cities], None),
             ("上年", [air_before[c].good_share for c in scope_cities], None)], 1.0)),
        Figure("air_composite", "各城市环境空气质量综合指数", figures.bar_chart(
            f"{year}年 各城市环境空气质量综合指数", scope_cities, [("综合指数", composite, None)],
            max([c for c in composite if c is not None] or [1.0]) * 1.15, y_format=lambda v: f"{v:.2f}")),
    ]
