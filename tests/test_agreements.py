"""Agreements as data, money included (issue 23): the 九洲江 agreements' terms as recorded
(cross_boundary_agreements.csv, cross_boundary_schemes.csv), and each agreement year's outcome in
the annual assessment report, read back from the rendered documents (XLSX cells, HTML text, PDF
text), worked out by hand below.

The hand-made years are laboratory samples at 石角 (jiuzhou-shijiao), the registry section both
agreements are computed at (2018–2020 prints 山角: taken as 石角, unverified). One sample a month is
the month's value (surface_water_completeness.csv: month, 1 value). GB 3838-2002 Table 1 (river),
class Ⅲ limits: CODMn ≤ 6, NH3-N ≤ 1.0, TP ≤ 0.2, BOD5 ≤ 4 (Ⅳ: 10, 1.5, 0.3, 6; Ⅴ: 15, 2.0, 0.4, 10).
"""
from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import replace
from datetime import date

import pandas as pd
import pytest
from openpyxl import load_workbook

from pipelines import display
from pipelines.assessment import cross_boundary
from pipelines.config import load_settings
from pipelines.reference import standards
from pipelines.reports import annual, publish
from pipelines.reports.reading import WarehouseReader
from tests.test_reports import _row, _sampled, load
from warehouse import db

SECTION = "jiuzhou-shijiao"   # 石角
# a compliant month: pH 7.2, CODMn 3.5 (Ⅱ), NH3-N 0.6 (Ⅲ), TP 0.15 (Ⅲ), BOD5 3.5 (Ⅲ) → Ⅲ, 达标
GOOD = {"ph": 7.2, "codmn": 3.5, "nh3n": 0.6, "tp": 0.15, "bod5": 3.5}
FAILING = {
    3: {**GOOD, "nh3n": 1.3},    # NH3-N 1.3 (Ⅳ) → Ⅳ 未达标, (1.3 − 1.0) / 1.0 = 0.3 times over Ⅲ
    7: {**GOOD, "tp": 0.26},     # TP 0.26 (Ⅳ) → Ⅳ 未达标, (0.26 − 0.2) / 0.2 = 0.3 times
    10: {**GOOD, "bod5": 6.4},   # BOD5 6.4 (Ⅴ: 6 < 6.4 ≤ 10) → Ⅴ 未达标, (6.4 − 4) / 4 = 0.6 times
}
NO_DATA_MONTH = 6                # June: no sample at all


def _year(year: int, failing: dict[int, dict]) -> dict[int, dict]:
    return {m: failing.get(m, GOOD) for m in range(1, 13) if m != NO_DATA_MONTH}


# 2019 (required 83 %): March, July and October fail, June has no data, eight months comply.
YEAR_2019 = _year(2019, FAILING)
# 2018 (required 75 %): only March and July fail, June has no data: nine months comply.
YEAR_2018 = _year(2018, {m: FAILING[m] for m in (3, 7)})
# 2016 (the 2015–2017 agreement, target wording not recovered): the same months as 2019.
YEAR_2016 = _year(2016, FAILING)
YEARS = {2019: YEAR_2019, 2018: YEAR_2018, 2016: YEAR_2016}


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    """One warehouse with the three hand-made years. 2019: the whole annual report (annual.build),
    as XLSX and HTML. 2018, 2016 and 2021 (after every agreement): the report's agreement tables
    (annual.agreement_tables, as build makes them) in the same document, rendered again: a whole
    report costs about 15 s on a shared machine, and the rest of it does not change with the year."""
    from pipelines import nightly

    url = f"sqlite:///{tmp_path_factory.mktemp('agreements') / 'warehouse.db'}"
    nightly.prepare_warehouse(load_settings({"ENVMON_WAREHOUSE_URL": url, "ENVMON_HOME": "/nonexistent-not-written"}))
    engine = db.engine_for(url)
    rows = []
    for year, months in YEARS.items():
        for month, values in months.items():
            day = date(year, month, 12)
            rows += [_row("lab", SECTION, p, _sampled(day), v) | {"day": day} for p, v in values.items()]
    load(engine, rows)
    reader = WarehouseReader(engine)
    whole = annual.build(reader, 2019)
    out = {}
    for year in (2019, 2018, 2016, 2021):
        document = whole if year == 2019 else replace(
            whole, period_label=str(year), tables=annual.agreement_tables(reader, year, [SECTION]))
        out[year] = {"document": document, "xlsx": publish.render(document, "xlsx"),
                     "html": publish.render(document, "html").decode("utf-8")}
    return out


