"""The annual assessment issued like the bulletins (issue 25): numbered, its data kept, rebuilt byte
for byte from its manifest, and a re-issue announced with what changed.

The annual assessment reads more than observations: its trends read the pipeline's stored monthly
means (rollups) of every year up to its own, and its air table the stored HJ 663 statistics of the
closed year. Both are kept with the issue and are part of its data version, so:
- 2023's assessment is issued on 2024-01-05 (r1), with 老口's stored monthly TP means of 2022–2023
  and 崇左市's stored statistics of 2023;
- then 2022's monthly means of 老口 are revised and 2023's air statistics stored again with another
  composite index: `envmon assessment-report --year 2023` issues r2, announced to every recipient
  with the rows that changed (趋势分析 老口 · 总磷, 环境空气 崇左市);
- r1 still rebuilds byte for byte (XLSX, HTML) from what it kept, though the warehouse holds other
  means and statistics now, and so does r2;
- a late value of an earlier year (the trends' years) makes the monthly refresh build the
  assessment again; a month of a later year does not.
"""
import json
from datetime import date

import pandas as pd
import pytest

from pipelines.config import load_settings
from pipelines.reports import issues, publish
from pipelines.reports.reading import WarehouseReader
from tests.test_bulletin_documents import _deliveries, _notices
from tests.test_reports import GOOD_II, YEAR, year_document  # noqa: F401 - the hand-worked year's warehouse
from warehouse import air_annual_store, db

LAOKOU = "yongjiang-laokou"


def _rollups(engine, values: dict) -> None:
    """Store 老口's monthly TP means: {(year, month): mean}."""
    for (year, month), mean in values.items():
        frame = pd.DataFrame([{"station_id": LAOKOU, "parameter": "tp", "averaging_period": "PT0S", "period": "month",
                               "period_start": date(year, month, 1), "mean": mean, "minimum": mean, "maximum": mean,
                               "values_assessable": 1, "values_flagged": 0, "values_censored": 0,
                               "days_with_data": 1, "detection_limit": None, "reported_mean": str(mean),
                               "censoring_method": None}])
        db.replace_rollups(engine, "month", date(year, month, 1), frame)


def _store_air_statistics(engine, composite: float) -> None:
    """2023's city statistics stored as the pipeline closes a year, 崇左市's with the composite index given."""
    from pipelines.reports import air

    rows = air.annual_statistics(WarehouseReader(engine), YEAR)   # computed from the days: nothing stored yet
    assert rows, "no air statistics of the hand-worked year"
    stored = [{k: v for k, v in row.items() if k in air_annual_store.COLUMNS} for row in rows.values()]
    for row in stored:
        if row["site_id"] == "崇左市":
            row.update(composite_index=composite, city_rank=1, cities_ranked=1)
    air_annual_store.replace_year(engine, YEAR, "year", stored)


@pytest.fixture(scope="module")
def assessed(year_document, tmp_path_factory):  # noqa: F811
    engine = year_document["engine"]
    url = str(engine.url)
    settings = load_settings({"ENVMON_WAREHOUSE_URL": url, "ENVMON_HOME": str(tmp_path_factory.mktemp("home"))})
    # 老口's TP means rising through 2022 and 2023: a seasonal Kendall over two years
    _rollups(engine, {(y, m): round(0.02 + 0.004 * (12 * (y - 2022) + m), 4)
                      for y in (2022, 2023) for m in range(1, 13) if (y, m) <= (2023, 9)})
    _store_air_statistics(engine, 1.11)
    first = publish.refresh_assessment(date(YEAR + 1, 1, 5), settings)
    r1 = publish.read_manifest(settings, "assessment", str(YEAR))
    # revisions after the issue: 2022's means of 老口 falling instead, 2023's statistics stored again
    _rollups(engine, {(2022, m): round(0.2 - 0.01 * m, 4) for m in range(1, 13)})
    _store_air_statistics(engine, 2.22)
    reader = publish.reader_for(settings)   # as `envmon assessment-report --year 2023` does
    document = publish.build_assessment(YEAR, None, settings, reader)
    r2 = publish.write(document, publish.FORMATS, settings, reader=reader)
    return {"settings": settings, "engine": engine, "first": first, "r1": r1, "r2": r2}


def test_the_assessment_keeps_its_rollups_and_air_statistics_with_its_observations(assessed):
    r1 = assessed["r1"]
    assert assessed["first"] == {str(YEAR): "issued"}
    assert r1["issue"]["id"] == f"assessment-{YEAR}-region-r1" and r1["issue"]["number"] == f"{YEAR}年度"
    kinds = {entry["read"][0] for entry in r1["snapshot"]["reads"]}
    assert {"observations", "rollups", "air_annual", "partitions"} <= kinds
    (rollups,) = [e for e in r1["snapshot"]["reads"] if e["read"][0] == "rollups"]
    assert rollups["rows"] == 21   # 老口's 12 + 9 months; no other section has stored means
    assert next(e for e in r1["snapshot"]["reads"] if e["read"][0] == "air_annual")["rows"] >= 1


