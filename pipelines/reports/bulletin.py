"""The monthly bulletin (月报): surface water per section in the bureaus' form and per city, the
cross-boundary sections against their agreements, the drinking-water reservoirs, the coastal
bays per survey and the air of each city, for one month, from the warehouse."""
from __future__ import annotations

from pipelines import display
from pipelines.assessment import cross_boundary, daily, seawater, surface_water
from pipelines.reference import registry, standards
from pipelines.reports import air, figures
from pipelines.reports import water as w
from pipelines.reports.document import (
    MISSING, Column, Document, Figure, Table, data_status, fingerprint, inputs, lineage_tables, stamp_of,
    unverified_assumptions,
)
from pipelines.reports.reading import ROUTINE_SURVEY, Month, WarehouseReader, months_of

SURVEYS_ZH = {"spring": "春季航次", "summer": "夏季航次", "autumn": "秋季航次", ROUTINE_SURVEY: "例行监测（月均）"}
PRIMARY_ORDER = ("pm2_5", "pm10", "o3", "no2", "so2", "co")
PRIMARY_ZH = {"pm2_5": "PM2.5", "pm10": "PM10", "o3": "O3", "no2": "NO2", "so2": "SO2", "co": "CO"}


def reads(month: Month) -> list[tuple[str, Month]]:
    """What the bulletin reads, (domain, month): the month, the same month a year before (上年同期)
    and, for the cross-boundary compliance rate, the year's water to date."""
    return sorted({("water", month), ("water", month.year_before()), ("air", month), ("air", month.year_before()),
                   ("sea", month), *(("water", m) for m in months_of(month.year, month.month))},
                  key=lambda r: (r[1], r[0]))


def cities() -> list[str]:
    """The cities of the cluster: those with air stations, in the registry's order."""
    return list(dict.fromkeys(registry.air_stations()["city"]))


def city_of_bureau(code: str) -> str:
    bureaus = registry.bureaus()
    if code not in bureaus.index:
        raise ValueError(f"unknown city code {code!r}; known: {', '.join(bureaus.index)}")
    city = bureaus.loc[code, "jurisdiction"].split()[-1]
    if not city.endswith("市"):
        raise ValueError(f"{code!r} is a province ({bureaus.loc[code, 'jurisdiction']}), not a city")
    return city


def in_scope(section_id: str, city: str | None, code: str | None) -> bool:
    if city is None:
        return True
    section = registry.section_row(section_id)   # a section withdrawn since is still found
    return section["city"] == city or code in section["responsible_bureaus"].split(";")


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


def _points(now, before) -> float | None:
    return None if now is None or before is None else (now - before) * 100


# --- surface water ------------------------------------------------------------------------------

def section_results(reader: WarehouseReader, month: Month, sections=None) -> dict[str, w.PeriodResult]:
    """Each section's month (`sections`, default the registry's on the month's last day), judged
    against the target in force then (w.month_result)."""
    sections = registry.water_sections(month.last).index if sections is None else sections
    return {section_id: w.month_result(section_id, reader.section_days(section_id, [month])) for section_id in sections}


def surface_table(month: Month, now: dict, before: dict, sections) -> Table:
    table = registry.sections(month.last)   # the targets in force in the month (issue 23)
    rows = []
    for section_id in sections:
        section, result, last = table.loc[section_id], now[section_id], before[section_id]
        status, exceeding = w.section_status(section_id, result)
        target_status = w.target_status(section_id, month.first)  # an assumed target is said to be one
        rows.append([section["name_zh"], section["water_body"], section["city"],
                     display.target_text(section["target_class"], "zh", target_status),
                     result.water_class or MISSING, last.class_text(), w.against_target(status, target_status),
                     exceeding, result.note()])
    return Table("surface_water", "地表水断面", f"表1 {month.zh}地表水断面水质状况",
                 [Column("断面名称"), Column("所在水体"), Column("所在地市"), Column("水质目标"), Column("本月水质类别"),
                  Column("上年同期类别"), Column("是否达标"), Column("主要超标项目（超标倍数）"), Column("备注")], rows,
                 [f"按《地表水环境质量标准》(GB 3838-2002) 单因子评价；评价指标为 GB 3838 表1 除水温、总氮、粪大肠菌群外各项，"
                  f"月均值为当月各有效日均值的算术平均 ({daily.SURFACE_WATER_STANDARD})。",
                  "超标倍数 = (月均值 − 水质目标类别标准限值) / 该限值；pH、溶解氧不计超标倍数。",
                  f"数据完整性：月内某必评指标（{w.names(w.required_indicators())}）无有效日均值时，该断面本月“数据不全”，"
                  "不判为达标（已有指标已劣于目标时判为未达标）。", w.TARGET_STATUS_NOTE])