def _sheet_rows(xlsx: bytes, name: str) -> list[dict]:
    """A sheet's rows as {heading: value}, headings in row 2, up to the notes (注：)."""
    rows = list(load_workbook(io.BytesIO(xlsx))[name].iter_rows(min_row=2, values_only=True))
    out = []
    for row in rows[1:]:
        if row[0] is None or str(row[0]).startswith("注："):
            break
        out.append(dict(zip(rows[0], row)))
    return out


def test_2019_hand_worked_outcome_and_money_in_the_xlsx_and_html(documents):
    """2019 under the 2018–2020 agreement (山角 read as 石角; Ⅲ annual; 83 % of months):
    - monthly: 11 months with data; March Ⅳ, July Ⅳ, October Ⅴ fail; the eight others Ⅲ comply;
      June has no data and is neither counted nor failed.
    - rate: 8 compliant / 11 assessed = 72.7 % → '73% (8/11, 11/12 期有数据)'.
    - annual means: NH3-N (10 × 0.6 + 1.3) / 11 = 0.664 (Ⅲ), TP (10 × 0.15 + 0.26) / 11 = 0.160
      (Ⅲ), BOD5 (10 × 3.5 + 6.4) / 11 = 3.76 (Ⅲ), CODMn 3.5 (Ⅱ) → Ⅲ, the annual target met.
    - verdict: even had June complied, 9 / 12 = 75 % < 83 %: missed, whatever June was.
    - money (the terms as recorded): missed → 广西壮族自治区 pays 广东省 1亿元; the central award's
      condition (targets completed) not met."""
    row = _sheet_rows(documents[2019]["xlsx"], "补偿协议考核与资金")[0]
    assert row["协议"] == "九洲江流域上下游横向生态补偿协议（2018–2020年）"
    assert row["考核断面（协议所载）"] == "山角"
    assert row["评价所用登记断面"].startswith("石角 (jiuzhou-shijiao)；假定")
    assert row["水质目标（年均值）"] == "Ⅲ"
    assert (row["评价月数"], row["达标月数"]) == (11, 8)
    assert row["月均值达标率"] == "73% (8/11, 11/12 期有数据)"
    assert row["协议要求达标率"] == "83%"
    assert (row["年均值水质类别"], row["年均值是否达标"]) == ("Ⅲ", "达标")
    assert row["考核结论"] == "未达到协议考核要求"
    assert row["资金（按协议条款推算）"] == "按协议条款推算 (implied by the terms as recorded)：广西壮族自治区 → 广东省 1亿元"
    assert row["中央奖励"].startswith("条件未满足")
    assert "无数据月份：2019-06" in row["说明"] and "Whether 山角 is 石角 is unknown" in row["说明"]

    months = {r["月份"]: r for r in _sheet_rows(documents[2019]["xlsx"], "补偿协议逐月")}
    assert len(months) == 12
    assert (months["2019-03"]["月均值水质类别"], months["2019-03"]["是否达标"]) == ("Ⅳ", "未达标")
    assert months["2019-03"]["主要超标项目（超标倍数）"] == "氨氮(0.30倍)"
    assert months["2019-07"]["主要超标项目（超标倍数）"] == "总磷(0.30倍)"
    assert (months["2019-10"]["月均值水质类别"], months["2019-10"]["主要超标项目（超标倍数）"]) == ("Ⅴ", "五日生化需氧量(0.60倍)")
    assert (months["2019-01"]["月均值水质类别"], months["2019-01"]["是否达标"], months["2019-01"]["计入达标率"]) == (
        "Ⅲ", "达标", "是")
    assert (months["2019-06"]["是否达标"], months["2019-06"]["计入达标率"]) == ("无数据", "否（无数据）")
    assert sum(r["是否达标"] == "未达标" for r in months.values()) == 3

    page = documents[2019]["html"]
    assert "表3-1 2019年跨界补偿协议考核结果与资金（按协议条款推算）" in page
    assert "广西壮族自治区 → 广东省 1亿元" in page and "73% (8/11, 11/12 期有数据)" in page
    assert "山角是否即石角（更名）未经核实" in page


