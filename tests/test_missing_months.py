"""Months without data are never failures (issue 22 'Tests that meet each fault', issue 20's
"nan · 未达标"): hand-made months of cross-boundary sections, each worked out by hand, through the
yearly assessment (cross_boundary.assess_year), the month rows the nightly writes
(cross_boundary.month_to_date_rows), the app's Cross-boundary page (table, rate, highlight, class
strip), the monthly bulletin and the annual report.

The three kinds of month: (a) no data in the month; (b) one sample of the month's four, carrying two
of the five required indicators (数据不全 / too few: it cannot show compliance); (c) a real failure.
"""
from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from pipelines import display
from pipelines.assessment import cross_boundary

# --- assess_year: hand-made frames -------------------------------------------------------------

# GB 3838-2002 Table 1 (river): NH3-N class Ⅲ ≤ 1.0 mg/L, Ⅳ ≤ 1.5, Ⅴ ≤ 2.0
COMPLIANT_NH3N, FAILING_NH3N = 0.8, 1.2   # Ⅲ (meets the Ⅲ target) and Ⅳ (fails it)


def _year(months: dict[int, list[tuple[str, float]]], year: int = 2020) -> pd.DataFrame:
    return pd.DataFrame([{"parameter": code, "value": value, "month": f"{year}-{month:02d}"}
                         for month, values in months.items() for code, value in values])


def test_months_without_valid_data_are_not_counted_in_the_rate():
    """九洲江 scheme 2020 (ph;codmn;nh3n;tp;bod5, Ⅲ, every month must comply: 1.00). Ten months
    compliant, March without a valid value (NaN), November with DO only (not a scheme indicator):
    by hand 10 assessed, 10 compliant, rate 10/10 = 100 % ≥ 100 %, the annual mean 0.8 is Ⅲ: the
    agreement is met. Counting the two empty months would give 10/12 = 83 % < 100 %: not met."""
    months = {m: [("nh3n", COMPLIANT_NH3N)] for m in range(1, 13) if m not in (3, 11)}
    months[3] = [("nh3n", float("nan"))]
    months[11] = [("do", 2.5)]   # DO 劣Ⅴ, but the scheme does not assess DO: no class for the month
    result = cross_boundary.assess_year("jiuzhou-wenchequiao", 2020, _year(months))
    assert result.required_rate == 1.0
    assert (result.months_assessed, result.months_compliant) == (10, 10)
    assert result.compliance_rate == 1.0
    assert result.annual.water_class == "Ⅲ" and result.meets_agreement is True


def test_a_month_lacking_a_required_indicator_counts_only_if_it_already_fails():
    """required nh3n and tp: January–August complete and compliant (8), September NH3-N only and
    compliant (数据不全: not counted), October NH3-N only at 1.2 (Ⅳ: fails whatever TP would be:
    counted as failed), November and December complete and compliant. By hand: 11 counted, 10
    compliant, rate 10/11."""
    complete = [("nh3n", COMPLIANT_NH3N), ("tp", 0.1)]
    months = {m: complete for m in (*range(1, 9), 11, 12)}
    months[9] = [("nh3n", COMPLIANT_NH3N)]
    months[10] = [("nh3n", FAILING_NH3N)]
    frame = _year(months, 2019)
    result = cross_boundary.assess_year("jiuzhou-wenchequiao", 2019, frame, required=("nh3n", "tp"))
    assert (result.months_assessed, result.months_compliant) == (11, 10)
    assert result.compliance_rate == pytest.approx(10 / 11)
    # 10/11 = 90.9 % ≥ 83 % (2019) and the annual means (NH3-N 0.836, TP 0.1) are Ⅲ: met
    assert result.meets_agreement is True
    # without the completeness rule every month with a class counts: 12, 11 compliant
    assert cross_boundary.assess_year("jiuzhou-wenchequiao", 2019, frame).months_assessed == 12


