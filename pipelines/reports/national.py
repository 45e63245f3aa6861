"""The monthly bulletin at national scope (ENVMON_SCOPE=national, issue 27).

At national scope the registry is everything the CNEMC feeds publish (about 1,900 water sections
and 1,600 air stations in some 340 cities): the cluster's bulletin, a row per section and per city,
would run to thousands of rows. A national centre reads instead:

- the country's bulletin, a summary by province: per province the sections by class, their share
  at Ⅰ–Ⅲ and at 劣Ⅴ against the same month a year before, how many met, failed or have no target;
  every section that failed its target, listed; the cross-boundary sections against their
  agreements, the drinking-water reservoirs and the coastal bays as the cluster's bulletin gives
  them (their lists are the registry's, not the feeds'); per province the city-days of air by HJ 633
  category and the share of 优良 city-days;
- one province's bulletin (`envmon bulletin --province 广西壮族自治区 --out FILE`), the per-section and per-city
  tables of the cluster's bulletin for that province's sections and cities.

Every figure is made by the same functions as the cluster's bulletin (water.month_result,
air.city_period, bulletin's tables): counted per province here, judged nowhere else.
A section's province is the registry's (the water feed's 省份); a city's, for air, is
pipelines/reference/places.py's (data/city_provinces.csv)."""
from __future__ import annotations

from collections import Counter

import pandas as pd

from pipelines import display
from pipelines.reference import places, registry, standards
from pipelines.reports import air, bulletin, figures
from pipelines.reports import water as w
from pipelines.reports.document import (
    MISSING, Column, Document, Figure, Table, data_status, fingerprint, inputs, lineage_tables, stamp_of,
    unverified_assumptions,
)
from pipelines.reports.reading import Month, WarehouseReader

NATIONAL_SCOPE = "全国（按省份汇总）"
NO_PROVINCE = "（省份未知）"
EXAMPLES = 3   # the sections named beside an assumption the registry states for many


def province_of_sections(month: Month) -> pd.Series:
    """section_id → province, the registry's (the water feed's 省份), else its city's, else NO_PROVINCE."""
    table = registry.sections(month.last)
    frame = pd.DataFrame({"station_id": table.index, "city": table["city"].to_numpy()})
    found = places.provinces_of(frame).to_numpy()
    own = table["province"].fillna("").astype(str).to_numpy()
    return pd.Series([o or f or NO_PROVINCE for o, f in zip(own, found)], index=table.index)


def province_of_city(city: str) -> str:
    return places.city_provinces().get(city, "") or NO_PROVINCE


def air_cities() -> list[str]:
    return bulletin.cities()


def section_results(reader: WarehouseReader, month: Month, sections) -> dict[str, w.PeriodResult]:
    """bulletin.section_results over many sections: the month's day values read once and split by
    section (reader.section_days filters the whole month once per section), each judged by
    w.month_result as there."""
    days = reader.water_day_values(month)
    columns = days.columns
    groups = {sid: rows.reset_index(drop=True) for sid, rows in days.groupby("station_id", sort=False)}
    empty = pd.DataFrame(columns=columns)
    return {sid: w.month_result(sid, groups.get(sid, empty)) for sid in sections}


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


# --- the country's summary --------------------------------------------------------------------------

