"""Targets in force by period and the registry versioned in the warehouse (issue 23): each day is judged
against the target in force that day; a target changed from 2026-01-01 changes 2026's verdicts and
leaves 2025's alone; a target unset gives classes without a verdict (目标未定); the status of the target
is stored with every verdict and with the results it replaces; a section the feed publishes joins by
adoption, target unset, and a target applied later gives compliance from its valid_from only."""
from __future__ import annotations

import csv
from datetime import date, datetime

import pandas as pd
import pytest

from pipelines import display
from pipelines.ingest.payloads import ingest_file
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.reference import registry, targets
from tests.conftest import real_data
from warehouse import db, registry_adopt, registry_store

LAB_HEADER = "sample_id,section_id,sampled_at,lab,parameter,result,unit,detection_limit,method\n"
# A class Ⅲ sample by GB 3838-2002 Table 1 (standards.md §1): CODMn 5 (Ⅱ ≤ 4, Ⅲ ≤ 6), NH3-N 0.8 (Ⅱ ≤ 0.5,
# Ⅲ ≤ 1.0), TP 0.15 (Ⅱ ≤ 0.1, Ⅲ ≤ 0.2), DO 5.5 (Ⅱ ≥ 6, Ⅲ ≥ 5), pH 7.5: compliant against Ⅲ, failed against Ⅱ.
# Each later day a step higher (still Ⅲ on the fourth: CODMn 5.3, NH3-N 0.83, TP 0.165, DO 5.8), so that
# no QC flat-line test flags the series.
CLASS_III = {"ph": (7.5, 0.05, "dimensionless"), "do": (5.5, 0.1, "mg/L"), "codmn": (5.0, 0.1, "mg/L"),
             "nh3n": (0.8, 0.01, "mg/L"), "tp": (0.15, 0.005, "mg/L")}
SECTION = "nanliu-hengtang"   # 横塘 (南流江, a city-boundary section): target Ⅲ in the seed, assumed (secondary)
DAYS = (date(2025, 12, 30), date(2025, 12, 31), date(2026, 1, 2), date(2026, 1, 3))


def _settings(tmp_path, url: str):
    return load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_WAREHOUSE_URL": url})


def _lab_file(tmp_path, section_id: str, days) -> str:
    lines = [LAB_HEADER]
    for number, day in enumerate(days):
        for code, (value, step, unit) in CLASS_III.items():
            lines.append(f"S{number}-{code},{section_id},{day.isoformat()} 09:40,L,{code},{value + number * step:g},"
                         f"{unit},,HJ\n")
    path = tmp_path / "results.csv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _day_rows(engine, section_id: str) -> dict[date, dict]:
    frame = db.read_table(engine, "assessments")
    frame = frame[(frame["station_id"] == section_id) & (frame["period"] == "day")]
    return {pd.Timestamp(r["period_start"]).date(): r for r in frame.to_dict("records")}


# --- the seed -----------------------------------------------------------------------------------

def test_the_seed_of_the_targets_is_sections_csv_for_every_section():
    sections = pd.read_csv(registry.DATA_DIR / "sections.csv", dtype=str, keep_default_na=False)
    seed = targets.seed_targets()
    assert sorted(seed["section_id"]) == sorted(sections["section_id"])   # one period each, open-ended
    assert seed["valid_to"].isna().all() or set(seed["valid_to"]) == {None}
    by_id = seed.set_index("section_id")
    for row in sections.to_dict("records"):
        target = by_id.loc[row["section_id"]]
        assert (target["target_class"] or "") == row["target_class"], row["section_id"]
        if row["target_basis"].startswith("ASSUMED"):
            assert target["status"] == "assumed", row["section_id"]   # never official where the basis is assumed
        if target["status"] == "official":
            assert target["source_document"] and not target["source_document"].startswith("none")
    # the two provincial boundary sections without a name or a target: unset, not a default Ⅲ
    assert set(seed[seed["status"] == "unset"]["section_id"]) == {"huanghua-boundary", "luojiang-boundary"}
    assert (seed["status"] == "official").sum() == 5   # 合浦水库's plan; four coastal function zones (OD)