def completeness_table(month: Month, now: dict, sections) -> Table:
    table = registry.sections(month.last)
    rows = []
    for section_id in sections:
        result = now[section_id]
        rows.append([table.loc[section_id, "name_zh"], table.loc[section_id, "city"], result.valid_days, month.days,
                     "、".join(w.parameter_name(c) for c in sorted(result.means)) or MISSING,
                     w.names(result.missing) or MISSING,
                     "完整" if result.is_complete else result.status])
    rules = surface_water.completeness()
    return Table("completeness", "数据完整性", f"表1-1 {month.zh}断面数据完整性",
                 [Column("断面名称"), Column("所在地市"), Column("有效监测天数", "integer"), Column("当月天数", "integer"),
                  Column("有有效月均值的指标"), Column("缺少的必评指标"), Column("判定")], rows,
                 [f"日均值：自动监测每指标每日至少 {rules.loc['day', 'min_values']} 个有效值，手工采样单次即可 "
                  f"({rules.loc['day', 'status']}); 月均值：每指标至少 {rules.loc['month', 'min_values']} 个有效日值 "
                  f"({rules.loc['month', 'basis']})。",
                  "必评指标: " + "; ".join(f"{w.parameter_name(c)}" for c in w.required_indicators())
                  + " (十四五 “5+X” evaluation set, pipelines/reference/data/required_indicators.csv)."])


def city_summary(month: Month, now: dict, before: dict, ranked_cities: list[str] | None = None,
                 sections=None) -> tuple[Table, list[dict]]:
    """Per city: the share of its complete sections at Ⅰ–Ⅲ and at 劣Ⅴ, against the same month a
    year before; ranked by the Ⅰ–Ⅲ share (higher first), then the 劣Ⅴ share (lower first).
    `ranked_cities`, `sections`: the cities ranked and the sections counted (default: the cluster's,
    the registry's; a province's at national scope, pipelines/reports/national.py)."""
    table = registry.water_sections(month.last)
    if sections is not None:
        table = table[table.index.isin(list(sections))]
    ranked_cities = cities() if ranked_cities is None else ranked_cities
    stats = []
    for city in ranked_cities:
        ids = list(table.index[table["city"] == city])

        def shares(results):
            complete = [i for i in ids if results[i].is_complete]
            good = sum(standards.surface_class_rank(results[i].water_class) <= 3 for i in complete)
            worst = sum(results[i].water_class == standards.SURFACE_WATER_WORST for i in complete)
            compliant = sum(w.section_status(i, results[i])[0] == w.COMPLIANT for i in complete)
            return len(complete), _share(good, len(complete)), _share(worst, len(complete)), _share(compliant, len(complete))

        n, good, worst, compliant = shares(now)
        n_before, good_before, worst_before, _ = shares(before)
        stats.append({"city": city, "sections": len(ids), "assessed": n, "good": good, "worst": worst,
                      "compliant": compliant, "good_before": good_before, "worst_before": worst_before,
                      "incomplete": sum(now[i].verdict.is_assessed and not now[i].is_complete for i in ids),
                      "no_data": sum(not now[i].verdict.is_assessed for i in ids),
                      "change": _points(good, good_before)})
    ranked = sorted((s for s in stats if s["good"] is not None), key=lambda s: (-s["good"], s["worst"]))
    for s in stats:
        s["rank"] = None
    for position, s in enumerate(ranked, start=1):
        tied = next((r for r in ranked[:position - 1] if (r["good"], r["worst"]) == (s["good"], s["worst"])), None)
        s["rank"] = tied["rank"] if tied else position
    rows = [[s["city"], s["sections"], s["assessed"], s["incomplete"], s["no_data"], s["good"], s["worst"], s["compliant"],
             s["good_before"], s["change"], s["rank"]] for s in sorted(stats, key=lambda s: (s["rank"] is None, s["rank"] or 0))]
    others = sorted(set(table["city"]) - set(ranked_cities))
    notes = ["比例以本月数据完整的断面为分母；排名依Ⅰ–Ⅲ类比例由高到低，相同时劣Ⅴ类比例低者在前，二者皆同者并列。",
             "变化 = 本月Ⅰ–Ⅲ类比例 − 上年同期Ⅰ–Ⅲ类比例（百分点）。"]
    if others:
        notes.append(f"{'、'.join(others)}的断面（跨界协议断面）列于表1与表2，不参与城市排名。")
    return Table("city_summary", "城市汇总", f"表1-2 {month.zh}各城市地表水水质状况及排名",
                 [Column("城市"), Column("断面数", "integer"), Column("评价断面数", "integer"),
                  Column("数据不全断面数", "integer"), Column("无有效数据断面数", "integer"),
                  Column("Ⅰ–Ⅲ类比例", "percent"), Column("劣Ⅴ类比例", "percent"),
                  Column("达标断面比例", "percent"), Column("上年同期Ⅰ–Ⅲ类比例", "percent"),
                  Column("Ⅰ–Ⅲ类比例变化（百分点）", "points"), Column("排名", "integer")], rows, notes), stats