def province_water_table(month: Month, now: dict, before: dict, provinces: pd.Series) -> tuple[Table, list[dict]]:
    """Per province: its sections, those with a complete month by class, the Ⅰ–Ⅲ and 劣Ⅴ shares (of
    the complete ones, as the cluster's city summary counts them) against the same month a year
    before, and how many met, failed or have no target (w.against_target's words)."""
    classes = [*standards.SURFACE_WATER_CLASSES, standards.SURFACE_WATER_WORST]
    stats = []
    for province in sorted(set(provinces)):
        ids = [s for s in provinces.index[provinces == province] if s in now]
        complete = [s for s in ids if now[s].is_complete]
        complete_before = [s for s in ids if before[s].is_complete]
        counts = Counter(now[s].water_class for s in complete)
        good = sum(counts[k] for k in classes if standards.surface_class_rank(k) <= 3)
        good_before = sum(standards.surface_class_rank(before[s].water_class) <= 3 for s in complete_before)
        verdicts = Counter(w.against_target(w.section_status(s, now[s])[0], w.target_status(s, month.first))
                           for s in ids)
        met = sum(n for text, n in verdicts.items() if text.startswith(w.COMPLIANT))
        failed = sum(n for text, n in verdicts.items() if text.startswith(w.FAILED))
        share, share_before = _share(good, len(complete)), _share(good_before, len(complete_before))
        stats.append({"province": province, "good": share, "good_before": share_before})
        rows_counts = [counts.get(k, 0) for k in classes]
        stats[-1]["row"] = [province, len(ids), len(complete),
                            sum(now[s].verdict.is_assessed and not now[s].is_complete for s in ids),
                            sum(not now[s].verdict.is_assessed for s in ids), *rows_counts, share,
                            _share(counts.get(standards.SURFACE_WATER_WORST, 0), len(complete)), share_before,
                            None if share is None or share_before is None else (share - share_before) * 100,
                            met, failed, verdicts.get(display.word("target_unset", "zh"), 0)]
    return Table("province_water", "各省份地表水", f"表1 {month.zh}各省份地表水水质状况",
                 [Column("省份"), Column("断面数", "integer"), Column("评价断面数", "integer"),
                  Column("数据不全断面数", "integer"), Column("无有效数据断面数", "integer"),
                  *[Column(f"{k}类" if k != standards.SURFACE_WATER_WORST else k, "integer") for k in classes],
                  Column("Ⅰ–Ⅲ类比例", "percent"), Column("劣Ⅴ类比例", "percent"),
                  Column("上年同期Ⅰ–Ⅲ类比例", "percent"), Column("Ⅰ–Ⅲ类比例变化（百分点）", "points"),
                  Column("达标断面数", "integer"), Column("未达标断面数", "integer"), Column("目标未定断面数", "integer")],
                 [s["row"] for s in stats],
                 ["类别与比例以本月数据完整的断面计 (同各城市汇总表)；达标与否按各断面本月有效的水质目标 (w.against_target)，"
                  "目标未定的断面只评类别，不判达标。",
                  "逐断面、逐城市的表按省份另出：envmon bulletin --province 省份名称 --out 文件。", w.TARGET_STATUS_NOTE]), stats


def failures_table(month: Month, now: dict, provinces: pd.Series) -> Table:
    """Every section that failed its target in the month (against an official or assumed target),
    by province and city."""
    table = registry.sections(month.last)
    rows = []
    for section_id in now:
        status, exceeding = w.section_status(section_id, now[section_id])
        target_status = w.target_status(section_id, month.first)
        verdict = w.against_target(status, target_status)
        if not verdict.startswith(w.FAILED):
            continue
        section = table.loc[section_id]
        rows.append([provinces[section_id], section["city"], section["name_zh"], section["water_body"],
                     display.target_text(section["target_class"], "zh", target_status), now[section_id].class_text(),
                     verdict, exceeding])
    rows.sort(key=lambda r: (r[0], str(r[1]), r[2]))
    return Table("failures", "未达标断面", f"表1-1 {month.zh}未达到水质目标的断面",
                 [Column("省份"), Column("所在地市"), Column("断面名称"), Column("所在水体"), Column("水质目标"),
                  Column("本月水质类别"), Column("是否达标"), Column("主要超标项目（超标倍数）")], rows,
                 ["超标倍数 = (月均值 − 水质目标类别标准限值) / 该限值；pH、溶解氧不计超标倍数。",
                  "数据不全而已有指标劣于目标的断面判为未达标 (同表1)。"])


def province_air_table(month: Month, now: dict, before: dict) -> tuple[Table, list[dict]]:
    """Per province: its cities with air data, their city-days by HJ 633 category, the share of 优良
    city-days against the same month a year before, and the exceedance days by primary pollutant."""
    categories = list(standards.aqi_levels(month.last)["category"])
    by_province: dict[str, list[str]] = {}
    for city in now:
        by_province.setdefault(province_of_city(city), []).append(city)
    stats = []
    for province in sorted(by_province):
        mine = by_province[province]
        days = sum(now[c].days for c in mine)
        good = sum(now[c].good_days for c in mine)
        days_before = sum(before[c].days for c in mine)
        good_before = sum(before[c].good_days for c in mine)
        share, share_before = _share(good, days), _share(good_before, days_before)
        stats.append({"province": province, "good": share, "good_before": share_before, "row": [
            province, sum(now[c].days > 0 for c in mine), days,
            *[sum(now[c].by_category.get(k, 0) for c in mine) for k in categories], share, share_before,
            None if share is None or share_before is None else (share - share_before) * 100,
            *[sum(now[c].by_primary.get(p, 0) for c in mine) for p in bulletin.PRIMARY_ORDER]]})
    return Table("province_air", "各省份环境空气", f"表5 {month.zh}各省份环境空气质量（城市日）",
                 [Column("省份"), Column("有数据城市数", "integer"), Column("城市有效天数（合计）", "integer"),
                  *[Column(f"{k}（城市日）", "integer") for k in categories],
                  Column("优良天数比例", "percent"), Column("上年同期优良天数比例", "percent"),
                  Column("优良天数比例变化（百分点）", "points"),
                  *[Column(f"首要污染物为{bulletin.PRIMARY_ZH[p]}的超标天数", "integer") for p in bulletin.PRIMARY_ORDER]],
                 [s["row"] for s in stats],
                 [f"城市日 AQI 与类别按 HJ 633 (aqi_levels.csv)，城市日均浓度为城市各点位有效日均值的算术平均 "
                  f"(aqi_conventions.csv city_daily_value, UNVERIFIED)；标准：{air.label(month.last)}。",
                  "省份的优良天数比例 = 省内各城市优良天数之和 / 各城市有效天数之和。",
                  "逐城市的表按省份另出：envmon bulletin --province 省份名称 --out 文件。"]), stats