def test_a_day_before_any_target_row_has_its_target_unset():
    assert targets.target_in_force(SECTION, date(2025, 6, 1)).target_class == "Ⅲ"
    early = targets.target_in_force(SECTION, date(2014, 12, 31))
    assert (early.target_class, early.status) == (None, "unset")
    assert targets.target_in_force("no-such-section", date(2026, 1, 1)).status == "unset"


# --- verdicts by the target in force --------------------------------------------------------------

def test_a_target_changed_from_2026_changes_2026_and_leaves_2025_alone(tmp_path, warehouse_url):
    settings = _settings(tmp_path, warehouse_url)
    ingest_file("lab", _lab_file(tmp_path, SECTION, DAYS), datetime(2026, 1, 5, 9, tzinfo=BUREAU_TZ), settings)
    engine = db.engine_for(settings.warehouse_url)
    before, months_before = _day_rows(engine, SECTION), _month_rows(engine, SECTION)
    assert {day: (r["water_class"], r["target_class"], r["target_status"], r["is_compliant"])
            for day, r in before.items()} == {day: ("Ⅲ", "Ⅲ", "assumed", True) for day in DAYS}

    applied = registry_store.apply_registry_version(
        engine, kind="import", applied_by="test", source_document="南流江 2026–2030 目标责任书 (test)",
        valid_from=date(2026, 1, 1), stations=None, withdrawn=[],
        targets=pd.DataFrame([{"section_id": SECTION, "target_class": "Ⅱ", "status": "official",
                               "basis": "2026–2030 target", "source_document": "目标责任书"}]))
    assert applied.changed_periods == [(SECTION, date(2026, 1, 1), None)]
    assert registry_store.days_to_reassess(engine, applied) == [date(2026, 1, 2), date(2026, 1, 3)]
    summary = registry_store.reassess_changed(engine, applied, settings)
    assert summary["days_reassessed"] == 2

    after = _day_rows(engine, SECTION)
    for day in DAYS[:2]:   # 2025: as it was, against the assumed Ⅲ
        assert after[day] == before[day]
    for day in DAYS[2:]:   # 2026: class Ⅲ against the official Ⅱ fails
        assert (after[day]["water_class"], after[day]["target_class"], after[day]["target_status"],
                after[day]["is_compliant"]) == ("Ⅲ", "Ⅱ", "official", False)
    # `envmon reassess` over both months later (a rule correction, say) judges each day by its own target again
    from pipelines.ingest import reassess

    reassess.reassess_days(engine, DAYS, settings)
    again = _day_rows(engine, SECTION)
    assert [(again[d]["target_class"], again[d]["target_status"], again[d]["is_compliant"]) for d in DAYS] == [
        ("Ⅲ", "assumed", True), ("Ⅲ", "assumed", True), ("Ⅱ", "official", False), ("Ⅱ", "official", False)]
    # the month to date of the cross-boundary section: December as it was, January against the new target
    months = _month_rows(engine, SECTION)
    assert months[date(2025, 12, 1)] == months_before[date(2025, 12, 1)]
    assert (months_before[date(2026, 1, 1)]["target_status"], months_before[date(2026, 1, 1)]["is_compliant"]) == (
        "assumed", True)
    assert (months[date(2026, 1, 1)]["water_class"], months[date(2026, 1, 1)]["target_class"],
            months[date(2026, 1, 1)]["target_status"], months[date(2026, 1, 1)]["is_compliant"]) == (
        "Ⅲ", "Ⅱ", "official", False)
    history = db.read_table(engine, "assessment_history")
    mine = history[history["station_id"] == SECTION]
    assert sorted(zip(mine["period"], pd.to_datetime(mine["period_start"]).dt.date)) == [
        ("day", date(2026, 1, 2)), ("day", date(2026, 1, 3)), ("month", date(2026, 1, 1))]
    assert set(mine["target_status"]) == {"assumed"} and set(mine["target_class"]) == {"Ⅲ"}
    assert mine["is_compliant"].astype(bool).all()
    # the history of the registry: the seed, then the import, with who and from which document
    versions = registry_store.registry_history(engine)
    assert versions["kind"].tolist() == ["import", "seed"]
    assert versions.iloc[0]["applied_by"] == "test" and versions.iloc[0]["valid_from"] == date(2026, 1, 1)
    assert versions.iloc[0]["summary"]["targets_changed"][0]["was"] == {"target_class": "Ⅲ", "status": "assumed"}
    assert SECTION not in set(registry_store.assumed_targets(engine, date(2026, 2, 1))["section_id"])
    assert SECTION in set(registry_store.assumed_targets(engine, date(2025, 12, 31))["section_id"])


