"""Real-source ingestion: sampling templates, bad rows, revisions, the archive and the ingest log."""
import io
import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from pipelines.cli import exports
from pipelines.ingest.payloads import ingest_file, reingest
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from tests.conftest import FIXTURES, FORMATS, real_data
from warehouse import db

TEMPLATES = Path(__file__).resolve().parents[1] / "pipelines" / "templates"
FETCHED = datetime(2027, 1, 1, 2, 0, tzinfo=BUREAU_TZ)


@pytest.fixture
def settings(tmp_path):
    return load_settings({"ENVMON_HOME": str(tmp_path)})


def _reconciles(summary):
    return all(e["read"] == e["loaded"] + e["quarantined"] + e["out_of_scope"] for e in summary["sources"].values())


def _held_values(path: Path) -> int:
    """Values a real sample holds: rows (records, features) times their value columns."""
    import csv

    from pipelines.sources.files import AIR_COLUMNS, WATER_HEADER_CODES

    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".geojson":
        features = json.loads(text)["features"]
        return len(features) * len({k for f in features for k in f["properties"]} & set(AIR_COLUMNS))
    if path.suffix == ".json":
        document = json.loads(text)
        return len(document["tbody"]) * sum(any(h.startswith(k) for k in WATER_HEADER_CODES) for h in document["thead"])
    rows = [r for r in csv.reader(io.StringIO(text, newline="")) if any(f.strip() for f in r)]
    per_row = sum(h in AIR_COLUMNS or any(h.startswith(k) for k in WATER_HEADER_CODES) for h in rows[0])
    return (len(rows) - 1) * per_row


def _observations(settings):
    return exports.observations(db.engine_for(settings.warehouse_url))


def test_lab_template_round_trips_every_result_and_unit(settings):
    summary = ingest_file("lab", TEMPLATES / "lab-results-example.csv", FETCHED, settings)
    assert _reconciles(summary) and summary["sources"]["lab"]["quarantined"] == 0
    example = pd.read_csv(TEMPLATES / "lab-results-example.csv", dtype=str, keep_default_na=False)
    stored = _observations(settings)
    assert len(stored) == len(example)
    raw = db.read_table(db.engine_for(settings.warehouse_url), "observations")
    merged = example.merge(raw, left_on=["section_id", "parameter"], right_on=["station_id", "parameter"],
                           suffixes=("_sent", ""))
    assert len(merged) == len(example)
    assert (merged["result"] == merged["original_value"]).all()
    assert (merged["unit_sent"] == merged["original_unit"]).all()
    raw = raw.set_index(["station_id", "parameter"])
    # µg/L converted explicitly: As 1.9 µg/L is 0.0019 mg/L
    assert raw.loc[("nanliu-hengtang", "as"), "value"] == pytest.approx(0.0019)
    assert raw.loc[("nanliu-hengtang", "as"), "unit"] == "mg/L"


@pytest.mark.parametrize("parameter, text, limit", [("cd", "ND", 0.00005), ("cyanide", "未检出", 0.004),
                                                    ("pb", "<0.09", 0.00009), ("se", "0.4L", 0.0004)])
def test_below_detection_limit_is_kept_as_a_censored_value(settings, parameter, text, limit):
    ingest_file("lab", TEMPLATES / "lab-results-example.csv", FETCHED, settings)
    raw = db.read_table(db.engine_for(settings.warehouse_url), "observations").set_index(["station_id", "parameter"])
    row = raw.loc[("nanliu-hengtang", parameter)]
    assert row["censoring"] == "<" and row["original_value"] == text
    assert row["detection_limit"] == pytest.approx(limit) and row["value"] == pytest.approx(limit)


def test_lab_xlsx_gives_the_same_observations_as_csv(settings, tmp_path):
    example = pd.read_csv(TEMPLATES / "lab-results-example.csv", dtype=str, keep_default_na=False)
    workbook = tmp_path / "results.xlsx"
    example.to_excel(workbook, index=False)
    from pipelines.sources import samples
    from_csv = samples.parse_lab((TEMPLATES / "lab-results-example.csv").read_bytes(), "results.csv").observations
    from_xlsx = samples.parse_lab(workbook.read_bytes(), "results.xlsx").observations
    pd.testing.assert_frame_equal(from_csv, from_xlsx)


def test_coastal_template_keeps_surface_and_bottom_apart(settings):
    summary = ingest_file("coastal", TEMPLATES / "coastal-survey-example.csv", FETCHED, settings)
    assert _reconciles(summary) and summary["sources"]["coastal"]["domain"] == "coastal"
    raw = db.read_table(db.engine_for(settings.warehouse_url), "observations")
    din = raw[(raw["station_id"] == "maowei-01") & (raw["parameter"] == "din")]
    assert sorted(din["layer"]) == ["bottom", "surface"]
    assert json.loads(din["detail"].iloc[0])["survey"] == "spring"


