"""Bad input on the ingest path (issue 11): refusals are logged failed with one line; quarantined
rows keep their rule and its words, never create assessment days; the year taken for the water
feed's times is said; stations of the registry's cities it lacks are recorded once."""
import os
from datetime import datetime

import pytest

from pipelines.ingest.payloads import ingest_file
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.sources.files import PayloadError
from tests.conftest import FIXTURES
from warehouse import db, registry_drift

FETCHED = datetime(2027, 1, 1, 2, 0, tzinfo=BUREAU_TZ)
LAB_HEADER = "sample_id,section_id,sampled_at,lab,parameter,result,unit,detection_limit,method\n"
WATER = (FIXTURES / "cnemc-water-publish.json").read_text(encoding="utf-8")


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path))
    monkeypatch.delenv("ENVMON_WAREHOUSE_URL", raising=False)
    return load_settings({"ENVMON_HOME": str(tmp_path)})


def _engine(settings):
    return db.engine_for(settings.warehouse_url)


def _cli(*args):
    from pipelines import cli

    return cli.main(list(args))


@pytest.fixture
def any_warehouse(tmp_path, warehouse_url):
    """SQLite and the test PostgreSQL: the quarantine's rule column and the payload log's notes on both."""
    return load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_WAREHOUSE_URL": warehouse_url})


def test_a_row_without_a_valid_time_never_creates_an_assessment_day(any_warehouse, tmp_path):
    settings = any_warehouse
    results = tmp_path / "results.csv"
    results.write_text(LAB_HEADER + "S1,nanliu-yaqiao,2026-11-03 09:40,L,nh3n,0.4,mg/L,0.025,HJ 535\n"
                                    "S2,nanliu-yaqiao,03/11/2026 9h40,L,tp,0.1,mg/L,0.01,GB 11893\n", encoding="utf-8")
    summary = ingest_file("lab", results, FETCHED, settings)
    assert summary["days"] == ["2026-11-03"] and summary["quarantine_days"] == ["2027-01-01"]
    engine = _engine(settings)
    held = db.read_table(engine, "quarantine")
    assert held["partition_day"].astype(str).tolist() == ["2027-01-01"]    # kept, for the record only
    assert "sampling time '03/11/2026 9h40' is not an ISO 8601 time" in held["reason"].iloc[0]
    assessments = db.read_table(engine, "assessments")
    assert set(assessments[assessments["period"] == "day"]["period_start"].astype(str)) == {"2026-11-03"}
    assert not assessments["period_start"].astype(str).str.startswith("2027").any()   # nothing of the fallback day
    (payload,) = db.read_table(engine, "payloads").to_dict("records")
    assert payload["days"] == "2026-11-03"


def test_quarantined_values_carry_the_rule_id_and_the_rule_in_words(settings, tmp_path):
    air = tmp_path / "air.csv"
    air.write_text((FIXTURES / "cnemc-air-hourly.csv").read_text(encoding="utf-8")
                   .replace(",,20,20,22,", ",,20,-9999,22,"), encoding="utf-8")
    summary = ingest_file("cnemc-air", air, FETCHED, settings)["sources"]["cnemc-air"]
    assert summary["reconciled"] and summary["quarantined"] == 1
    (row,) = db.read_table(_engine(settings), "quarantine").to_dict("records")
    assert row["reason"] == "below the instrument's lower limit for pm10: \u22129999 < 0 µg/m³"
    assert row["rule"] == "expect_column_pair_values_a_to_be_greater_than_b(value, instrument_min)"


def test_a_refusal_is_one_line_naming_file_source_and_reason_and_is_logged_failed(settings, tmp_path, capsys):
    empty = tmp_path / "hourly.csv"
    empty.write_bytes(b"")
    assert _cli("ingest", "--source", "cnemc-air", "--file", str(empty)) == 1
    # envmon's own lines only: in-process, a logging handler an earlier test's Airflow run left on the
    # root logger can echo the warehouse migrations' log to stderr too (a fresh `envmon` does not)
    (line,) = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("envmon")]
    assert line == f"envmon: {empty}: refused as a cnemc-air payload: empty: the file has no content"
    (payload,) = db.read_table(_engine(settings), "payloads").to_dict("records")
    assert payload["status"] == "failed" and payload["error"].startswith("hourly.csv: refused as a cnemc-air payload")