def test_an_unset_target_gives_the_class_and_no_verdict(tmp_path):
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'warehouse.db'}")
    ingest_file("lab", _lab_file(tmp_path, "huanghua-boundary", DAYS[:1]),
                       datetime(2026, 1, 5, 9, tzinfo=BUREAU_TZ), settings)
    row = _day_rows(db.engine_for(settings.warehouse_url), "huanghua-boundary")[DAYS[0]]
    assert row["water_class"] == "Ⅲ" and display.is_missing(row["target_class"]) and row["is_compliant"] is None
    assert (row["status"], row["target_status"]) == ("target unset", "unset")
    assert display.class_and_verdict(row["water_class"], row["is_compliant"], "zh", row["status"],
                                     row["target_status"]) == "Ⅲ · 目标未定"


# --- adoption of a section the feed publishes ------------------------------------------------------

@pytest.mark.real_data
def test_adopting_dingdang_gives_classes_then_a_target_gives_compliance_from_its_day(tmp_path, warehouse_url, capsys):
    """叮当 (武鸣河, 南宁), a national section of 2016–2020, is published by the CNEMC feed: the 2020-05-08
    response names it (its city from the feed's earlier tooltips), and its by-name export of 2021-04-01..05
    holds four to six readings a day. Its NH3-N repeats 0.025 for hours (QC flags it suspect, flat line):
    this bureau assesses suspect values too (ENVMON_ASSESSABLE_FLAGS), so every day has its five required
    indicators, and every day is class Ⅱ, as the feed prints it (its TP 0.028–0.035 mg/L: Ⅰ ≤ 0.02 < Ⅱ ≤ 0.1)."""
    from pipelines import cli

    settings = load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_WAREHOUSE_URL": warehouse_url,
                              "ENVMON_ASSESSABLE_FLAGS": "good,not_evaluated,suspect"})
    fetched = datetime(2021, 4, 5, 16, 10, tzinfo=BUREAU_TZ)
    ingest_file("cnemc-water", real_data("cnemc-water/publish-ashx-2020-05-08.json"),
                       datetime(2020, 5, 8, 16, tzinfo=BUREAU_TZ), settings)
    engine = db.engine_for(settings.warehouse_url)
    unknown = registry_adopt.registry_drift.unknown_stations(engine)
    assert "叮当" in set(unknown["name_zh"])

    env = {"ENVMON_HOME": str(tmp_path), "ENVMON_WAREHOUSE_URL": warehouse_url}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert cli.main(["registry", "adopt", "叮当", "--from", "2021-04-01", "--by", "南宁市站"]) == 0
    out = capsys.readouterr().out
    assert "叮当 (南宁市, 武鸣河)" in out and "target unset (目标未定)" in out

    registry_store.use_warehouse_registry(engine)
    section = registry.sections(date(2021, 4, 2))
    (section_id,) = section.index[section["name_zh"] == "叮当"]
    assert section.loc[section_id, ["water_body", "city", "target_status"]].tolist() == ["武鸣河", "南宁市", "unset"]
    assert section_id not in registry.sections(date(2021, 3, 31)).index   # assessed from its adoption's day
    assert "叮当" not in set(registry_adopt.registry_drift.unknown_stations(engine)["name_zh"])
    version = registry_store.registry_history(engine).iloc[0]
    assert (version["kind"], version["applied_by"]) == ("adopt", "南宁市站")

    ingest_file("cnemc-water", real_data("cnemc-water/by-name-csv-2021-04/叮当.csv"), fetched, settings)
    rows = _day_rows(engine, section_id)
    assert rows, "the adopted section is assessed"
    classes = {day: row["water_class"] for day, row in rows.items()}
    assert classes == {date(2021, 4, day): "Ⅱ" for day in range(1, 6)}
    assert {(r["is_compliant"], r["status"], r["target_status"]) for r in rows.values()} == {
        (None, "target unset", "unset")}

    applied = registry_store.apply_registry_version(
        engine, kind="import", applied_by="test", source_document="南宁 national sections 2016–2020 (test)",
        valid_from=date(2021, 4, 3), stations=None, withdrawn=[],
        targets=pd.DataFrame([{"section_id": section_id, "target_class": "Ⅱ", "status": "official",
                               "basis": "national assessment section, Ⅱ", "source_document": "test list"}]))
    registry_store.reassess_changed(engine, applied, settings)
    after = _day_rows(engine, section_id)
    assert set(after) == set(rows)
    for day, row in after.items():
        if day < date(2021, 4, 3):
            assert (row["is_compliant"], row["target_status"]) == (None, "unset"), day
        else:
            assert (row["water_class"], row["is_compliant"], row["target_status"]) == (classes[day], True,
                                                                                        "official"), day
    assert any(day >= date(2021, 4, 3) for day in after) and any(day < date(2021, 4, 3) for day in after)