# --- cross-boundary -----------------------------------------------------------------------------

def cross_boundary_table(reader: WarehouseReader, month: Month, sections) -> Table:
    table = registry.sections(month.last)
    to_date = months_of(month.year, month.month)
    crossing = list(table.index[table["is_cross_boundary"] & table["station_type"].isin(registry.WATER_STATION_TYPES)])
    rows = []
    for section_id in sections:
        section = table.loc[section_id]
        days = reader.section_days(section_id, [month])
        monthly, result = w.cross_boundary_month(section_id, month.label, days)
        scheme_name, indicators = w.scheme_text(monthly.scheme)
        # the default scheme's target is the registry's; an agreement's is official where its own
        # terms give it, else assumed (九洲江 2015–2017: the copies cut the target sentence off)
        target_status = (w.target_status(section_id, month.first) if monthly.scheme.scheme_id == "default"
                         else cross_boundary.stored_target_status(monthly.scheme, section_id, month.last))
        kind, upstream, downstream = w.jurisdictions(section_id)
        year_days = reader.section_days(section_id, to_date, crossing)
        yearly = None
        if len(year_days):
            yearly = cross_boundary.assess_year(section_id, month.year, year_days[["parameter", "value", "month"]],
                                                required=result.required)  # a 数据不全 month is not counted
        incomplete = w.incomplete_months(section_id, year_days, result.required)
        absent = [m.label for m in to_date if m.label not in set(year_days["month"])]
        remarks = [result.note()] if result.note() else []
        if incomplete:
            remarks.append(f"年内数据不全月份：{', '.join(incomplete)}")
        if absent:
            remarks.append(f"年内无数据月份：{', '.join(absent)}")
        conclusion = MISSING
        if yearly is not None and yearly.required_rate is None:
            # an agreement whose required rate was never recovered (九洲江 2015–2017) cannot be
            # assessed, whatever the year brings: never 待年度评价
            conclusion = display.agreement_verdict_text(cross_boundary.TERMS_UNKNOWN)
        elif yearly is not None:
            conclusion = {True: "达到", False: "未达到", None: "待年度评价"}[yearly.meets_agreement]
            if incomplete and yearly.meets_agreement is not False:
                conclusion = "待定（数据不全）"
        rows.append([section["name_zh"], section["water_body"], kind, upstream, downstream, scheme_name, indicators,
                     display.target_text(monthly.scheme.target_class, "zh", target_status),
                     result.water_class or MISSING, w.against_target(result.status, target_status),
                     w.exceedances(result.verdict) if result.verdict.is_assessed else MISSING,
                     monthly.answerable_jurisdiction or MISSING,
                     yearly.months_assessed if yearly else 0, yearly.months_compliant if yearly else 0,
                     yearly.compliance_rate if yearly else None, monthly.scheme.required_monthly_compliance,
                     conclusion, "；".join(remarks)])
    return Table("cross_boundary", "跨界断面", f"表2 {month.zh}跨界断面水质考核",
                 [Column("断面名称"), Column("所在水体"), Column("交界类型"), Column("上游行政区"), Column("下游行政区"),
                  Column("考核方案"), Column("考核指标"), Column("水质目标"), Column("本月水质类别"),
                  Column("本月是否达标"), Column("主要超标项目（超标倍数）"), Column("责任方（上游）"),
                  Column("年初至今评价月数", "integer"), Column("达标月数", "integer"),
                  Column("年初至今月均值达标率", "percent"), Column("协议要求达标率", "percent"),
                  Column("年度考核结论（截至本月）"), Column("备注")], rows,
                 ["各断面按其协议方案 (pipelines/reference/data/cross_boundary_schemes.csv) 的指标与目标评价；"
                  "无协议方案者按断面自身目标、全部评价指标、每月均须达标。",
                  "年初至今月均值达标率 = 达标月数 / 评价月数 (cross_boundary.assess_year)；年度考核结论另须年均值达到目标类别，"
                  "年均值需足够的月份 (年度规则)，此前为“待年度评价”。数据不全的月份不能证明达标。"
                  "协议要求达标率未取得的协议 (九洲江 2015–2017年) 为“不能评价”。"])