def assumptions_table(ids, month: Month) -> Table:
    """The registry's assumptions of the stations in the document, each stated once with how many
    stations share it and the first few of them (an adopted section's are the same words for all)."""
    table = registry.sections(month.last)
    grouped: dict[str, list[str]] = {}
    for section_id in ids:
        if section_id in table.index and table.loc[section_id, "assumptions"]:
            grouped.setdefault(table.loc[section_id, "assumptions"], []).append(
                f"{table.loc[section_id, 'name_zh']} ({section_id})")
    rows = [[text, len(names), "、".join(names[:EXAMPLES]) + ("…" if len(names) > EXAMPLES else "")]
            for text, names in sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))]
    return Table("assumptions", "登记假定", "说明：登记册中的假定 (registry assumptions, as the registry states them)",
                 [Column("假定"), Column("断面/点位数", "integer"), Column("例")], rows,
                 ["逐断面的假定见各省份月报的“登记假定”页。"])


def build(reader: WarehouseReader, month: Month, province: str | None = None) -> Document:
    if province is not None:
        return build_province(reader, month, province)
    sections_table = registry.sections(month.last)
    water = list(registry.water_sections(month.last).index)
    provinces = province_of_sections(month)
    now = section_results(reader, month, water)
    before = section_results(reader, month.year_before(), water)
    crossing = [s for s in water if sections_table.loc[s, "is_cross_boundary"]]
    drinking = [s for s in water if sections_table.loc[s, "is_drinking_water_source"]]
    water_summary, water_stats = province_water_table(month, now, before, provinces.loc[water])
    cities = air_cities()
    _, air_now, air_before = bulletin.air_table(reader, month, [], cities)
    air_summary, air_stats = province_air_table(month, air_now, air_before)
    tables = [water_summary, failures_table(month, now, provinces), bulletin.cross_boundary_table(reader, month, crossing),
              bulletin.drinking_table(month, now, drinking), *bulletin.coastal_tables(reader, month, None), air_summary]
    points = list(registry.sea_points(month.last).index)
    lineage = reader.lineage(bulletin.reads(month))
    assumed = unverified_assumptions(water + points, month.last)
    header = _header(reader, month, NATIONAL_SCOPE, lineage, len(assumed), (
        "逐断面、逐城市表 (per-station tables)",
        f"按省份另出（{len(water_stats)} 个省份）：envmon bulletin --month {month.label} --province 省份名称 --out 文件"))
    title = f"全国{month.zh}环境质量月报（按省份汇总）"
    used = inputs(reader, [m for _, m in bulletin.reads(month)])
    return Document("bulletin", title, month.label, month.zh, NATIONAL_SCOPE, header,
                    [*tables, assumptions_table(water + points, month), *lineage_tables(lineage)],
                    _figures(month, now, water, water_stats, air_stats), lineage, stamp_of(lineage, bulletin._epoch()),
                    fingerprint("bulletin", NATIONAL_SCOPE, month.label, used), used)