def test_adopt_refuses_a_name_it_does_not_know_in_one_line(tmp_path, capsys, monkeypatch):
    from pipelines import cli

    monkeypatch.setenv("ENVMON_HOME", str(tmp_path))
    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    assert cli.main(["registry", "adopt", "不存在"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["registry adopt: '不存在' is not an unknown station or section (`envmon registry unknown` lists "
                   "them by name and key)"]
    engine = db.engine_for(f"sqlite:///{tmp_path / 'warehouse.db'}")
    assert registry_store.registry_history(engine)["kind"].tolist() == ["seed"]


def _month_rows(engine, section_id):
    frame = db.read_table(engine, "assessments")
    frame = frame[(frame["station_id"] == section_id) & (frame["period"] == "month")]
    return {pd.Timestamp(r["period_start"]).date(): r for r in frame.to_dict("records")}


def test_an_adopted_station_is_in_the_stations_table_from_its_version(tmp_path):
    engine = db.engine_for(f"sqlite:///{tmp_path / 'warehouse.db'}")
    db.migrate(engine)
    registry_store.apply_registry_version(
        engine, kind="adopt", applied_by="test", source_document="a payload", valid_from=date(2026, 3, 1),
        stations=pd.DataFrame([{"station_id": "1410A", "name_zh": "新站", "city": "南宁市", "station_type": "air",
                                "longitude": 108.3, "latitude": 22.8, "is_cross_boundary": False}]),
        withdrawn=["yongjiang-laokou"], targets=None)
    stations = db.read_table(engine, "stations").set_index("station_id")
    assert stations.loc["1410A", "name_zh"] == "新站"
    assert "yongjiang-laokou" not in stations.index   # withdrawn from 2026-03-01; the suite's today is 2027-01-01
    assert "1410A" in registry.air_stations(date(2026, 3, 1)).index
    assert "1410A" not in registry.air_stations(date(2026, 2, 28)).index
    assert "yongjiang-laokou" in registry.sections(date(2026, 2, 28)).index
    assert registry.section_row("yongjiang-laokou")["name_zh"] == "老口"   # a withdrawn section is still named