def test_2019_outcome_in_the_pdf_text(documents, tmp_path):
    assert shutil.which("pdftotext"), "pdftotext is missing: run tests/system-packages.sh (poppler-utils)"
    pdf = tmp_path / "2019.pdf"
    pdf.write_bytes(publish.render(documents[2019]["document"], "pdf"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = "".join(text.split())
    assert "广西壮族自治区→广东省1亿元" in flat and "未达到协议考核要求" in flat


def test_2018_met_with_a_month_missing_and_the_money_goes_the_other_way(documents):
    """2018 (75 %): March and July fail, June no data, nine comply: 9 / 11 = 81.8 % → '82% (9/11,
    11/12 期有数据)'; had June failed, 9 / 12 = 75 % ≥ 75 %: met whatever June was. Annual means
    NH3-N (10 × 0.6 + 1.3) / 11 = 0.664, TP (10 × 0.15 + 0.26) / 11 = 0.160, BOD5 3.5: Ⅲ.
    Money: met → 广东省 pays 广西壮族自治区 1亿元; the central award's condition met."""
    row = _sheet_rows(documents[2018]["xlsx"], "补偿协议考核与资金")[0]
    assert (row["评价月数"], row["达标月数"], row["月均值达标率"]) == (11, 9, "82% (9/11, 11/12 期有数据)")
    assert row["协议要求达标率"] == "75%" and row["年均值水质类别"] == "Ⅲ"
    assert row["考核结论"] == "达到协议考核要求"
    assert row["资金（按协议条款推算）"].endswith("广东省 → 广西壮族自治区 1亿元")
    assert row["中央奖励"].startswith("条件满足")


def test_2015_2017_states_its_unknowns(documents):
    """2016 under the 2015–2017 agreement: the same months as 2019 are classed against Ⅲ, but Ⅲ is
    assumed and the compliance rates were never recovered: no verdict, no money implied, and the
    document says why; each province's 3亿元 is the sum for the whole agreement."""
    row = _sheet_rows(documents[2016]["xlsx"], "补偿协议考核与资金")[0]
    assert row["协议"] == "九洲江流域上下游横向生态补偿协议（2015–2017年）"
    assert (row["考核断面（协议所载）"], row["评价所用登记断面"]) == ("石角", "石角 (jiuzhou-shijiao)")
    assert row["水质目标（年均值）"] == "Ⅲ（假定）"
    assert (row["评价月数"], row["达标月数"]) == (11, 8)
    assert row["协议要求达标率"] == "未取得（协议考核目标原文未取得）"
    assert row["考核结论"] == "不能评价（协议考核目标原文未取得）"
    assert row["资金（按协议条款推算）"].startswith("不能推算")
    assert "两省（区）各出资3亿元（协议期合计）" in row["资金（按协议条款推算）"]
    assert "金额未载明" in row["中央奖励"] and row["中央奖励"].startswith("不能判断")
    months = {r["月份"]: r for r in _sheet_rows(documents[2016]["xlsx"], "补偿协议逐月")}
    assert months["2016-03"]["是否达标"] == "未达标（目标为假定）"
    # the data say what is unknown, with their confidence
    terms = next(a for a in cross_boundary.agreements() if a.agreement_id == "jiuzhou-2015-2017")
    assert terms.on_fail is None and terms.central_award_yuan is None
    assert (terms.fund_each_yuan, terms.fund_per) == (300_000_000, "agreement")
    assert "NF" in terms.direction_status and "C3" in terms.status
    assert cross_boundary.scheme_for(SECTION, 2016).required_monthly_compliance is None
    # the app's Cross-boundary page writes the rate through the same words, never 'nan%'
    assert display.required_rate_text(None, "en") == "not recovered (the agreement's target wording)"
    assert display.required_rate_text(0.83) == "83%"


def test_a_year_after_every_agreement_says_so(documents):
    row = _sheet_rows(documents[2021]["xlsx"], "补偿协议考核与资金")[0]
    assert row["协议"] == "2021年不在任何已登记补偿协议的有效期内"
    assert "（2018–2020年）" in row["说明"] and "2020年以后未见公开的协议" in row["说明"]
    assert row["资金（按协议条款推算）"] == "—"


@pytest.mark.parametrize("months, required, expected", [
    # (compliant, assessed) of 12; a month without a counted verdict is neither pass nor fail
    ((10, 11), 0.83, "met"),        # worst 10/12 = 83.3 % ≥ 83 %
    ((9, 11), 0.83, "pending"),     # worst 9/12 = 75 % < 83 % ≤ best 10/12 = 83.3 %
    ((8, 11), 0.83, "not_met"),     # best 9/12 = 75 % < 83 %
    ((10, 10), 1.00, "pending"),    # two months without data can never prove 100 %
    ((12, 12), 1.00, "met"),
    ((0, 0), 0.83, "no_data"),
    ((10, 11), None, "terms_unknown"),
])
def test_agreement_verdict_never_counts_a_missing_month_either_way(months, required, expected):
    from pipelines.assessment import surface_water

    annual = surface_water.classify_period(pd.DataFrame({"parameter": ["nh3n"] * 8, "value": [0.6] * 8,
                                                         "month": [f"2019-{m:02d}" for m in range(1, 9)]}),
                                           "year", "river", "Ⅲ", ("nh3n",))
    compliant, assessed = months
    yearly = cross_boundary.YearlyVerdict(SECTION, 2019, annual, assessed, compliant,
                                          compliant / assessed if assessed else None, required, None)
    assert cross_boundary.agreement_verdict(yearly)[0] == expected


def test_agreement_periods_do_not_overlap_and_each_scheme_year_names_its_agreement():
    terms = standards.rule_table("cross_boundary_agreements")
    for _, rows in terms.groupby("scheme_id"):
        periods = sorted(zip(rows["valid_from"], rows["valid_to"]))
        for (_, end), (start, _) in zip(periods, periods[1:]):
            assert end < start
    schemes = standards.rule_table("cross_boundary_schemes")
    for _, rows in schemes.groupby(["scheme_id", "applies_to"]):
        periods = sorted(zip(rows["valid_from"], rows["valid_to"]))
        for (_, end), (start, _) in zip(periods, periods[1:]):
            assert end < start
    agreements = {a.agreement_id: a for a in cross_boundary.agreements()}
    for _, row in schemes[schemes["agreement_id"] != ""].iterrows():
        agreement = agreements[row["agreement_id"]]
        assert agreement.valid_from <= date.fromisoformat(row["valid_from"])
        assert date.fromisoformat(row["valid_to"]) <= agreement.valid_to
        assert agreement.section_id in row["applies_to"].split(";")
    # 2018–2020: each province 1亿元 a year; pass: 广东 → 广西, fail: 广西 → 广东, with its confidence
    later = agreements["jiuzhou-2018-2020"]
    assert (later.section_printed, later.section_id, later.section_match) == ("山角", "jiuzhou-shijiao", "assumed")
    assert (later.on_pass.payer, later.on_pass.payee, later.on_pass.amount_yuan, later.on_pass.per) == (
        "广东省", "广西壮族自治区", 100_000_000, "year")
    assert (later.on_fail.payer, later.on_fail.payee) == ("广西壮族自治区", "广东省")
    assert "UNVERIFIED" in later.direction_status
    assert [cross_boundary.scheme_for(SECTION, y).required_monthly_compliance for y in (2018, 2019, 2020)] == [
        0.75, 0.83, 1.0]