def _header(reader, month: Month, scope: str, lineage: dict, assumed: int, extra: tuple[str, str] | None) -> list:
    rows = [
        ("报告期 (period)", f"{month.zh}（{month.first} 至 {month.last}，北京时间）; 上年同期 {month.year_before().zh}; "
                            f"跨界达标率统计 {month.year}年1月至{month.month}月"),
        ("范围 (scope)", scope),
        ("数据状态 (data status)", data_status(reader, [month])),
        ("数据截至 (newest load)", stamp_of(lineage, bulletin._epoch()).isoformat() if lineage["newest_load"]
         else MISSING),
        ("评价标准与方法 (standards and methods)",
         f"地表水: {standards.rule_version('surface_water', month.last).label}; "
         f"跨界: 协议方案 (cross_boundary_schemes.csv); 湖库营养状态: 总站生字〔2001〕090号 TLI; "
         f"海水: {standards.rule_version('seawater', month.last).label}; 空气: {air.label(month.last)}; "
         f"修约: pipelines/reference/data/reporting_precision.csv; 评价的 QC 标记: {', '.join(reader.assessable_flags)}"),
        ("未核实的假定 (unverified assumptions)",
         f"{assumed} 个断面/点位的登记信息含假定，见“登记假定”页；标为 UNVERIFIED 的规则见 pipelines/reference/data/ 各表 status 列"),
        ("数据来源 (lineage)", f"{len(lineage['batches'])} 个批次, {len(lineage['payloads'])} 个载荷, "
                              f"{len(lineage['partitions'])} 个 (来源, 日) 分区；见“数据来源”页"),
    ]
    return rows + ([extra] if extra else [])


def _figures(month: Month, now: dict, water, water_stats: list[dict], air_stats: list[dict]) -> list[Figure]:
    colours = standards.water_class_grades()["colour_hex"].to_dict()
    classes = [*standards.SURFACE_WATER_CLASSES, standards.SURFACE_WATER_WORST]
    counted = [sum(now[s].water_class == k and now[s].is_complete for s in water) for k in classes]
    return [
        Figure("province_good_share", "各省份地表水Ⅰ–Ⅲ类断面比例", figures.bar_chart(
            f"{month.zh} 各省份地表水Ⅰ–Ⅲ类断面比例", [s["province"] for s in water_stats],
            [("本月", [s["good"] for s in water_stats], None),
             ("上年同期", [s["good_before"] for s in water_stats], None)], 1.0)),
        Figure("class_counts", "断面水质类别构成", figures.bar_chart(
            f"{month.zh} 断面水质类别构成（数据完整的断面）", classes, [("断面数", counted, None)],
            max(max(counted), 1), y_format=figures.counts, bar_colours=[colours[k] for k in classes])),
        Figure("province_air_good_share", "各省份空气质量优良天数比例", figures.bar_chart(
            f"{month.zh} 各省份空气质量优良天数比例（城市日）", [s["province"] for s in air_stats],
            [("本月", [s["good"] for s in air_stats], None),
             ("上年同期", [s["good_before"] for s in air_stats], None)], 1.0)),
    ]


# --- one province, with the per-section tables ---------------------------------------------------------

def build_province(reader: WarehouseReader, month: Month, province: str) -> Document:
    """The cluster bulletin's tables for one province's sections, points and cities: every section
    and city of the province, as a provincial centre reads them."""
    provinces = province_of_sections(month)
    known = sorted(set(provinces) | {province_of_city(c) for c in air_cities()})
    if province not in known:
        raise ValueError(f"no station of the registry in province {province!r}; known: {'、'.join(known)}")
    sections_table = registry.sections(month.last)
    water = [s for s in registry.water_sections(month.last).index if provinces.get(s) == province]
    points = [p for p in registry.sea_points(month.last).index if provinces.get(p) == province]
    cities = [c for c in air_cities() if province_of_city(c) == province]
    now = section_results(reader, month, water)
    before = section_results(reader, month.year_before(), water)
    crossing = [s for s in water if sections_table.loc[s, "is_cross_boundary"]]
    drinking = [s for s in water if sections_table.loc[s, "is_drinking_water_source"]]
    summary, stats = bulletin.city_summary(month, now, before, cities, water)
    air_rows, air_now, air_before = bulletin.air_table(reader, month, cities, cities)
    tables = [bulletin.surface_table(month, now, before, water), bulletin.completeness_table(month, now, water), summary,
              bulletin.cross_boundary_table(reader, month, crossing), bulletin.drinking_table(month, now, drinking),
              *bulletin.coastal_tables(reader, month, None, points), air_rows]
    lineage = reader.lineage(bulletin.reads(month))
    assumed = unverified_assumptions(water + points, month.last)
    header = _header(reader, month, province, lineage, len(assumed), None)
    notes = Table("assumptions", "登记假定", "说明：登记册中的假定 (registry assumptions, as the registry states them)",
                  [Column("断面/点位与假定")], [[line] for line in assumed], [])
    used = inputs(reader, [m for _, m in bulletin.reads(month)])
    return Document("bulletin", f"{province}{month.zh}环境质量月报", month.label, month.zh, province, header,
                    [*tables, notes, *lineage_tables(lineage)],
                    bulletin._figures(month, now, water, stats, air_now, air_before, cities), lineage,
                    stamp_of(lineage, bulletin._epoch()), fingerprint("bulletin", province, month.label, used), used)
