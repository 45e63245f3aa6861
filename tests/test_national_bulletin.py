"""The monthly bulletin at national scope (issue 27): a summary a national centre reads, bounded in size.

Every station and section of the real national samples (the national air hour's 1,601 stations, the
national water response's 1,900 sections, ../shared/reference/formats), simulated for one day in the
feeds' formats and ingested at ENVMON_SCOPE=national (adopted into the registry as the real feeds'
would be), on the test PostgreSQL. The country's bulletin of the month then counts them per province
(every section and every city with air in exactly one province's row), lists the sections that failed
their target and the cross-boundary verdicts, and carries no per-section table: its tables have a row
per province, not per station. One province's bulletin (--province) has the per-section tables of
that province's sections only. The beibu bulletin is unchanged (tests/test_reports.py,
tests/test_bulletin_documents.py: its issues rebuild byte for byte)."""
from __future__ import annotations

import os
from datetime import date, timedelta

import pandas as pd
import pytest

from pipelines import scope
from pipelines.reports import national, publish
from pipelines.reports.reading import Month
from tests.conftest import real_data

AIR_HOUR = "cnemc-air/national-hourly-2026-03-15T12.csv"
WATER_SNAPSHOT = "cnemc-water/publish-ashx-2020-05-08.json"
DAY = date(2026, 11, 2)
MONTH = Month(2026, 11)
# The summary's tables have a row per province (and the lists below); a bound well under the
# thousands of rows the per-section form would have at national scope.
PER_STATION_TABLES = ("surface_water", "completeness", "city_summary", "air")