def test_a_year_without_an_assessed_month_has_no_rate_and_no_verdict():
    months = {m: [("nh3n", float("nan"))] for m in range(1, 7)} | {m: [("do", 2.5)] for m in range(7, 13)}
    result = cross_boundary.assess_year("jiuzhou-wenchequiao", 2020, _year(months))
    assert result.months_assessed == 0 and result.months_compliant == 0
    assert result.compliance_rate is None and result.meets_agreement is None


# --- the month rows the nightly writes --------------------------------------------------------

# the five indicators every section-month must have (required_indicators.csv: pH, DO, CODMn, NH3-N, TP)
GOOD = {"ph": 7.5, "do": 7.0, "codmn": 3.0, "nh3n": 0.4, "tp": 0.08}   # Ⅱ on each: meets the Ⅲ target
BAD = {**GOOD, "nh3n": 1.8}             # Ⅴ by NH3-N: failed, (1.8 − 1.0) / 1.0 = 0.8 times over
FEW = {"conductivity": 310.0}           # values, none an assessment indicator: insufficient data
ONE_SAMPLE = {"codmn": 3.0, "nh3n": 0.4}  # (b) one sample of four, two of the five required indicators
ONE_BAD_SAMPLE = {"nh3n": 1.8}          # one sample, NH3-N only, already Ⅴ: a failure all the same

def _rollups(values: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"station_id": s, "parameter": p, "averaging_period": "PT0S", "mean": v,
                          "values_assessable": 4} for s, codes in values.items() for p, v in codes.items()],
                        columns=["station_id", "parameter", "averaging_period", "mean", "values_assessable"])


def test_month_rows_tell_no_data_from_too_few_from_a_failure():
    rows = {r["station_id"]: r for r in cross_boundary.month_to_date_rows(_rollups({
        "jiuzhou-shijiao": FEW,                              # values, but no assessment indicator
        "nanliu-hengtang": BAD,                              # Ⅴ against Ⅲ: a failure
        "beilun-dongxing": ONE_SAMPLE,                       # Ⅱ on two of the five required: incomplete
    }), date(2026, 10, 1))}
    assert rows["huanghua-boundary"]["status"] == "no data" and rows["huanghua-boundary"]["water_class"] is None
    assert rows["jiuzhou-shijiao"]["status"] == "insufficient data"
    assert (rows["beilun-dongxing"]["status"], rows["beilun-dongxing"]["is_compliant"]) == ("indicators incomplete", None)
    failing = rows["nanliu-hengtang"]
    assert (failing["status"], failing["water_class"], failing["is_compliant"]) == ("assessed", "Ⅴ", False)
    assert display.class_and_verdict(None, None, "zh", rows["huanghua-boundary"]["status"]) == "无数据"
    assert display.class_and_verdict(None, None, "en", rows["jiuzhou-shijiao"]["status"]) == "insufficient data"
    # (1.8 − 1.0) / 1.0 = 0.8 times over the Ⅲ limit
    assert display.multiples_text(failing["failing_parameters"], "zh") == "氨氮 0.8倍"


# --- the app's Cross-boundary page --------------------------------------------------------------