def test_the_cli_says_which_year_it_took_and_warns_against_the_file_names_date(settings, tmp_path, capsys):
    payload = tmp_path / "publish-2021-04-05.json"
    payload.write_text(WATER, encoding="utf-8")
    stamp = FETCHED.timestamp()
    os.utime(payload, (stamp, stamp))
    assert _cli("ingest", "--source", "cnemc-water", "--file", str(payload)) == 0
    said = capsys.readouterr()
    assert "note: year 2026 taken for 监测时间 (printed MM-DD HH:MM, without a year) from the file's modification " \
           "time 2027-01-01 02:00 +0800" in said.out
    assert "envmon: warning: the readings are dated 2026-12-31…2026-12-31" in said.err
    assert "the file name says 2021-04-05" in said.err
    (logged,) = db.read_table(_engine(settings), "payloads").to_dict("records")
    assert logged["encoding"] == "utf-8" and "year 2026 taken" in logged["notes"] and "warning:" in logged["notes"]


def test_a_gbk_payload_is_loaded_and_its_encoding_logged(settings, tmp_path):
    air = tmp_path / "hourly.csv"
    air.write_bytes((FIXTURES / "cnemc-air-hourly.csv").read_text(encoding="utf-8").encode("gbk"))
    summary = ingest_file("cnemc-air", air, FETCHED, settings)
    assert summary["encoding"] == "gb18030" and summary["sources"]["cnemc-air"]["loaded"] == 36
    assert db.read_table(_engine(settings), "payloads")["encoding"].tolist() == ["gb18030"]


def test_an_80_character_chinese_file_name_is_archived(settings, tmp_path):
    payload = tmp_path / ("北部湾城市群" * 13 + "监测.csv")
    payload.write_bytes((FIXTURES / "cnemc-air-hourly.csv").read_bytes())
    summary = ingest_file("cnemc-air", payload, FETCHED, settings)
    archived = str(settings.home / summary["archive"])   # a storage key, in ENVMON_HOME by default (pipelines/storage.py)
    assert os.path.exists(archived) and len(os.path.basename(archived).encode()) <= 255 and archived.endswith(".csv.gz")


def test_a_section_of_a_registry_city_missing_from_the_registry_is_recorded_once(settings, tmp_path, capsys):
    since = datetime.now(BUREAU_TZ)
    payload = tmp_path / "publish.json"
    payload.write_text(WATER.replace("所在地市:密云区&#10;所属河流:潮河'>古北口<", "所在地市:南宁市&#10;所属河流:武鸣河'>叮当<"),
                       encoding="utf-8")
    first = ingest_file("cnemc-water", payload, FETCHED, settings)
    assert first["registry_unknown_first_seen"] == ["叮当 (南宁市)"]
    engine = _engine(settings)
    (new,) = registry_drift.newly_seen(engine, since)
    assert (new["name_zh"], new["city"], new["water_body"], new["values_seen"]) == ("叮当", "南宁市", "武鸣河", 11)
    later = tmp_path / "later.json"
    later.write_text(payload.read_text(encoding="utf-8").replace("原始值：0.41234", "原始值：0.51234"), encoding="utf-8")
    assert ingest_file("cnemc-water", later, FETCHED, settings)["registry_unknown_first_seen"] == []
    assert registry_drift.unknown_stations(engine)["payloads_seen"].tolist() == [2]
    # the operators heard of it once, on first sight, not again on the second payload
    notices = db.read_table(engine, "alert_notices")
    unknown = notices[notices["kind"] == "unknown_station"]
    assert unknown["subject_id"].tolist() == ["cnemc-water/叮当 (南宁市)"]
    capsys.readouterr()
    assert _cli("registry", "unknown") == 0
    assert "叮当 (南宁市, 武鸣河)" in capsys.readouterr().out


def test_a_refused_payload_raises_only_the_documented_refusal(settings, tmp_path):
    page = tmp_path / "results.xlsx"
    page.write_bytes(b"PK\x03\x04 not a workbook")
    with pytest.raises(PayloadError, match="refused as a lab payload: format: not an XLSX workbook"):
        ingest_file("lab", page, FETCHED, settings)
