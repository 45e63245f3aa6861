"""ENVMON_SCOPE (issue 27): at national scope every station and section a real CNEMC payload publishes
joins the registry on reading (one registry version of kind 'adopt' per payload, targets unset) and is
assessed (air: AQI; water: classes, no verdict); at beibu scope (the default) nothing changes: the
other stations are counted out of scope. And the national simulator prints the feeds' real formats."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from pipelines import config, scope
from pipelines.ingest.payloads import ingest_file
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.reference import registry
from pipelines.sources import files, simulator
from tests.conftest import real_data
from warehouse import db

AIR_HOUR = "cnemc-air/national-hourly-2026-03-15T12.csv"
WATER_SNAPSHOT = "cnemc-water/publish-ashx-2020-05-08.json"


@pytest.fixture
def national(monkeypatch):
    monkeypatch.setenv("ENVMON_SCOPE", "national")
    yield
    scope.unbind()


def test_the_scope_is_beibu_unless_set_and_a_wrong_value_is_one_clear_line():
    assert config.scope({}) == "beibu"
    assert config.scope({"ENVMON_SCOPE": "national"}) == "national"
    with pytest.raises(ValueError, match="ENVMON_SCOPE must be 'beibu' or 'national', not 'china'"):
        config.scope({"ENVMON_SCOPE": "china"})


def _air_codes(path) -> set[str]:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    return set(table["stationcode"].str.strip())


def test_at_beibu_scope_the_national_hour_keeps_its_other_stations_out_of_scope(tmp_path):
    path = real_data(AIR_HOUR)
    settings = load_settings({"ENVMON_HOME": str(tmp_path)})
    summary = ingest_file("cnemc-air", path, datetime(2026, 3, 15, 12, 30, tzinfo=BUREAU_TZ), settings)
    counts = summary["sources"]["cnemc-air"]
    assert counts["out_of_scope"] > 0 and counts["out_of_scope"] == counts["read"] - counts["loaded"] - counts["quarantined"]
    engine = db.engine_for(settings.warehouse_url)
    with engine.connect() as connection:
        adopted = connection.execute(text("SELECT count(*) FROM registry_versions WHERE kind = 'adopt'")).scalar()
    assert adopted == 0
    assert len(registry.air_stations()) < 100   # the Beibu six's stations only


# PostgreSQL here, SQLite for the water snapshot below: each is 1–3 minutes on the shared machine
@pytest.mark.postgres
def test_at_national_scope_every_station_of_the_real_hour_joins_and_is_assessed(national, tmp_path, postgres_url):
    path = real_data(AIR_HOUR)
    url = postgres_url
    settings = load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_WAREHOUSE_URL": url})
    summary = ingest_file("cnemc-air", path, datetime(2026, 3, 15, 12, 30, tzinfo=BUREAU_TZ), settings)
    counts = summary["sources"]["cnemc-air"]
    assert counts["out_of_scope"] == 0
    assert counts["read"] == counts["loaded"] + counts["quarantined"]
    codes = _air_codes(path)
    assert len(codes) == 1601
    assert codes <= set(registry.air_stations().index)
    engine = db.engine_for(url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT kind, applied_by, valid_from FROM registry_versions "
                                           "WHERE kind = 'adopt'")).all()
        assessed = pd.read_sql(text("SELECT station_id, status FROM assessments "
                                    "WHERE domain = 'air' AND period = 'day'"), connection)
        hourly = pd.read_sql(text("SELECT station_id, published_aqi, envmon_aqi FROM published_results "
                                  "WHERE source = 'cnemc-air'"), connection)
    assert len(versions) == 1                       # one registry version for the payload, not one per station
    assert str(versions[0].valid_from)[:10] == "2026-03-15"
    assert "ENVMON_SCOPE=national" in versions[0].applied_by
    stored = set(db.read_table(engine, "observations")["station_id"])
    assert stored <= set(assessed["station_id"])    # every station with a value has its day assessed
    assert len(stored) > 1500
    # one hour is not a day (GB 3095: 20 hours): the day is there, judged insufficient, not dropped
    assert set(assessed.loc[assessed["station_id"].isin(stored), "status"]) == {"insufficient data"}
    # the hour's AQI, envmon's own, for every station the feed gave one for, beside the published one
    both = hourly.dropna(subset=["published_aqi"])
    assert len(both) > 1500 and both["envmon_aqi"].notna().sum() > 1500


def test_at_national_scope_every_section_of_the_real_snapshot_joins_with_its_target_unset(national, tmp_path):
    path = real_data(WATER_SNAPSHOT)
    settings = load_settings({"ENVMON_HOME": str(tmp_path)})
    summary = ingest_file("cnemc-water", path, datetime(2020, 5, 8, 16, 30, tzinfo=BUREAU_TZ), settings)
    counts = summary["sources"]["cnemc-water"]
    body = json.loads(path.read_text(encoding="utf-8"))["tbody"]
    keys = {(r[0], r[1], files._cell(r[2])[0]) for r in body}
    sections = registry.cnemc_water_sections()
    known = {(row.province, row.basin, row.name_zh) for row in sections.itertuples()}
    assert keys <= known                            # every section the feed publishes is in the registry
    # the one key the response repeats with another city would be a second section: none here
    assert counts["out_of_scope"] == 0
    engine = db.engine_for(settings.warehouse_url)
    with engine.connect() as connection:
        rows = pd.read_sql(text("SELECT station_id, status, water_class, is_compliant, target_status FROM assessments "
                                "WHERE domain = 'surface_water' AND period = 'day'"), connection)
        readings = pd.read_sql(text("SELECT station_id, published_class, envmon_class FROM published_results "
                                    "WHERE source = 'cnemc-water'"), connection)
    adopted = rows[rows["station_id"].str.startswith("cnemc-")]
    assert len(adopted) > 1500
    assert (adopted["target_status"] == "unset").all()
    assert adopted["is_compliant"].isna().all()     # no verdict without a target
    assert "assessed" not in set(adopted["status"])  # one snapshot is not a day; and never a verdict
    # each reading classed by envmon (GB 3838), beside the class the feed published
    mine = readings[readings["station_id"].str.startswith("cnemc-")]
    assert mine["envmon_class"].notna().sum() > 1000
    published = mine[mine["published_class"].notna() & mine["envmon_class"].notna()]
    assert len(published) > 1000 and (published["published_class"] == published["envmon_class"]).mean() > 0.5


def test_the_national_simulator_prints_the_real_formats_for_every_station(tmp_path):
    air_sample, water_sample = real_data(AIR_HOUR), real_data(WATER_SNAPSHOT)
    stations = simulator.feed_air_stations(air_sample.read_bytes())
    sections = simulator.feed_water_sections(water_sample.read_bytes())
    day = date(2026, 11, 20)
    air = simulator.national_air_day(day, 1, stations)
    water = simulator.national_water_day(day, 1, sections)
    assert len(air) == 24 and len(water) == 6        # every hour; every 4 hours
    assert air == simulator.national_air_day(day, 1, stations)   # the same seed and day, the same bytes
    assert simulator.national_air_day(day, 2, stations) != air
    # the real header, byte for byte, and what envmon's own parsers read back
    assert next(iter(air.values())).split(b"\n")[0] == air_sample.read_bytes().split(b"\n")[0].rstrip(b"\r")
    assert json.loads(next(iter(water.values())))["thead"] == json.loads(water_sample.read_text(encoding="utf-8"))["thead"]
    when, payload = list(air.items())[11]
    parsed = files.parse_cnemc_air(payload, when + timedelta(minutes=30))
    assert parsed.reconciled and parsed.rejected.empty
    assert parsed.read == len(stations) * 12        # 12 value columns a row
    in_registry = parsed.observations["station_id"].nunique()
    assert in_registry == len(set(stations["stationcode"]) & set(registry.air_stations().index))
    when, payload = list(water.items())[2]
    parsed = files.parse_cnemc_water(payload, when + timedelta(minutes=30))
    assert parsed.reconciled and parsed.rejected.empty
    assert parsed.read == len(sections) * 11