@pytest.fixture(scope="module")
def country(tmp_path_factory):
    from pipelines.clock import nightly_run_time
    from pipelines.config import load_settings
    from pipelines.ingest import batches
    from pipelines.sources import simulator
    from tests.conftest import fresh_postgres_schema

    air_path, water_path = real_data(AIR_HOUR), real_data(WATER_SNAPSHOT)
    home = tmp_path_factory.mktemp("national-bulletin")
    saved = {k: os.environ.get(k) for k in ("ENVMON_SCOPE", "ENVMON_HOME", "ENVMON_WAREHOUSE_URL",
                                            "ENVMON_SIMULATOR_FAULTS")}
    schema = fresh_postgres_schema()   # the test PostgreSQL runs wherever the suite does (README): no skip
    url = schema.__enter__()
    os.environ.update({"ENVMON_SCOPE": "national", "ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url,
                       "ENVMON_SIMULATOR_FAULTS": "none"})
    try:
        stations = simulator.feed_air_stations(air_path.read_bytes())
        sections = simulator.feed_water_sections(water_path.read_bytes())
        settings = load_settings()
        fetched = nightly_run_time(DAY + timedelta(days=1))
        items = [batches.Payload("cnemc-water", f"w-{when:%Y%m%dT%H%M}.json", fetched, content=body,
                                 fetched_basis="the simulated fetch")
                 for when, body in simulator.national_water_day(DAY, 11, sections).items()]
        items += [batches.Payload("cnemc-air", f"a-{when:%Y%m%dT%H%M}.csv", fetched, content=body,
                                  fetched_basis="the simulated fetch")
                  for when, body in simulator.national_air_day(DAY, 11, stations).items()]
        outcome = batches.ingest(items, settings, again=True, assess=False)   # the bulletin reads the observations
        assert not outcome.refused and not outcome.failed
        reader = publish.reader_for(settings)
        yield {"settings": settings, "reader": reader, "stations": stations, "sections": sections,
               "document": publish.build_bulletin(MONTH, settings=settings, reader=reader)}
    finally:
        from pipelines.reference import registry

        scope.unbind()
        registry.use_seed()   # the schema's registry goes with it
        schema.__exit__(None, None, None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def in_country(country, monkeypatch):
    """The country's warehouse with its registry in force (each test starts on the seed's)."""
    from warehouse import db, registry_store

    monkeypatch.setenv("ENVMON_SCOPE", "national")
    registry_store.use_warehouse_registry(db.engine_for(country["settings"].warehouse_url))
    return country


def _table(document, name):
    return next(t for t in document.tables if t.key == name)


def _column(table, heading) -> list:
    index = [c.heading for c in table.columns].index(heading)
    return [row[index] for row in table.rows]


def test_the_national_bulletin_counts_every_section_and_city_once_per_province(in_country):
    country = in_country
    from pipelines.reference import places, registry

    document = country["document"]
    water = _table(document, "province_water")
    registered = registry.water_sections(MONTH.last)
    assert len(registered) >= len(country["sections"]) - 5   # the feed's sections, adopted (a few share a name)
    assert sum(_column(water, "断面数")) == len(registered)
    provinces = national.province_of_sections(MONTH).loc[registered.index]
    assert _column(water, "省份") == sorted(set(provinces))
    by_province = dict(zip(_column(water, "省份"), _column(water, "断面数")))
    assert by_province["北京市"] == int((provinces == "北京市").sum()) > 0
    # the classes of the complete sections add up to those assessed, province by province
    classes = ["Ⅰ类", "Ⅱ类", "Ⅲ类", "Ⅳ类", "Ⅴ类", "劣Ⅴ"]
    for row in zip(_column(water, "评价断面数"), *[_column(water, k) for k in classes]):
        assert row[0] == sum(row[1:])
    air = _table(document, "province_air")
    cities = set(country["stations"]["area"])
    assert sum(_column(air, "有数据城市数")) == len(cities)
    assert set(_column(air, "省份")) == {places.city_provinces()[c] for c in cities}
    categories = ["优（城市日）", "良（城市日）", "轻度污染（城市日）", "中度污染（城市日）", "重度污染（城市日）", "严重污染（城市日）"]
    for row in zip(_column(air, "城市有效天数（合计）"), *[_column(air, k) for k in categories]):
        assert row[0] == sum(row[1:]) > 0


def test_the_national_bulletin_lists_the_failures_and_the_cross_boundary_verdicts_and_stays_bounded(in_country):
    country = in_country
    from pipelines.reference import registry

    document = country["document"]
    names = [t.key for t in document.tables]
    assert names[:3] == ["province_water", "failures", "cross_boundary"] and "province_air" in names
    assert not set(names) & set(PER_STATION_TABLES)          # no table a row per section or city
    water = _table(document, "province_water")
    failures = _table(document, "failures")
    assert len(failures.rows) == sum(_column(water, "未达标断面数"))
    assert all(row[6].startswith("未达标") for row in failures.rows)
    crossing = registry.sections(MONTH.last)
    crossing = crossing[crossing["is_cross_boundary"] & crossing["station_type"].isin(registry.WATER_STATION_TYPES)]
    assert len(_table(document, "cross_boundary").rows) == len(crossing)
    assert document.scope == national.NATIONAL_SCOPE and document.title.startswith("全国")
    # bounded: a row per province, the failures and the registry's lists; never one per station
    registered = len(registry.water_sections(MONTH.last)) + len(registry.air_stations(MONTH.last))
    shown = sum(len(t.rows) for t in document.tables if not t.key.startswith("lineage"))
    assert shown < 400 < registered
    assumptions = _table(document, "assumptions")           # an assumption stated once, with its count
    assert max(_column(assumptions, "断面/点位数")) > 1000 and len(assumptions.rows) < 100
    html = publish.render(document, "html")
    assert len(html) < 400_000, len(html)


def test_one_provinces_bulletin_has_the_per_section_tables_of_that_province_only(in_country):
    country = in_country
    document = publish.bulletin_document(country["reader"], MONTH, province="北京市")
    provinces = national.province_of_sections(MONTH)
    from pipelines.reference import registry

    mine = [s for s in registry.water_sections(MONTH.last).index if provinces[s] == "北京市"]
    surface = _table(document, "surface_water")
    assert len(surface.rows) == len(mine) > 0
    assert set(_column(surface, "断面名称")) == set(registry.sections(MONTH.last).loc[mine, "name_zh"])
    air = _table(document, "air")
    assert _column(air, "城市") == ["北京市"] and _column(air, "有效天数")[0] == 1
    assert document.scope == "北京市" and document.title.startswith("北京市")
    with pytest.raises(ValueError, match="no station of the registry in province"):
        publish.bulletin_document(country["reader"], MONTH, province="火星省")


def test_envmon_bulletin_writes_one_provinces_bulletin_to_out(in_country, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    settings = in_country["settings"]
    envmon = str(Path(sys.executable).parent / "envmon")
    env = {"ENVMON_HOME": str(settings.home), "ENVMON_WAREHOUSE_URL": settings.warehouse_url, "PATH": "/usr/bin:/bin",
           "ENVMON_SCOPE": "national"}
    refused = subprocess.run([envmon, "bulletin", "--month", "2026-11", "--province", "北京市"], capture_output=True,
                             text=True, env=env, timeout=600)
    assert refused.returncode == 2 and "--out" in refused.stderr
    out = tmp_path / "beijing.html"
    done = subprocess.run([envmon, "bulletin", "--month", "2026-11", "--province", "北京市", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert "北京市2026年11月环境质量月报" in page and "表1 2026年11月地表水断面水质状况" in page


def test_the_countrys_issue_rebuilds_at_national_scope_whatever_envmon_scope_is_now(in_country, monkeypatch):
    """An issue records the ENVMON_SCOPE it was made at, and a rebuild uses it: the country's
    bulletin, rebuilt after the centre went back to beibu scope, is the summary it was, byte for byte
    (tests/test_bulletin_documents.py: a beibu issue rebuilt at national scope)."""
    import copy

    from pipelines.reports import issues

    settings = in_country["settings"]
    record = publish.write(copy.deepcopy(in_country["document"]), ("xlsx", "html"), settings,
                           reader=in_country["reader"])
    assert record[issues.SCOPE_KEY] == "national" and record["scope"] == national.NATIONAL_SCOPE
    monkeypatch.setenv("ENVMON_SCOPE", "beibu")
    outcome = issues.rebuild(settings, record["issue"]["id"], formats=("xlsx", "html"))
    assert outcome.formats == {"xlsx": "identical", "html": "identical"}, outcome.as_dict()