END = date(2026, 10, 1)
MONTHS = [date(2025 + (m > 12), (m - 1) % 12 + 1, 1) for m in range(11, 23)]   # 2025-11 … 2026-10
# 横塘: 8 compliant, 2 failed (2026-03, 2026-10), 2025-12 no data, 2026-06 too few →
#   by hand 10 assessed of 12, 8 compliant: '80% (8/10, 10/12 期有数据)'; its newest month fails
# 石角: 10 compliant, 2 failed → '83% (10/12)'; newest month compliant
# 鹤地水库: 2026-10 too few, everything else no data → '— (0/12, 无数据)', '数据不足'
# 平而关 (target Ⅱ): 2026-09 one sample, compliant on what it has (指标不全: not counted), 2026-10 one
#   sample already Ⅴ (a failure): '0% (0/1, 1/12 期有数据)', 'Ⅴ · 未达标 (指标不全)'; 东兴: 2026-10 one
#   compliant sample only: '指标不全', '— (0/12, 无数据)'
PLAN = {
    "nanliu-hengtang": {m: (BAD if m in (date(2026, 3, 1), date(2026, 10, 1)) else None if m == date(2025, 12, 1)
                            else FEW if m == date(2026, 6, 1) else GOOD) for m in MONTHS},
    "jiuzhou-shijiao": {m: (BAD if m in (date(2026, 1, 1), date(2026, 2, 1)) else GOOD) for m in MONTHS},
    "hedi-reservoir": {m: (FEW if m == END else None) for m in MONTHS},
    "pingerhe-pingerguan": {m: ({date(2026, 9, 1): ONE_SAMPLE, END: ONE_BAD_SAMPLE}.get(m)) for m in MONTHS},
    "beilun-dongxing": {m: (ONE_SAMPLE if m == END else None) for m in MONTHS},
}


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A warehouse whose month rows are the nightly's own (month_to_date_rows of hand-made month
    means, stored by db.replace_assessments); the page's table and strip as the regional user sees
    them, in both languages."""
    from dashboards.app import figures
    from dashboards.app.components import PageContext
    from dashboards.app.data import Warehouse, scope_for
    from dashboards.app.pages import cross_boundary as page
    from dashboards.app.users import User
    from pipelines import nightly
    from pipelines.config import load_settings
    from warehouse import db, queries

    home = tmp_path_factory.mktemp("missing-months")
    url = f"sqlite:///{home / 'warehouse.db'}"
    nightly.prepare_warehouse(load_settings({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url}))
    engine = db.engine_for(url)
    for month in MONTHS:
        rollups = _rollups({s: plan[month] for s, plan in PLAN.items() if plan[month] is not None})
        db.replace_assessments(engine, "surface_water", month, cross_boundary.month_to_date_rows(rollups, month),
                               period="month")
    stations = queries.stations(engine)
    user = User("region", "regional", "gx-dept")
    out = {}
    for lang in ("zh", "en"):
        context = PageContext(Warehouse(engine, cache_seconds=0), stations, scope_for(user, stations), user, lang)
        table = page.board_table(context).set_index("section_id")
        sections, monthly, months = page.board(context)
        out[lang] = {"table": table, "strip": figures.class_strip(sections, monthly, months, lang),
                     "order": list(sections["station_id"]), "months": months,
                     "layout": page.render(context, "")[0]}
    yield out
    engine.dispose()


def _column(table: pd.DataFrame, prefix: str) -> str:
    return next(c for c in table.columns if c.startswith(prefix))


def test_the_page_words_each_month_and_counts_only_assessed_months(board):
    from dashboards.app.i18n import t

    assert board["zh"]["months"][-12:] == MONTHS   # the newest month with an assessed row ends the window
    # these sections' targets are assumed (section_targets.csv): their verdicts say so (issue 23)
    for lang, words in (("zh", ("80% (8/10, 10/12 期有数据)", "83% (10/12)", "— (0/12, 无数据)", "无数据", "数据不足",
                                "Ⅴ · 未达标（目标为假定）", "Ⅱ · 达标（目标为假定）", "氨氮 0.8倍")),
                        ("en", ("80% (8/10, 10/12 periods with data)", "83% (10/12)", "— (0/12, no data)", "no data",
                                "insufficient data", "Ⅴ · failed (assumed target)", "Ⅱ · compliant (assumed target)",
                                "ammonia nitrogen (as N) 0.8×"))):
        table = board[lang]["table"]
        rate, klass = _column(table, t("compliance_rate", lang)), t("class", lang)
        items = t("failing_items", lang)
        good_rate, good_rate_all, no_rate, no_data, too_few, failed, compliant, multiples = words
        assert table.loc["nanliu-hengtang", rate] == good_rate
        assert table.loc["jiuzhou-shijiao", rate] == good_rate_all
        assert table.loc["hedi-reservoir", rate] == no_rate
        assert table.loc["huanghua-boundary", rate] == no_rate           # no row at all in 12 months
        assert table.loc["nanliu-hengtang", klass] == failed and table.loc["nanliu-hengtang", items] == multiples
        assert table.loc["jiuzhou-shijiao", klass] == compliant and table.loc["jiuzhou-shijiao", items] == ""
        assert table.loc["hedi-reservoir", klass] == too_few and table.loc["hedi-reservoir", items] == ""
        assert table.loc["huanghua-boundary", klass] == no_data
        incomplete = display.word("indicators_incomplete", lang)
        assert table.loc["beilun-dongxing", klass] == incomplete
        assert table.loc["beilun-dongxing", rate] == no_rate
        assert table.loc["pingerhe-pingerguan", klass] == f"{failed} ({incomplete})"
        assert table.loc["pingerhe-pingerguan", rate] == ("0% (0/1, 1/12 期有数据)" if lang == "zh" else
                                                         "0% (0/1, 1/12 periods with data)")
        for cell in table.astype(str).to_numpy().ravel():   # the cells, not the section ids
            assert not re.search(r"\b(nan|NaN|None|NaT|null)\b|\[\{|\{\"", cell), cell


def test_only_a_real_failure_is_highlighted_and_listed_first(board):
    from dashboards.app.i18n import t

    # the two failing in the newest month come first
    assert set(board["zh"]["order"][:2]) == {"nanliu-hengtang", "pingerhe-pingerguan"}
    assert set(board["zh"]["order"][2:]) >= {"jiuzhou-shijiao", "hedi-reservoir", "huanghua-boundary", "beilun-dongxing"}
    for lang in ("zh", "en"):
        table = board[lang]["table"]
        grid = next(c for c in _walk(board[lang]["layout"]) if getattr(c, "id", None) == "cross-table")
        queries = [s["if"]["filter_query"] for s in grid.style_data_conditional if "filter_query" in s.get("if", {})]
        assert queries == [f'{{{t("class", lang)}}} contains "{display.word("failed", lang)}"']
        needle = display.word("failed", lang)
        highlighted = {s for s, text in table[t("class", lang)].items() if needle in text}
        assert highlighted == {"nanliu-hengtang", "pingerhe-pingerguan"}


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        if hasattr(child, "to_plotly_json"):
            yield from _walk(child)
    if isinstance(component, list):
        for child in component:
            yield from _walk(child)


def test_the_class_strip_marks_only_failures_and_says_why_a_month_has_no_class(board):
    for lang in ("zh", "en"):
        strip = board[lang]["strip"]["data"][0]
        order, months = board[lang]["order"], [m.strftime("%Y-%m") for m in board[lang]["months"]]
        cell = {(s, m): (strip["text"][i][j], strip["hovertext"][i][j], strip["z"][i][j])
                for i, s in enumerate(order) for j, m in enumerate(months)}
        text, hover, z = cell[("nanliu-hengtang", "2025-12")]
        assert text == "" and z is None and display.word("no_data", lang) in hover
        text, hover, z = cell[("nanliu-hengtang", "2026-06")]
        assert text == "" and z is None and display.word("insufficient", lang) in hover
        text, hover, z = cell[("nanliu-hengtang", "2026-10")]
        assert text == "Ⅴ✗" and display.word("failed", lang) in hover
        assert cell[("jiuzhou-shijiao", "2026-10")][0] == "Ⅱ"
        text, hover, z = cell[("pingerhe-pingerguan", "2026-09")]
        assert text == "" and z is None and display.word("indicators_incomplete", lang) in hover
        text, hover, z = cell[("pingerhe-pingerguan", "2026-10")]
        assert text == "Ⅴ✗" and display.word("indicators_incomplete", lang) in hover
        crosses = sum(t.endswith("✗") for row in strip["text"] for t in row)
        assert crosses == 5   # 横塘 2, 石角 2, 平而关 1: the only failures
        for row in strip["hovertext"]:
            for words in row:
                assert "nan" not in words and "None" not in words and "[{" not in words


# --- the bulletin and the annual report ---------------------------------------------------------

SECTION = "jiuzhou-wenchequiao"   # 2026: the default scheme, its own target Ⅲ, every month must comply


def _days(month: int, values: dict, days=(5, 12, 19, 26)) -> list[dict]:
    return [{"station_id": SECTION, "day": date(2026, month, d), "parameter": p, "value": v, "count": 1,
             "month": f"2026-{month:02d}"} for d in days for p, v in values.items()]


# January–June and August complete and compliant; (a) July no data; (b) September one sample; (c)
# October a real failure; November and December not yet
HAND_MADE = pd.DataFrame([*[r for m in (1, 2, 3, 4, 5, 6, 8) for r in _days(m, GOOD)],
                          *_days(9, ONE_SAMPLE, days=(15,)), *_days(10, BAD)])


class HandMadeReader:
    """What the documents read (WarehouseReader.section_days): the hand-made valid day values."""

    def section_days(self, section_id, months, sections=None):
        labels = {m.label for m in months}
        frame = HAND_MADE[(HAND_MADE["station_id"] == section_id) & HAND_MADE["month"].isin(labels)]
        return frame.reset_index(drop=True)


def _row(table) -> dict:
    return dict(zip([c.heading for c in table.columns], table.rows[0]))


@pytest.mark.parametrize("month, klass, status, items, counted, compliant, conclusion, remarks", [
    # (a) no data: no class, 无有效数据; January–June counted, 6 of 6 compliant; the year rule's 8 monthly
    # values not reached, so no annual verdict yet
    (7, "—", "无有效数据", "—", 6, 6, "待年度评价", ["本期无有效监测数据", "年内无数据月份：2026-07"]),
    # (b) one sample: classed Ⅱ on what it has, but 数据不全 (pH, DO, TP missing) and not counted:
    # 7 of 7 (January–June, August); NH3-N and CODMn reach 8 monthly values (Ⅱ), so the annual is
    # assessed and compliant, but an incomplete month cannot prove the agreement met
    (9, "Ⅱ", "数据不全", "—", 7, 7, "待定（数据不全）", ["数据不全：pH、溶解氧、总磷无有效值", "年内数据不全月份：2026-09",
                                                  "年内无数据月份：2026-07"]),
    # (c) a real failure: Ⅴ, (1.8 − 1.0) / 1.0 = 0.80 times; 8 counted, 7 compliant (87.5 % < 100 %); the
    # section's target is assumed (section_targets.csv), and the verdict says so (issue 23)
    (10, "Ⅴ", "未达标（目标为假定）", "氨氮(0.80倍)", 8, 7, "未达到", ["年内数据不全月份：2026-09", "年内无数据月份：2026-07"]),
])
def test_the_bulletin_shows_and_counts_each_kind_of_month(month, klass, status, items, counted, compliant,
                                                          conclusion, remarks):
    from pipelines.reports import bulletin
    from pipelines.reports.reading import Month

    row = _row(bulletin.cross_boundary_table(HandMadeReader(), Month(2026, month), [SECTION]))
    assert (row["本月水质类别"], row["本月是否达标"], row["主要超标项目（超标倍数）"]) == (klass, status, items)
    assert (row["年初至今评价月数"], row["达标月数"]) == (counted, compliant)
    assert row["年初至今月均值达标率"] == pytest.approx(compliant / counted)
    assert row["年度考核结论（截至本月）"] == conclusion
    for remark in remarks:
        assert remark in row["备注"]


def test_the_annual_report_counts_only_the_assessed_months():
    from pipelines.reports import annual

    table, rates = annual.cross_boundary_table(HandMadeReader(), 2026, [SECTION])
    row = _row(table)
    # 8 counted (January–June, August, October), 7 compliant; July, November and December no data,
    # September 数据不全; the annual means are Ⅲ (NH3-N (7 × 0.4 + 0.4 + 1.8) / 9 = 0.56)
    assert (row["评价月数"], row["达标月数"]) == (8, 7)
    assert row["月均值达标率"] == pytest.approx(7 / 8) and rates == [(row["断面名称"], pytest.approx(7 / 8), 1.0)]
    assert (row["年均值水质类别"], row["年均值是否达标"], row["是否达到协议要求"]) == ("Ⅲ", "达标", "未达到")
    assert "数据不全月份：2026-09" in row["备注"] and "无数据月份：2026-07, 2026-11, 2026-12" in row["备注"]