# --- drinking water, coastal, air --------------------------------------------------------------

def drinking_table(month: Month, now: dict, sections) -> Table:
    rows = w.drinking_water_rows(sections, now, with_weights=True)
    return Table("drinking_water", "饮用水源地水库", f"表3 {month.zh}集中式饮用水源地（湖库）水质状况",
                 [Column("水源地名称"), Column("所在地市"), Column("水质目标"), Column("本月水质类别"), Column("是否达标"),
                  Column("GB 3838 表2项目（超标倍数）"), Column("综合营养状态指数 TLI(Σ)", "decimal1"),
                  Column("营养状态"), Column("TLI参评指标"), Column("备注")], rows,
                 ["水源地另按 GB 3838-2002 表2（硫酸盐、氯化物、硝酸盐、铁、锰）评价，任一项超标即不达标。",
                  "综合营养状态指数按《湖泊(水库)富营养化评价方法及分级技术规定》(总站生字〔2001〕090号)，"
                  "以本月均值计，缺项时按现有指标重新归一权重。"])


def coastal_tables(reader: WarehouseReader, month: Month, city: str | None, kept=None) -> list[Table]:
    points = registry.sea_points(month.last)   # each point judged against its target in force in the month
    if city is not None:
        points = points[points["city"] == city]
    if kept is not None:   # a province's points (pipelines/reports/national.py)
        points = points[points.index.isin(list(kept))]
    samples = reader.sea_samples(month)
    samples = samples[samples["station_id"].isin(points.index)]
    point_rows, bay_rows = [], []
    for (bay, survey), rows in samples.groupby([samples["station_id"].map(points["water_body"]), "survey"], sort=True):
        means = daily.daily_means(rows)
        values = {pid: dict(zip(group["parameter"], group["mean"])) for pid, group in means.groupby("station_id")}
        survey_zh = SURVEYS_ZH.get(survey, survey)
        for point_id in sorted(values):
            point = points.loc[point_id]
            verdict = seawater.classify(values[point_id], point["target_class"])
            mine = rows[rows["station_id"] == point_id]
            status = MISSING if verdict.is_compliant is None else ("达标" if verdict.is_compliant else "未达标")
            point_rows.append([bay, survey_zh, point["name_zh"], point["city"], point["target_class"],
                               verdict.water_class or MISSING, status, w.names(verdict.failing) or MISSING,
                               f"{min(mine['partition_day'])} — {max(mine['partition_day'])}",
                               int(mine["partition_day"].nunique())])
        result = seawater.classify_bay(values)
        counts = [result.class_counts.get(k, 0) for k in (*standards.SEAWATER_CLASSES, standards.SEAWATER_WORST)]
        bay_rows.append([bay, survey_zh, result.points, *counts, result.share_good, result.share_worse_than_4,
                         w.names(result.main_exceeding_items[:3]) or MISSING])
    note = (f"按《海水水质标准》({daily.SEAWATER_STANDARD}) 单因子评价，点位类别为航次内各样品（含各层）均值的最差类别；"
            "优良比例为一类、二类点位之和占比；主要超标项目为劣于二类次数最多的项目。")
    return [
        Table("coastal_points", "近岸海域点位", f"表4 {month.zh}近岸海域监测点位水质",
              [Column("海湾"), Column("监测航次"), Column("点位名称"), Column("所在地市"), Column("功能区目标"),
               Column("水质类别"), Column("是否达标"), Column("超标项目（劣于目标）"), Column("采样日期"),
               Column("采样天数", "integer")], point_rows, [note, "点位名称与功能区为登记册假定（见说明）。"]),
        Table("coastal_bays", "近岸海域海湾", f"表4-1 {month.zh}各海湾水质（按监测航次）",
              [Column("海湾"), Column("监测航次"), Column("点位数", "integer"), Column("一类", "integer"),
               Column("二类", "integer"), Column("三类", "integer"), Column("四类", "integer"),
               Column("劣四类", "integer"), Column("优良（一、二类）比例", "percent"), Column("劣四类比例", "percent"),
               Column("主要超标项目")], bay_rows, [note]),
    ]