def test_unreadable_lab_rows_are_quarantined_with_their_reason(settings, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sample_id,section_id,sampled_at,lab,parameter,result,unit,detection_limit,method\n"
                   "S1,nanliu-hengtang,2026-11-03 09:40,L,nh3n,0.5,furlongs,,\n"
                   "S1,nanliu-hengtang,2026-11-03 09:40,L,cd,ND,mg/L,,\n"
                   "S1,nanliu-hengtang,2026-11-03 09:40,L,tp,abc,mg/L,,\n"
                   "S1,nanliu-hengtang,2026-11-03 09:40,L,zz,1,mg/L,,\n"
                   "S1,nanliu-hengtang,2026-11-03 09:40,L,do,6.1,mg/L,,\n"
                   "S2,no-such-section,2026-11-03 09:40,L,do,6.1,mg/L,,\n", encoding="utf-8")
    summary = ingest_file("lab", bad, FETCHED, settings)["sources"]["lab"]
    assert (summary["read"], summary["loaded"], summary["quarantined"], summary["out_of_scope"]) == (6, 1, 4, 1)
    reasons = " | ".join(db.read_table(db.engine_for(settings.warehouse_url), "quarantine")["reason"])
    for expected in ("unknown unit 'furlongs'", "'ND' without a detection limit", "result 'abc' is not a number",
                     "parameter 'zz' is not a lab item"):
        assert expected in reasons


def test_a_revised_value_wins_and_the_old_one_is_kept_in_history(settings, tmp_path):
    first = ingest_file("cnemc-water", FIXTURES / "cnemc-water-publish.json", FETCHED, settings)
    revised = tmp_path / "later.json"
    revised.write_text((FIXTURES / "cnemc-water-publish.json").read_text(encoding="utf-8")
                       .replace("原始值：0.41234'>0.412", "原始值：1.61234'>1.612"), encoding="utf-8")
    second = ingest_file("cnemc-water", revised, FETCHED.replace(hour=6), settings)
    assert second["sources"]["cnemc-water"]["revised"] == 1 and second["payload_id"] != first["payload_id"]
    engine = db.engine_for(settings.warehouse_url)
    stored = db.read_table(engine, "observations").set_index(["station_id", "parameter"])
    assert stored.loc[("nanliu-hengtang", "nh3n"), "value"] == 1.61234
    history = db.read_table(engine, "observation_history")
    assert history["value"].tolist() == [0.41234] and history["superseded_by_payload_id"].tolist() == [second["payload_id"]]
    # the day's assessment was recomputed: one automatic reading is below the day rule (4 readings)
    assessments = db.read_table(engine, "assessments")
    assessment = assessments[assessments["period"] == "day"].set_index("station_id").loc["nanliu-hengtang"]
    assert assessment["status"] == "insufficient data"


def test_a_late_lab_result_recomputes_the_day(settings, tmp_path):
    results = tmp_path / "late.csv"
    header = "sample_id,section_id,sampled_at,lab,parameter,result,unit,detection_limit,method\n"
    results.write_text(header + "S1,nanliu-yaqiao,2026-11-03 09:40,L,nh3n,0.4,mg/L,0.025,HJ 535\n", encoding="utf-8")
    ingest_file("lab", results, FETCHED, settings)
    engine = db.engine_for(settings.warehouse_url)
    assert db.read_table(engine, "assessments").set_index("station_id").loc["nanliu-yaqiao", "water_class"] == "Ⅱ"
    results.write_text(header + "S1,nanliu-yaqiao,2026-11-03 09:40,L,nh3n,1.3,mg/L,0.025,HJ 535\n", encoding="utf-8")
    summary = ingest_file("lab", results, FETCHED, settings)
    assert summary["sources"]["lab"]["revised"] == 1
    assessment = db.read_table(engine, "assessments").set_index("station_id").loc["nanliu-yaqiao"]
    assert assessment["water_class"] == "Ⅳ" and not assessment["is_compliant"]   # a single manual sample is classed


def test_reingesting_a_logged_payload_changes_nothing(settings):
    first = ingest_file("cnemc-water", FIXTURES / "cnemc-water-publish.json", FETCHED, settings)
    before = _observations(settings)
    again = reingest(first["payload_id"], settings)
    assert again["payload_id"] == first["payload_id"] and again["sources"]["cnemc-water"]["revised"] == 0
    pd.testing.assert_frame_equal(_observations(settings), before)
    payload = db.get_payload(db.engine_for(settings.warehouse_url), first["payload_id"])
    from pipelines import storage   # the archive keeps it compressed, in the shared storage, its sha256 checked

    assert payload["status"] == "loaded" and storage.read_archived(settings, payload["archive_path"], payload["sha256"]) \
        == (FIXTURES / "cnemc-water-publish.json").read_bytes()


