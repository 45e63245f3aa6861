"""HJ 663 annual air statistics stored by the pipeline (issue 20): per station and city, for the
closed year and the year to date; the worked examples below are computed by hand."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import select, update

from pipelines.assessment import air_annual, air_quality
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.reference import registry
from warehouse import air_annual_store, db, schema

CHONGZUO, BEIHAI = "崇左市", "北海市"
CLEAN = {"so2": 10.0, "no2": 20.0, "co": 1.0, "pm10": 50.0, "pm2_5": 30.0, "o3": 130.0, "o3_8h": 120.0}


def _stations(city):
    return air_annual.city_stations(city)


def _year_of_days(year: int, cities: dict[str, dict], last: date | None = None) -> pd.DataFrame:
    """Station days (day, station_id, so2 … o3_8h) of `year` up to `last`, each city's stations at
    its values every day."""
    rows, day = [], date(year, 1, 1)
    last = last or date(year, 12, 31)
    while day <= last:
        for city, values in cities.items():
            rows += [{"day": day, "station_id": s, **values} for s in _stations(city)]
        day += timedelta(days=1)
    return pd.DataFrame(rows)


def _city(rows, city):
    return next(r for r in rows if r["scope"] == "city" and r["site_id"] == city)


# --- worked examples ---------------------------------------------------------------------------

def test_the_98th_percentile_is_hj663s_formula_on_a_year_of_daily_values():
    # 365 days of SO2: 357 days at 10 and eight days at 60, 80, …, 200. HJ 663 Annex A:
    # k = 1 + (365 − 1) × 0.98 = 357.72, s = 357: X(357) = 10, X(358) = 60, so
    # m = 10 + (60 − 10) × 0.72 = 46.0 (a nearest-rank percentile would give 10 or 60).
    high = [60.0, 80.0, 100.0, 120.0, 140.0, 160.0, 180.0, 200.0]
    frame = _year_of_days(2025, {CHONGZUO: CLEAN})
    first_station = frame["station_id"] == _stations(CHONGZUO)[0]
    days = frame[first_station].index[:len(high)]
    frame.loc[days, "so2"] = high
    rows = air_annual.year_statistics(frame, 2025, date(2025, 12, 31))
    station = next(r for r in rows if r["site_id"] == _stations(CHONGZUO)[0])
    assert station["so2_percentile_p"] == 98.0
    assert station["so2_percentile"] == pytest.approx(46.0)
    assert station["so2_annual_mean"] == pytest.approx((357 * 10 + sum(high)) / 365)
    assert station["so2_attained"] is True and station["so2_percentile_limit"] == 150.0   # 46 ≤ 150 (24-h class Ⅱ)


def test_attainment_composite_index_and_ranking_of_two_cities_by_hand():
    # a complete 2025 (GB 3095-2012): 崇左 at CLEAN every day; 北海 the same but PM2.5 40.
    # 崇左: 10/60 + 20/40 + 50/70 + 30/35 + 1.0/4 + 120/160 = 3.2381; every item within its limits.
    # 北海: PM2.5 40/35 instead of 30/35: 3.5238; PM2.5 annual 40 > 35: not attained.
    frame = _year_of_days(2025, {CHONGZUO: CLEAN, BEIHAI: {**CLEAN, "pm2_5": 40.0}})
    rows = air_annual.year_statistics(frame, 2025, date(2025, 12, 31))
    chongzuo, beihai = _city(rows, CHONGZUO), _city(rows, BEIHAI)
    assert chongzuo["composite_index"] == pytest.approx(10 / 60 + 20 / 40 + 50 / 70 + 30 / 35 + 1.0 / 4 + 120 / 160)
    assert beihai["composite_index"] == pytest.approx(10 / 60 + 20 / 40 + 50 / 70 + 40 / 35 + 1.0 / 4 + 120 / 160)
    assert (chongzuo["status"], chongzuo["is_attained"], chongzuo["exceeding_items"]) == ("assessed", True, "")
    assert (beihai["status"], beihai["is_attained"], beihai["exceeding_items"]) == ("assessed", False, "pm2_5")
    assert beihai["pm2_5_attained"] is False and beihai["pm2_5_mean_limit"] == 35.0
    assert beihai["composite_primary"] == "pm2_5"                      # 40/35 the largest single index
    # ascending composite index, 1 the best; the four cities without data are not ranked
    assert (chongzuo["city_rank"], beihai["city_rank"]) == (1, 2)
    assert chongzuo["cities_ranked"] == beihai["cities_ranked"] == 2
    assert _city(rows, "南宁市")["city_rank"] is None and _city(rows, "南宁市")["status"] == "no data"
    assert chongzuo["rule_version"].startswith("air@") and "GB 3095-2012" in chongzuo["standard"]


def test_the_year_picks_the_limits_in_force_2026_pm2_5_against_30():
    # 2026 is assessed under the version in force on its last day (period_changeover.csv air/year):
    # GB 3095—2026 phase 1, PM2.5 annual 30. 北海 at PM2.5 32: within 35, over 30: not attained; its
    # PM2.5 single index is 32/30.
    frame = _year_of_days(2026, {BEIHAI: {**CLEAN, "pm2_5": 32.0}})
    beihai = _city(air_annual.year_statistics(frame, 2026, date(2026, 12, 31)), BEIHAI)
    assert beihai["pm2_5_mean_limit"] == 30.0 and beihai["pm2_5_attained"] is False
    assert beihai["composite_index"] == pytest.approx(10 / 60 + 20 / 40 + 50 / 70 + 32 / 30 + 1.0 / 4 + 120 / 160)
    assert "GB 3095—2026" in beihai["standard"]


def test_a_year_to_date_or_a_year_short_of_324_days_is_insufficient_data_never_a_verdict():
    # PM2.5 at 90 (far over every limit) on the days there are
    dirty = {**CLEAN, "pm2_5": 90.0}
    to_date = _city(air_annual.year_statistics(_year_of_days(2025, {CHONGZUO: dirty}, date(2025, 6, 30)), 2025,
                                               date(2025, 6, 30)), CHONGZUO)
    assert (to_date["period"], to_date["status"], to_date["is_attained"]) == ("year_to_date", "insufficient data", None)
    assert to_date["pm2_5_attained"] is None and to_date["exceeding_items"] == ""
    assert to_date["pm2_5_annual_mean"] == pytest.approx(90.0)       # the statistics are stored all the same
    # a closed year with 323 daily values, every month at its minimum (27, February 25, December 28):
    # each month meets GB 3095 Table 4, the year does not (324): still insufficient
    frame = _year_of_days(2025, {CHONGZUO: dirty})
    kept = frame["day"].map(lambda d: d.day <= {2: 25, 12: 28}.get(d.month, 27))
    short = _city(air_annual.year_statistics(frame[kept], 2025, date(2025, 12, 31)), CHONGZUO)
    assert short["pm2_5_valid_days"] == 323 and (short["status"], short["is_attained"]) == ("insufficient data", None)
    # the whole year: a real failure
    full = _city(air_annual.year_statistics(_year_of_days(2025, {CHONGZUO: dirty}), 2025, date(2025, 12, 31)), CHONGZUO)
    assert (full["status"], full["is_attained"], full["exceeding_items"]) == ("assessed", False, "pm2_5")


def test_ties_of_the_published_index_share_the_better_rank():
    assert air_quality.rank_by_composite_index({"a": 3.204, "b": 3.199, "c": 2.5, "d": None}) == \
        {"a": 2, "b": 2, "c": 1, "d": None}   # 3.20 and 3.20 as published: both second


# --- the pipeline: stored by the nightly run -----------------------------------------------------

def _hourly_rows(day: date, city: str, values: dict) -> list[dict]:
    rows = []
    for station in _stations(city):
        for hour in range(1, 25):  # hour-end 01:00 … 24:00 of the day
            end = datetime(day.year, day.month, day.day, tzinfo=BUREAU_TZ) + timedelta(hours=hour)
            for parameter in ("so2", "no2", "co", "o3", "pm10", "pm2_5"):
                value = values["o3_8h"] if parameter == "o3" else values[parameter]
                rows.append({"station_id": station, "parameter": parameter, "observed_at": end.astimezone(timezone.utc),
                             "averaging_period": "PT1H", "layer": "", "utc_offset_minutes": 480, "value": float(value),
                             "unit": "mg/m³" if parameter == "co" else "µg/m³", "qc_flag": "good", "qc_note": "",
                             "original_value": str(value), "sample_id": "", "detection_limit": None, "censoring": "",
                             "original_unit": "", "detail": "", "payload_id": None})
    return rows


def _load_day(engine, day: date, cities: dict[str, dict]) -> None:
    rows = [r for city, values in cities.items() for r in _hourly_rows(day, city, values)]
    good = pd.DataFrame(rows).assign(partition_day=day)
    batch = f"cnemc-air/{day.isoformat()}/test"
    good["batch_id"] = batch
    db.load_partition(engine, "cnemc-air", day, good, pd.DataFrame(columns=db.QUARANTINE_COLUMNS), {
        "source": "cnemc-air", "partition_day": day, "domain": "air", "batch_id": batch, "rows_read": len(good),
        "rows_loaded": len(good), "rows_quarantined": 0, "suite_name": "test",
        "loaded_at": datetime(2026, 6, 5, 2, 0, tzinfo=timezone.utc)})


def _snapshot(engine):
    table = schema.air_annual_statistics
    with engine.connect() as connection:
        return sorted(map(tuple, connection.execute(select(table)).all()), key=repr)


DAYS = [date(2026, 6, 1), date(2026, 6, 2), date(2026, 6, 3)]
NIGHT_VALUES = {CHONGZUO: CLEAN, BEIHAI: {**CLEAN, "pm2_5": 40.0}}


@pytest.fixture
def nightly_year(warehouse_url, tmp_path, set_clock):
    """Three nights of June 2026 run by the nightly assessment step, the clock on 2026-06-04."""
    from pipelines import nightly

    set_clock(datetime(2026, 6, 4, 3, 0, tzinfo=BUREAU_TZ))
    settings = load_settings({"ENVMON_WAREHOUSE_URL": warehouse_url, "ENVMON_HOME": str(tmp_path / "home")})
    nightly.prepare_warehouse(settings)
    engine = db.engine_for(warehouse_url)
    summaries = []
    for day in DAYS:
        _load_day(engine, day, NIGHT_VALUES)
        summaries.append(nightly.assess(day, settings))
    yield {"engine": engine, "settings": settings, "summaries": summaries, "url": warehouse_url}
    engine.dispose()


def test_the_nightly_run_stores_the_year_to_date_as_insufficient_data(nightly_year):
    engine = nightly_year["engine"]
    assert nightly_year["summaries"][-1]["air_annual"] == {
        "year": 2026, "period": "year_to_date", "through": "2026-06-03", "cities_with_data": 2, "cities_assessed": 0}
    stored = air_annual_store.annual_statistics(engine, 2026)
    assert set(stored["period"]) == {"year_to_date"} and set(stored["through_day"]) == {date(2026, 6, 3)}
    assert len(stored) == len(registry.air_stations()) + 6           # every station and the six cities
    cities = stored[stored["scope"] == "city"].set_index("site_id")
    assert cities.loc[CHONGZUO, "status"] == "insufficient data" and cities.loc[CHONGZUO, "days_with_data"] == 3
    assert pd.isna(cities.loc[BEIHAI, "is_attained"]) and pd.isna(cities.loc[BEIHAI, "pm2_5_attained"])
    assert cities.loc["南宁市", "status"] == "no data"
    # the numbers are the same function's on the nightly's own daily values (hour means of constants)
    assert cities.loc[BEIHAI, "pm2_5_annual_mean"] == pytest.approx(40.0)
    assert cities.loc[CHONGZUO, "composite_index"] == pytest.approx(
        10 / 60 + 20 / 40 + 50 / 70 + 30 / 30 + 1.0 / 4 + 120 / 160)    # 2026: PM2.5 S = 30
    assert (cities.loc[CHONGZUO, "city_rank"], cities.loc[BEIHAI, "city_rank"]) == (1, 2)
    assert cities.loc[CHONGZUO, "rule_version"].startswith("air@2026-03-01")


def test_re_running_a_day_gives_the_same_rows_and_the_year_end_closes_the_year(nightly_year, set_clock):
    from pipelines import nightly

    engine, settings = nightly_year["engine"], nightly_year["settings"]
    before = _snapshot(engine)
    nightly.assess(DAYS[1], settings)                          # an earlier day again: through stays 06-03
    nightly.assess(DAYS[2], settings)
    assert _snapshot(engine) == before
    set_clock(datetime(2027, 1, 1, 3, 0, tzinfo=BUREAU_TZ))    # the year is over: the closed year replaces it
    summary = nightly.assess(DAYS[2], settings)["air_annual"]
    assert (summary["period"], summary["through"]) == ("year", "2026-12-31")
    stored = air_annual_store.annual_statistics(engine, 2026)
    assert set(stored["period"]) == {"year"} and set(stored["status"]) <= {"insufficient data", "no data"}


def test_envmon_reassess_refreshes_the_years_it_touches(nightly_year):
    from pipelines.ingest import reassess

    engine = nightly_year["engine"]
    with engine.begin() as connection:   # a stale stored index: reassess must put the computed one back
        connection.execute(update(schema.air_annual_statistics).values(composite_index=99.0))
    reassess.reassess(DAYS[0], DAYS[-1], nightly_year["settings"])
    stored = air_annual_store.annual_statistics(engine, 2026, "city").set_index("site_id")
    assert stored.loc[CHONGZUO, "composite_index"] == pytest.approx(
        10 / 60 + 20 / 40 + 50 / 70 + 30 / 30 + 1.0 / 4 + 120 / 160)


def test_envmon_export_air_annual_writes_the_stored_rows(nightly_year, monkeypatch, capsys):
    from pipelines.cli import commands

    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", nightly_year["url"])
    monkeypatch.setenv("ENVMON_HOME", str(nightly_year["settings"].home))
    assert commands.main(["export", "air-annual", "--format", "csv"]) == 0
    exported = pd.read_csv(io.StringIO(capsys.readouterr().out))
    cities = exported[exported["scope"] == "city"].set_index("site_id")
    assert cities.loc[BEIHAI, "pm2_5_annual_mean"] == pytest.approx(40.0)
    assert cities.loc[BEIHAI, "status"] == "insufficient data" and cities.loc[BEIHAI, "city_rank"] == 2
    assert {"composite_index", "rule_version", "through_day", "so2_percentile_p"} <= set(exported.columns)


def test_the_air_page_shows_the_stored_statistics_and_insufficient_data(nightly_year):
    from dashboards.app.components import PageContext
    from dashboards.app.data import Warehouse, scope_for
    from dashboards.app.pages import air
    from dashboards.app.users import User
    from warehouse import queries

    engine = nightly_year["engine"]
    stations = queries.stations(engine)
    tables = {}
    for user in (User("region", "regional", "gx-dept"), User("cz", "city", "chongzuo")):
        for lang in ("zh", "en"):
            context = PageContext(Warehouse(engine, cache_seconds=0), stations, scope_for(user, stations), user, lang)
            tables[user.name, lang] = air.annual_table(context)
    zh = tables["region", "zh"].set_index("名称")
    assert zh.loc["北海市", "GB 3095 二级达标情况"] == "数据不足"        # a year to date: never 未达标
    assert zh.loc["北海市", "PM2.5 年均值"] == "40" and zh.loc["北海市", "排名"] == "2/2"
    assert zh.loc["北海市", "统计期"] == "2026年（截至 2026-06-03）"
    assert zh.loc["南宁市", "GB 3095 二级达标情况"] == "无数据" and zh.loc["南宁市", "综合指数"] == "—"
    en = tables["region", "en"].set_index("Name")
    assert en.loc["Beihai", "GB 3095 class Ⅱ attainment"] == "insufficient data"
    assert "PM2.5 95th percentile" in en.columns
    own = tables["cz", "zh"]
    assert set(own["名称"]) == {"崇左市", *registry.air_stations().loc[_stations(CHONGZUO), "name_zh"]}
    text = " ".join(str(v) for table in tables.values() for v in table.to_numpy().ravel())
    assert not any(word in text for word in ("nan", "None", "NaT", "未达标"))


def test_the_annual_report_uses_the_stored_statistics(nightly_year, set_clock):
    from pipelines import nightly
    from pipelines.reports import annual
    from pipelines.reports.reading import WarehouseReader

    engine = nightly_year["engine"]
    set_clock(datetime(2027, 1, 1, 3, 0, tzinfo=BUREAU_TZ))
    nightly.assess(DAYS[2], nightly_year["settings"])          # the closed year 2026
    stored = air_annual_store.annual_statistics(engine, 2026, "city").set_index("site_id")
    table = next(t for t in annual.build(WarehouseReader(engine), 2026).tables if t.key == "air_annual")
    rows = {row[0]: dict(zip([c.heading for c in table.columns], row)) for row in table.rows}
    assert rows[BEIHAI]["综合指数"] == pytest.approx(stored.loc[BEIHAI, "composite_index"])
    assert rows[BEIHAI]["综合指数排名"] == 2 and rows[BEIHAI]["GB 3095 二级达标情况"] == "数据不足"
    assert rows["南宁市"]["GB 3095 二级达标情况"] == "无数据"
    # the document reads the stored rows, not a computation of its own
    with engine.begin() as connection:
        connection.execute(update(schema.air_annual_statistics).where(
            schema.air_annual_statistics.c.site_id == BEIHAI).values(composite_index=7.5))
    table = next(t for t in annual.build(WarehouseReader(engine), 2026).tables if t.key == "air_annual")
    assert {row[0]: row for row in table.rows}[BEIHAI][[c.heading for c in table.columns].index("综合指数")] == 7.5


# --- the real March 2026 Beibu-6 hourly feed --------------------------------------------------

@pytest.mark.real_data
def test_the_real_march_2026_beibu_feed_through_envmon_ingest(tmp_path, monkeypatch):
    """Four weeks of the real CNEMC hourly air of the Beibu-6 stations, ingested as `envmon ingest`
    does (the archive path): the closed year 2026 is stored as insufficient data (28 days of 324),
    and a station's PM2.5 statistics are the day rule and HJ 663's percentile worked out here from
    the file's own hourly values."""
    import numpy as np

    from pipelines.cli import commands
    from tests.conftest import real_data

    path = real_data("cnemc-air/beibu6-hourly-2026-03-01-to-03-28.csv")
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path))
    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", url)
    assert commands.main(["ingest", "--source", "cnemc-air", "--file", str(path),
                          "--fetched-at", "2026-03-29T01:10:00+08:00"]) == 0
    engine = db.engine_for(url)
    stored = air_annual_store.annual_statistics(engine, 2026)
    assert set(stored["period"]) == {"year"}                       # the suite's clock is in 2027
    with_data = stored[stored["days_with_data"] > 0]
    assert len(with_data) and set(with_data["status"]) == {"insufficient data"}
    assert with_data["is_attained"].isna().all()
    # by hand from the file: station 1867A's hourly PM2.5 by bureau day (the hour labelled T0000
    # closes the day before), days with ≥ 20 hours, their mean and HJ 663's 95th percentile
    feed = pd.read_csv(path, dtype={"stationcode": str})
    mine = feed[(feed["stationcode"] == "1867A") & feed["pm2_5"].notna()].copy()
    ends = pd.to_datetime(mine["timepoint"], format="%Y-%m-%dT%H%M")
    mine["day"] = (ends - pd.Timedelta(hours=1)).dt.date
    days = mine.groupby("day")["pm2_5"].agg(["mean", "count"])
    days = days[days["count"] >= 20]["mean"]
    station = stored[(stored["scope"] == "station") & (stored["site_id"] == "1867A")].iloc[0]
    assert station["pm2_5_valid_days"] == len(days)
    assert station["pm2_5_annual_mean"] == pytest.approx(days.mean(), abs=0.05)
    assert station["pm2_5_percentile"] == pytest.approx(np.percentile(days, 95), abs=0.1)
    cities = stored[stored["scope"] == "city"].set_index("site_id")
    ranked = cities[cities["city_rank"].notna()]
    assert len(ranked) == ranked["cities_ranked"].iloc[0] and ranked["city_rank"].min() == 1


def test_the_batched_history_stores_the_statistics_of_the_years_it_fills(tmp_path):
    from pipelines.ingest import history

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    settings = load_settings({"ENVMON_WAREHOUSE_URL": url, "ENVMON_HOME": str(tmp_path / "home")})
    summary = history.backfill(date(2025, 12, 31), date(2026, 1, 1), settings, workers=0)
    assert [(s["year"], s["period"]) for s in summary["air_annual"]] == [(2025, "year"), (2026, "year")]
    stored = air_annual_store.annual_statistics(db.engine_for(url), scope="city")
    by_year = stored.groupby("year")["days_with_data"].max().to_dict()
    assert by_year == {2025: 1, 2026: 1}                      # one simulated day in each
    assert set(stored["status"]) == {"insufficient data"}