def air_table(reader: WarehouseReader, month: Month, scope_cities: list[str],
              read_cities: list[str] | None = None) -> tuple[Table, dict, dict]:
    """`read_cities`: the cities whose months are worked out (default: the cluster's)."""
    now_days, before_days = reader.air_city_days(month), reader.air_city_days(month.year_before())
    read_cities = cities() if read_cities is None else read_cities
    now = {c: air.city_period(c, now_days, month.last) for c in read_cities}
    before = {c: air.city_period(c, before_days, month.year_before().last) for c in read_cities}
    rows = []
    for city in scope_cities:
        n, b = now[city], before[city]
        pm_change = (None if n.means["pm2_5"] is None or not b.means["pm2_5"]
                     else (n.means["pm2_5"] - b.means["pm2_5"]) / b.means["pm2_5"])
        rows.append([city, n.days, n.good_days, n.good_share, b.good_share, _points(n.good_share, b.good_share),
                     n.means["pm2_5"], b.means["pm2_5"], pm_change, n.means["pm10"], n.means["no2"], n.means["so2"],
                     n.co_p95, n.o3_8h_p90, n.exceedance_days, *[n.by_primary.get(p, 0) for p in PRIMARY_ORDER]])
    return Table("air", "环境空气", f"表5 {month.zh}各城市环境空气质量",
                 [Column("城市"), Column("有效天数", "integer"), Column("优良天数", "integer"),
                  Column("优良天数比例", "percent"), Column("上年同期优良天数比例", "percent"),
                  Column("优良天数比例变化（百分点）", "points"), Column("PM2.5（µg/m³）", "integer"),
                  Column("上年同期PM2.5（µg/m³）", "integer"), Column("PM2.5同比变化", "signed_percent"),
                  Column("PM10（µg/m³）", "integer"), Column("NO2（µg/m³）", "integer"), Column("SO2（µg/m³）", "integer"),
                  Column("CO第95百分位数（mg/m³）", "decimal1"), Column("O3日最大8小时第90百分位数（µg/m³）", "integer"),
                  Column("超标天数", "integer"),
                  *[Column(f"首要污染物为{PRIMARY_ZH[p]}的超标天数", "integer") for p in PRIMARY_ORDER]], rows,
                 [f"城市日均浓度为城市各点位有效日均值的算术平均 (aqi_conventions.csv city_daily_value, UNVERIFIED)；"
                  f"日 AQI 与优良天按当日有效的标准（本月: {air.label(month.last)}；上年同期: "
                  f"{air.label(month.year_before().last)}）。",
                  "月均浓度为有效日均值的算术平均；CO 与 O3 日最大8小时按 HJ 663 百分位数法 (air_quality.percentile)。",
                  "超标天按首要污染物计，一日有两个首要污染物时各计一次。"]), now, before


# --- the document -------------------------------------------------------------------------------