def test_a_failed_payload_is_logged_with_its_error(settings, tmp_path):
    page = tmp_path / "page.json"
    page.write_text("<html>502</html>")
    from pipelines.sources.files import PayloadError
    with pytest.raises(PayloadError):
        ingest_file("cnemc-water", page, FETCHED, settings)
    logged = db.read_table(db.engine_for(settings.warehouse_url), "payloads")
    assert logged["status"].tolist() == ["failed"] and "Publish.ashx" in logged["error"][0]


def test_watermark_is_the_newest_observation(settings):
    ingest_file("cnemc-air", FIXTURES / "cnemc-air-hourly.csv", FETCHED, settings)
    newest = db.watermark(db.engine_for(settings.warehouse_url), "cnemc-air")
    assert newest == pd.Timestamp("2026-03-15 01:00", tz="Asia/Shanghai").to_pydatetime()


@pytest.mark.real_data
def test_every_real_sample_ingests_with_each_row_accounted_for(settings):
    real_data("cnemc-water/publish-ashx-2020-05-08.json")
    payloads = [("cnemc-water", FORMATS / "cnemc-water" / "publish-ashx-2020-05-08.json", datetime(2020, 5, 9, 12, tzinfo=BUREAU_TZ)),
                ("cnemc-water", FORMATS / "cnemc-water" / "publish-ashx-2021-04-05.json", datetime(2021, 4, 5, 12, tzinfo=BUREAU_TZ))]
    payloads += [("cnemc-water", path, datetime(2021, 4, 6, tzinfo=BUREAU_TZ))
                 for path in sorted((FORMATS / "cnemc-water" / "by-name-csv-2021-04").glob("*.csv"))]
    payloads += [("cnemc-air", FORMATS / "cnemc-air" / name, datetime(2026, 3, 29, tzinfo=BUREAU_TZ))
                 for name in ("national-hourly-2026-03-15T12.csv", "beibu6-hourly-2026-03-01-to-03-28.csv",
                              "beibu6-snapshot-2017-07-07T16.geojson")]
    for source, path, fetched in payloads:
        summary = ingest_file(source, path, fetched, settings)
        assert _reconciles(summary), path.name
        # what the payload holds, counted apart from envmon's parsers (the csv and json modules)
        assert summary["sources"][source]["read"] == _held_values(path), path.name
    engine = db.engine_for(settings.warehouse_url)
    stored = db.read_table(engine, "observations")
    keys = ["source", "station_id", "parameter", "observed_at", "averaging_period", "layer"]
    assert not stored.duplicated(subset=keys).any()   # duplicates and stale repeats collapsed
    # a raw value is recoverable: 横塘 in the 2020-05-08 response
    document = json.loads((FORMATS / "cnemc-water" / "publish-ashx-2020-05-08.json").read_text(encoding="utf-8"))
    row = next(r for r in document["tbody"] if "横塘" in str(r[2]))
    raw_tp = float(row[12].split("原始值：")[1].split("'")[0])
    hengtang_tp = stored[(stored["station_id"] == "nanliu-hengtang") & (stored["parameter"] == "tp")]
    assert raw_tp in set(hengtang_tp["value"])
    assert len(db.read_table(engine, "payloads")) == len(payloads)


@pytest.mark.real_data
def test_station_names_are_history_and_the_code_is_the_key(settings):
    path = real_data("cnemc-air/beibu6-snapshot-2017-07-07T16.geojson")
    ingest_file("cnemc-air", path, datetime(2017, 7, 7, 17, tzinfo=BUREAU_TZ), settings)
    engine = db.engine_for(settings.warehouse_url)
    published = db.read_table(engine, "published_results").set_index("station_id")
    assert published.loc["1401A", "published_name"] == "振宁花园"          # the 2017 name
    stations = db.read_table(engine, "stations").set_index("station_id")
    assert stations.loc["1401A", "name_zh"] == "二十一中"                   # today's name, same code


def test_published_results_are_checked_against_envmons_own(settings, tmp_path):
    # 横塘 is published Ⅲ, but its values (TP withheld as 极值过滤) give Ⅱ: flagged and counted
    summary = ingest_file("cnemc-water", FIXTURES / "cnemc-water-publish.json", FETCHED, settings)
    assert summary["sources"]["cnemc-water"]["published_disagreements"] == 1
    published = db.read_table(db.engine_for(settings.warehouse_url), "published_results").set_index("station_id")
    assert published.loc["nanliu-hengtang", ["published_class", "envmon_class", "agrees"]].tolist() == ["Ⅲ", "Ⅱ", False]
    assert pd.isna(published.loc["jiuzhou-wenchequiao", "agrees"]) or published.loc["jiuzhou-wenchequiao", "agrees"]
    air = tmp_path / "air.csv"
    air.write_text((FIXTURES / "cnemc-air-hourly.csv").read_text(encoding="utf-8").replace(",,20,20,22,", ",,99,20,22,"),
                   encoding="utf-8")
    air_summary = ingest_file("cnemc-air", air, FETCHED, settings)
    assert air_summary["sources"]["cnemc-air"]["published_disagreements"] == 1   # 2521A published 99, computed 20