def test_revised_stored_means_and_statistics_issue_r2_announced_with_what_changed(assessed):
    r1, r2, settings = assessed["r1"], assessed["r2"], assessed["settings"]
    assert r2["issue"]["id"] == f"assessment-{YEAR}-region-r2" and r2["issue"]["number"] == f"{YEAR}年度（第2版）"
    assert r2["issue"]["supersedes"] == r1["issue"]["id"] and r2["data_version"] != r1["data_version"]
    (notice,) = [n for n in _notices(settings, "reissued") if n["subject_id"] == r2["issue"]["id"]]
    facts = json.loads(notice["facts"])
    trends = next(c for c in facts["changes"] if c["table"].startswith("表5 "))
    assert [c["row"] for c in trends["changed"]] == ["老口 · 总磷"]
    assert set(trends["changed"][0]["columns"]) >= {"Kendall τ"}
    air = next(c for c in facts["changes"] if c["table"].startswith("表6 "))
    assert air["changed"] == [{"row": "崇左市", "columns": ["综合指数"]}]
    untouched = ("表1 ", "表2 ", "表3 ", "表4 ")
    assert not [c for c in facts["changes"] if c["table"].startswith(untouched)]
    from pipelines.alerts import messages, routing

    text = messages.render(facts, "zh").text
    assert f"{YEAR}年度（第2版）" in text and "崇左市（综合指数）" in text
    everyone = {r.recipient_id for r in routing.load(settings.alert_routing).recipients if r.receives == "all"}
    assert {d["recipient_id"] for d in _deliveries(settings, notice["notice_id"])} == everyone


def test_each_revision_of_the_assessment_rebuilds_byte_for_byte_from_what_it_kept(assessed):
    settings = assessed["settings"]
    # r1 read the means and statistics since revised: the rebuild reads the rows the issue kept
    for identifier in (f"assessment-{YEAR}-region-r1", f"assessment-{YEAR}-region-r2"):
        outcome = issues.rebuild(settings, identifier, formats=("xlsx", "html"))
        assert outcome.formats == {"xlsx": "identical", "html": "identical"}, outcome.as_dict()
        assert outcome.inputs == {"data_version": "same", "rules": "same", "registry": "same"}
        assert outcome.changes == [] and outcome.identical
    # what the warehouse gives now is r2's, not r1's
    now = publish.build_assessment(YEAR, None, settings, publish.reader_for(settings))
    assert now.fingerprint == assessed["r2"]["fingerprint"] != assessed["r1"]["fingerprint"]


def test_after_a_restore_on_another_machine_each_issue_still_rebuilds_identical(assessed, tmp_path):
    """The drill for the documents: the warehouse and reports/ backed up, restored into a fresh
    warehouse and folder (the old one gone from view), and r1 and r2 rebuilt there byte for byte."""
    from pipelines.operations import backup

    settings = assessed["settings"]
    backup.backup(tmp_path / "backup", settings, users_path=tmp_path / "no-users.json")
    restored = load_settings({"ENVMON_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'restored.db'}",
                              "ENVMON_HOME": str(tmp_path / "restored-home")})
    backup.restore(tmp_path / "backup", restored, users_path=tmp_path / "restored-users.json")
    for identifier in (f"assessment-{YEAR}-region-r1", f"assessment-{YEAR}-region-r2"):
        outcome = issues.rebuild(restored, identifier, formats=("xlsx", "html"))
        assert outcome.identical and outcome.formats == {"xlsx": "identical", "html": "identical"}, outcome.as_dict()


def test_a_late_value_of_a_year_the_trends_read_makes_the_refresh_look_again(assessed):
    r2, flags = assessed["r2"], assessed["settings"].assessable_flags
    assert publish._may_have_changed(r2, "assessment", str(YEAR), {"2021-03"}, flags)
    assert publish._may_have_changed(r2, "assessment", str(YEAR), {f"{YEAR}-05"}, flags)
    assert not publish._may_have_changed(r2, "assessment", str(YEAR), {f"{YEAR + 1}-01"}, flags)


def _late_lab(settings, day: date) -> None:
    """亚桥's sample of `day` (every item Ⅱ) arriving now, as a lab file through envmon ingest's path."""
    from datetime import datetime

    from pipelines.ingest.payloads import ingest_payload
    from pipelines.observations import BUREAU_TZ

    units = {"ph": "无量纲"}
    lines = ["sample_id,section_id,sampled_at,lab,parameter,result,unit,detection_limit,method"]
    lines += [f"BH-{day:%Y%m%d}-01,nanliu-yaqiao,{day} 10:00,北海市环境监测站,{p},{v},{units.get(p, 'mg/L')},,"
              for p, v in GOOD_II.items()]
    summary = ingest_payload("lab", ("\n".join(lines) + "\n").encode(), f"late-{day}.csv",
                             datetime.now(BUREAU_TZ), settings)
    assert summary["sources"]["lab"]["loaded"] == len(GOOD_II), summary


def test_late_data_of_an_assessed_year_past_the_window_raise_one_notice(assessed):
    """Last refreshed for 2023; in January 2025 the refresh issues 2024's and looks at 2023's: a late
    October sample of 亚桥 changes it, one `out_of_date` notice, and the nights after raise none."""
    settings = assessed["settings"]
    assert publish.refresh_assessment(date(YEAR + 1, 1, 6), settings) == {str(YEAR): "unchanged"}
    _late_lab(settings, date(YEAR, 10, 12))
    outcome = publish.refresh_assessment(date(YEAR + 2, 1, 5), settings)
    assert outcome == {str(YEAR + 1): "no data", str(YEAR): "out of date"}
    (notice,) = _notices(settings, "out_of_date")
    facts = json.loads(notice["facts"])
    assert notice["subject_id"] == f"assessment-{YEAR}-region-r2" and facts["months"] == [f"{YEAR}-10"]
    assert facts["command"] == f"envmon assessment-report --year {YEAR}"
    assert publish.read_manifest(settings, "assessment", str(YEAR))["issue"]["revision"] == 2   # told, not issued
    assert publish.refresh_assessment(date(YEAR + 2, 1, 6), settings) == {str(YEAR + 1): "no data"}
    _late_lab(settings, date(YEAR, 11, 12))
    publish.refresh_assessment(date(YEAR + 2, 1, 7), settings)
    assert len(_notices(settings, "out_of_date")) == 1