def build(reader: WarehouseReader, month: Month, city_code: str | None = None) -> Document:
    """The bulletin of the cluster (or one city's). The country's and a province's, at national scope
    (issue 27), are pipelines/reports/national.py's; publish.bulletin_document chooses."""
    city = city_of_bureau(city_code) if city_code else None
    scope = city or "全部城市"
    # the registry of the month (sections adopted later are not in it, withdrawn ones still are)
    water = [s for s in registry.water_sections(month.last).index if in_scope(s, city, city_code)]
    now = section_results(reader, month)   # every section: the city summary ranks them all
    before = section_results(reader, month.year_before(), list(now))
    sections_table = registry.sections(month.last)
    crossing = [s for s in water if sections_table.loc[s, "is_cross_boundary"]]
    drinking = [s for s in water if sections_table.loc[s, "is_drinking_water_source"]]
    summary, stats = city_summary(month, now, before)
    if city:
        summary.rows = [row for row in summary.rows if row[0] == city]
    scope_cities = [city] if city else cities()
    air_rows, air_now, air_before = air_table(reader, month, scope_cities)
    tables = [surface_table(month, now, before, water), completeness_table(month, now, water), summary,
              cross_boundary_table(reader, month, crossing), drinking_table(month, now, drinking),
              *coastal_tables(reader, month, city), air_rows]
    figure_list = _figures(month, now, water, stats, air_now, air_before, scope_cities)
    lineage = reader.lineage(reads(month))
    points = [p for p, row in registry.sea_points(month.last).iterrows() if city is None or row["city"] == city]
    header = [
        ("报告期 (period)", f"{month.zh}（{month.first} 至 {month.last}，北京时间）; 上年同期 {month.year_before().zh}; "
                            f"跨界达标率统计 {month.year}年1月至{month.month}月"),
        ("范围 (scope)", scope),
        ("数据状态 (data status)", data_status(reader, [month])),
        ("数据截至 (newest load)", stamp_of(lineage, _epoch()).isoformat() if lineage["newest_load"] else MISSING),
        ("评价标准与方法 (standards and methods)",
         f"地表水: {standards.rule_version('surface_water', month.last).label}; "
         f"跨界: 协议方案 (cross_boundary_schemes.csv); 湖库营养状态: 总站生字〔2001〕090号 TLI; "
         f"海水: {standards.rule_version('seawater', month.last).label}; 空气: {air.label(month.last)}; "
         f"修约: pipelines/reference/data/reporting_precision.csv; 评价的 QC 标记: {', '.join(reader.assessable_flags)}"),
        ("未核实的假定 (unverified assumptions)",
         f"{len(unverified_assumptions(water + points))} 个断面/点位的登记信息含假定，逐项列于“登记假定”页；"
         "标为 UNVERIFIED 的规则见 pipelines/reference/data/ 各表 status 列"),
        ("数据来源 (lineage)", f"{len(lineage['batches'])} 个批次, {len(lineage['payloads'])} 个载荷, "
                              f"{len(lineage['partitions'])} 个 (来源, 日) 分区；见“数据来源”页"),
    ]
    notes = Table("assumptions", "登记假定", "说明：登记册中的假定 (registry assumptions, as the registry states them)",
                  [Column("断面/点位与假定")], [[line] for line in unverified_assumptions(water + points)], [])
    title = f"{'' if city is None else city}{month.zh}环境质量月报"
    used = inputs(reader, [m for _, m in reads(month)])   # the data read, the rule rows and registry of its months
    return Document("bulletin", title, month.label, month.zh, scope, header, [*tables, notes, *lineage_tables(lineage)],
                    figure_list, lineage, stamp_of(lineage, _epoch()), fingerprint("bulletin", scope, month.label, used),
                    used)


def _epoch():
    from datetime import datetime, timezone

    return datetime(1970, 1, 1, tzinfo=timezone.utc)


def _figures(month, now, water, stats, air_now, air_before, scope_cities) -> list[Figure]:
    colours = standards.water_class_grades()["colour_hex"].to_dict()
    classes = [*standards.SURFACE_WATER_CLASSES, standards.SURFACE_WATER_WORST]
    counted = [sum(now[s].water_class == k and now[s].is_complete for s in water) for k in classes]
    shown = [s for s in stats if s["city"] in scope_cities]
    return [
        Figure("city_good_share", "各城市地表水Ⅰ–Ⅲ类断面比例", figures.bar_chart(
            f"{month.zh} 各城市地表水Ⅰ–Ⅲ类断面比例", [s["city"] for s in shown],
            [("本月", [s["good"] for s in shown], None), ("上年同期", [s["good_before"] for s in shown], None)], 1.0)),
        Figure("class_counts", "断面水质类别构成", figures.bar_chart(
            f"{month.zh} 断面水质类别构成（数据完整的断面）", classes, [("断面数", counted, None)],
            max(max(counted), 1), y_format=figures.counts, bar_colours=[colours[k] for k in classes])),
        Figure("air_good_share", "各城市空气质量优良天数比例", figures.bar_chart(
            f"{month.zh} 各城市空气质量优良天数比例", scope_cities,
            [("本月", [air_now[c].good_share for c in scope_cities], None),
             ("上年同期", [air_before[c].good_share for c in scope_cities], None)], 1.0)),
    ]