def test_a_non_detect_in_the_lab_template_is_reported_below_its_limit_in_the_rollups(settings):
    ingest_file("lab", TEMPLATES / "lab-results-example.csv", FETCHED, settings)
    rolled = exports.export_frame(db.engine_for(settings.warehouse_url), "rollups")
    day = rolled[(rolled["period"] == "day") & (rolled["station_id"] == "nanliu-hengtang")].set_index("parameter")
    # Cd "ND" with a detection limit of 0.00005 mg/L: counted as 0.000025, reported "< 0.00005"
    assert day.loc["cd", "mean"] == pytest.approx(0.000025)
    assert day.loc["cd", "reported_mean"] == "< 0.00005"
    assert day.loc["cd", "censoring_method"].startswith("half_detection_limit")
    assert day.loc["nh3n", "reported_mean"] == "0.87" and pd.isna(day.loc["nh3n", "censoring_method"])


@pytest.mark.real_data
def test_repeated_rows_of_a_real_air_payload_are_settled_by_the_duplicate_test(settings, tmp_path):
    lines = real_data("cnemc-air/beibu6-hourly-2026-03-01-to-03-28.csv").read_text(encoding="utf-8").splitlines()
    header, first, second = lines[0], lines[1], lines[2]
    columns = header.split(",")
    changed = second.split(",")
    original_pm10 = changed[columns.index("pm10")]
    changed[columns.index("pm10")] = str(int(original_pm10) + 40)
    payload = tmp_path / "repeated.csv"
    payload.write_text("\n".join([header, first, second, first, ",".join(changed)]) + "\n", encoding="utf-8")
    summary = ingest_file("cnemc-air", payload, datetime(2026, 3, 2, tzinfo=BUREAU_TZ), settings)
    assert _reconciles(summary)
    engine = db.engine_for(settings.warehouse_url)
    held = db.read_table(engine, "quarantine")
    assert set(held["expectation"]) == {"qc_duplicate"} and len(held) == summary["sources"]["cnemc-air"]["quarantined"]
    conflicting = held[held["reason"].str.startswith("conflicting duplicate")]
    assert len(conflicting) == 1 and conflicting["value"].iloc[0] == float(original_pm10)
    stored = db.read_table(engine, "observations")
    station = stored[stored["station_id"] == changed[columns.index("stationcode")]]  # the CNEMC code is the key
    pm10 = station[(station["parameter"] == "pm10") & (station["averaging_period"] == "PT1H")].iloc[0]
    assert pm10["value"] == float(original_pm10) + 40 and pm10["qc_flag"] == "suspect"
    assert f"the batch also gave {original_pm10}" in pm10["qc_note"]



def test_the_history_of_a_value_lists_each_version_with_its_payload(settings, tmp_path, monkeypatch, capsys):
    first = ingest_file("cnemc-water", FIXTURES / "cnemc-water-publish.json", FETCHED, settings)
    revised = tmp_path / "later.json"
    revised.write_text((FIXTURES / "cnemc-water-publish.json").read_text(encoding="utf-8")
                       .replace("原始值：0.41234'>0.412", "原始值：1.61234'>1.612"), encoding="utf-8")
    second = ingest_file("cnemc-water", revised, FETCHED.replace(hour=6), settings)
    monkeypatch.setenv("ENVMON_HOME", str(settings.home))
    from pipelines import cli
    assert cli.main(["history", "--station", "nanliu-hengtang", "--parameter", "nh3n"]) == 0
    listed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert listed["version"].tolist() == ["superseded", "current"]
    assert listed["value"].tolist() == [0.41234, 1.61234]
    assert listed["payload_id"].tolist() == [first["payload_id"], second["payload_id"]]
    assert listed["superseded_by_payload_id"].iloc[0] == second["payload_id"]
    assert [Path(o).name for o in listed["payload_origin"]] == ["cnemc-water-publish.json", "later.json"]
    at = listed["observed_at"].iloc[0]
    assert cli.main(["history", "--station", "nanliu-hengtang", "--parameter", "nh3n", "--at", at]) == 0
    assert len(pd.read_csv(io.StringIO(capsys.readouterr().out))) == 2
    assert cli.main(["history", "--station", "nowhere", "--parameter", "nh3n"]) == 1
    assert "no nh3n values of nowhere" in capsys.readouterr().err
