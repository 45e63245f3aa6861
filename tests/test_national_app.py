"""The app at national scope (issue 27): the Overview's province and city filters narrow its rows and its
national map, a filter outside the user's stations is refused on the server, and at beibu scope (the
default) there is no province filter. A small national world: a few stations and sections of the real
national feeds (Guangxi and Beijing), simulated for one day in the feeds' formats and ingested at
ENVMON_SCOPE=national, so that they join the registry as the real feeds' do."""
from __future__ import annotations

import json
import os
from datetime import date, timedelta

import pandas as pd
import pytest

from dashboards.app import create_app, users
from pipelines import scope
from pipelines.reference import places
from tests import dashboard_app_fixture as fixture
from tests.conftest import real_data

PASSWORD = "correct horse battery"
DAY = date(2026, 11, 2)
AIR_HOUR = "cnemc-air/national-hourly-2026-03-15T12.csv"
WATER_SNAPSHOT = "cnemc-water/publish-ashx-2020-05-08.json"
BEIJING, GUANGXI = "北京市", "广西壮族自治区"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from pipelines.clock import nightly_run_time
    from pipelines.config import load_settings
    from pipelines.ingest import batches
    from pipelines.sources import simulator

    air_path, water_path = real_data(AIR_HOUR), real_data(WATER_SNAPSHOT)
    home = tmp_path_factory.mktemp("national-app")
    url = f"sqlite:///{home / 'warehouse.db'}"
    saved = {k: os.environ.get(k) for k in ("ENVMON_SCOPE", "ENVMON_HOME", "ENVMON_WAREHOUSE_URL",
                                            "ENVMON_SIMULATOR_FAULTS")}
    os.environ.update({"ENVMON_SCOPE": "national", "ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url,
                       "ENVMON_SIMULATOR_FAULTS": "none"})
    try:
        stations = simulator.feed_air_stations(air_path.read_bytes())
        # two Nanning stations (Guangxi, in the seed registry) and three of Beijing and Baoding (adopted)
        chosen = pd.concat([stations[stations["area"] == "南宁市"].head(2), stations[stations["area"] == "北京市"].head(2),
                            stations[stations["area"] == "保定市"].head(1)], ignore_index=True)
        sections = simulator.feed_water_sections(water_path.read_bytes())
        picked = pd.concat([sections[sections["province"] == BEIJING].head(3),
                            sections[sections["province"] == GUANGXI].head(2)], ignore_index=True)
        settings = load_settings()
        fetched = nightly_run_time(DAY + timedelta(days=1))
        items = [batches.Payload("cnemc-water", f"w-{when:%Y%m%dT%H%M}.json", fetched, content=body,
                                 fetched_basis="the simulated fetch")
                 for when, body in simulator.national_water_day(DAY, 7, picked).items()]
        items += [batches.Payload("cnemc-air", f"a-{when:%Y%m%dT%H%M}.csv", fetched, content=body,
                                  fetched_basis="the simulated fetch")
                  for when, body in simulator.national_air_day(DAY, 7, chosen).items()]
        outcome = batches.ingest(items, settings, again=True, assess=True)
        assert not outcome.refused and not outcome.failed
        users_path = home / "users.json"
        users.add_user(users_path, "region", PASSWORD, "regional", "gx-dept")
        users.add_user(users_path, "nanning", PASSWORD, "city", "nanning")
        app = create_app(url, users_path, home, secret_key="test", cache_seconds=0)
        yield {"url": url, "home": home, "users": users_path, "app": app, "air": chosen, "sections": picked}
    finally:
        scope.unbind()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def national(world, monkeypatch):
    monkeypatch.setenv("ENVMON_SCOPE", "national")
    return world


_SIGNED_IN: dict = {}


def _client(app, name: str):
    """A client signed in as `name`, once per app and user (the app throttles repeated sign-ins)."""
    key = (id(app), name)
    if key not in _SIGNED_IN:
        client = app.server.test_client()
        assert fixture.sign_in(client, name, PASSWORD).status_code == 302
        _SIGNED_IN[key] = (app, client)   # the app kept with its client, so that its id is not reused
    return _SIGNED_IN[key][1]


def overview(client, app, province: str = "", city: str = "", status: int = 200) -> dict:
    """The Overview's callback as the browser asks for it, with the filters given."""
    key = next(k for k in app.callback_map if "overview-map.figure" in k)
    values = {"overview-day": None, "overview-province": province, "overview-city": city}
    inputs = [{"id": i["id"], "property": i["property"], "value": values[i["id"]]}
              for i in app.callback_map[key]["inputs"]]
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1].split("@")[0]}
               for o in key.strip(".").split("...")]
    answer = client.post("/_dash-update-component", json={
        "output": key, "outputs": outputs, "inputs": inputs,
        "state": [{"id": "url", "property": "search", "value": ""}], "changedPropIds": []})
    assert answer.status_code == status, answer.data[:300]
    return json.loads(answer.data)["response"] if status == 200 else {}


def _kpi_rows(response) -> list[dict]:
    return response["overview-kpi"]["data"]


def _air_points(response) -> set[str]:
    return {s for trace in response["overview-map"]["figure"]["data"] if trace["type"] == "scatter"
            for s in trace["customdata"]}


def _section_groups(response) -> set[str]:
    return {g for trace in response["overview-map"]["figure"]["data"] if trace["type"] == "bar" for g in trace["y"]}


def _cities(world, station_ids) -> set[str]:
    from warehouse import db, queries

    stations = queries.stations(db.engine_for(world["url"])).set_index("station_id")
    return set(stations.loc[sorted(station_ids), "city"])


def test_every_area_of_the_real_national_air_hour_has_its_province():
    table = pd.read_csv(real_data(AIR_HOUR), dtype=str, keep_default_na=False)
    known = places.city_provinces()
    assert set(table["area"]) <= set(known)
    assert known["南宁市"] == GUANGXI and known["保定市"] == "河北省" and known["那曲市"] == "西藏自治区"
    assert known["北京市"] == BEIJING and known["定州市"] == "河北省"


def test_at_national_scope_the_province_filter_narrows_the_kpi_rows_and_the_map(national):
    app = national["app"]
    client = _client(app, "region")
    everything = overview(client, app)
    provinces = {row["省份"] for row in _kpi_rows(everything)}
    assert {BEIJING, GUANGXI, "河北省"} <= provinces
    air = national["air"]
    assert set(air["stationcode"]) <= _air_points(everything)
    assert {BEIJING, GUANGXI} <= _section_groups(everything)

    beijing = overview(client, app, province=BEIJING)
    rows = _kpi_rows(beijing)
    assert [row["城市"] for row in rows] == sorted({row["城市"] for row in rows})   # a row per city of Beijing
    assert "南宁市" not in {row["城市"] for row in rows} and "保定市" not in {row["城市"] for row in rows}
    assert _air_points(beijing) == set(air.loc[air["area"] == BEIJING, "stationcode"])
    assert not _section_groups(beijing) & {BEIJING, GUANGXI}        # the sections counted per city now
    aqi = [row for row in rows if row["城市"] == BEIJING]
    assert aqi and list(aqi[0].values())[4].endswith("(2)")  # the day's AQI range over Beijing's two stations
    cities = {o["value"] for o in beijing["overview-city"]["options"]} - {""}
    assert BEIJING in cities and "南宁市" not in cities               # the city list follows the province


def test_at_national_scope_the_city_filter_narrows_to_one_city(national):
    app = national["app"]
    client = _client(app, "region")
    nanning = overview(client, app, province=GUANGXI, city="南宁市")
    assert [row["城市"] for row in _kpi_rows(nanning)] == ["南宁市"]
    air = national["air"]
    # Nanning's stations of the seed registry and the two the feed gave values for, no other
    assert set(air.loc[air["area"] == "南宁市", "stationcode"]) <= _air_points(nanning)
    assert _cities(national, _air_points(nanning)) == {"南宁市"}
    baoding = overview(client, app, city="保定市")
    assert _air_points(baoding) == set(air.loc[air["area"] == "保定市", "stationcode"])


def test_a_city_bureau_sees_only_its_city_and_a_filter_outside_it_is_refused(national):
    app = national["app"]
    client = _client(app, "nanning")
    own = overview(client, app)
    assert [row["省份"] for row in _kpi_rows(own)] == [GUANGXI]
    air = national["air"]
    assert set(air.loc[air["area"] == "南宁市", "stationcode"]) <= _air_points(own)
    assert _cities(national, _air_points(own)) == {"南宁市"}
    overview(client, app, province=BEIJING, status=403)
    overview(client, app, city="保定市", status=403)
    overview(client, app, province=GUANGXI, city="北海市", status=403)   # Guangxi's, but not this bureau's
    assert client.get("/download/overview/kpi.csv?province=%E5%8C%97%E4%BA%AC%E5%B8%82").status_code == 403
    body = client.get("/download/overview/kpi.csv").get_data(as_text=True)
    assert GUANGXI in body and BEIJING not in body
    # the regional user may choose any province
    region = _client(app, "region")
    assert region.get("/download/overview/kpi.csv?province=%E5%8C%97%E4%BA%AC%E5%B8%82").status_code == 200


def air_page(client, app, province: str = "", city: str = "", status: int = 200) -> dict:
    key = next(k for k in app.callback_map if "air-calendar.figure" in k)
    values = {"air-province": province, "air-city": city, "air-range": None, "air-pollutant": "pm2_5"}
    inputs = [{"id": i["id"], "property": i["property"], "value": values[i["id"]]}
              for i in app.callback_map[key]["inputs"]]
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1].split("@")[0]}
               for o in key.strip(".").split("...")]
    answer = client.post("/_dash-update-component", json={
        "output": key, "outputs": outputs, "inputs": inputs,
        "state": [{"id": "url", "property": "search", "value": ""}], "changedPropIds": []})
    assert answer.status_code == status, answer.data[:300]
    return json.loads(answer.data)["response"] if status == 200 else {}


def test_at_national_scope_the_air_page_filters_by_province_and_city(national):
    app = national["app"]
    client = _client(app, "region")
    # with no filter the page opens on the user's own province (gx-dept: Guangxi), not the country
    own = air_page(client, app)
    own_cities = {row["城市"] for row in own["air-table"]["data"]}
    assert "南宁市" in own_cities and {places.city_provinces()[c] for c in own_cities} == {GUANGXI}
    assert "南宁市" in {o["value"] for o in own["air-city"]["options"]} and BEIJING not in \
        {o["value"] for o in own["air-city"]["options"]}
    every = {row["城市"] for row in air_page(client, app, province="*")["air-table"]["data"]}   # 全部省份
    assert {BEIJING, "保定市", "南宁市"} <= every
    hebei = air_page(client, app, province="河北省")
    assert {row["城市"] for row in hebei["air-table"]["data"]} == {"保定市"}
    assert {o["value"] for o in hebei["air-city"]["options"]} - {""} == {"保定市"}
    beijing = air_page(client, app, city=BEIJING)
    assert {row["城市"] for row in beijing["air-table"]["data"]} == {BEIJING}
    nanning = _client(app, "nanning")
    assert {row["城市"] for row in air_page(nanning, app)["air-table"]["data"]} == {"南宁市"}
    air_page(nanning, app, province="河北省", status=403)
    air_page(nanning, app, city=BEIJING, status=403)


def section_picker(client, app, province: str = "", city: str = "", status: int = 200) -> list[dict]:
    key = next(k for k in app.callback_map if "section-pick.options" in k)
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1].split("@")[0]}
               for o in key.strip(".").split("...")]
    answer = client.post("/_dash-update-component", json={
        "output": key, "outputs": outputs,
        "inputs": [{"id": "section-province", "property": "value", "value": province},
                   {"id": "section-city", "property": "value", "value": city}],
        "state": [{"id": "url", "property": "search", "value": ""}], "changedPropIds": ["section-province.value"]})
    assert answer.status_code == status, answer.data[:300]
    return json.loads(answer.data)["response"]["section-pick"]["options"] if status == 200 else []


def test_at_national_scope_the_section_list_follows_the_province(national):
    from warehouse import db, queries

    app = national["app"]
    client = _client(app, "region")
    stations = queries.stations(db.engine_for(national["url"])).set_index("station_id")
    beijing = {o["value"] for o in section_picker(client, app, province=BEIJING)}
    assert len(beijing) == 3 and set(stations.loc[sorted(beijing), "station_type"]) <= {"river", "lake-reservoir"}
    assert all(national["sections"].loc[national["sections"]["province"] == BEIJING, "name_zh"].isin(
        stations.loc[sorted(beijing), "name_zh"]))
    guangxi = {o["value"] for o in section_picker(client, app, province=GUANGXI)}
    assert "yongjiang-laokou" in guangxi and not guangxi & beijing
    section_picker(_client(app, "nanning"), app, province=BEIJING, status=403)


@pytest.mark.parametrize("path", ["/", "/cross-boundary", "/section", "/reservoirs", "/coastal", "/air", "/alerts",
                                  "/quality", "/registry", "/documents"])
def test_at_national_scope_every_page_opens(national, path):
    client = _client(national["app"], "region")
    answer = client.post("/_dash-update-component", json={
        "output": "page.children", "outputs": {"id": "page", "property": "children"},
        "inputs": [{"id": "url", "property": "pathname", "value": path}],
        "state": [{"id": "url", "property": "search", "value": ""}], "changedPropIds": ["url.pathname"]})
    assert answer.status_code == 200, answer.data[:300]
    assert '"not-found"' not in answer.get_data(as_text=True)


def test_at_beibu_scope_the_overview_has_no_province_filter(world, monkeypatch):
    monkeypatch.delenv("ENVMON_SCOPE", raising=False)
    app = create_app(world["url"], world["users"], world["home"], secret_key="test", cache_seconds=0)
    key = next(k for k in app.callback_map if "overview-map.figure" in k)
    assert [i["id"] for i in app.callback_map[key]["inputs"]] == ["overview-day", "overview-city"]
    client = _client(app, "region")
    page = client.post("/_dash-update-component", json={
        "output": "page.children", "outputs": {"id": "page", "property": "children"},
        "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
        "state": [{"id": "url", "property": "search", "value": ""}], "changedPropIds": ["url.pathname"]})
    assert page.status_code == 200 and "overview-city" in page.get_data(as_text=True)
    assert "overview-province" not in page.get_data(as_text=True)
    air = next(k for k in app.callback_map if "air-calendar.figure" in k)
    assert [i["id"] for i in app.callback_map[air]["inputs"]][:1] == ["air-city"]
    assert not any("section-pick.options" in k for k in app.callback_map)
    # nor on the cross-boundary, reservoir and coastal pages: their inputs as before
    for prefix, own in (("cross", ["cross-end"]), ("reservoir", ["reservoir-range", "reservoir-range"]),
                        ("coastal", ["coastal-range", "coastal-range"])):
        key = next(k for k in app.callback_map if PAGE_CALLBACKS[prefix] in k)
        assert [i["id"] for i in app.callback_map[key]["inputs"]] == own
        assert f"{prefix}-city.options" not in key


def test_at_national_scope_the_pages_draw_in_chromium_with_the_filters_and_no_error(national):
    """In a real browser under the app's CSP: the Overview's national map and its province filter,
    the Air page and the section list, at national scope; a province chosen narrows the KPI table."""
    from tests.test_app_security import REPORT_VIOLATIONS
    from tests.test_dashboard_app_browser import CHROMIUM, CHROMIUM_FLAGS, Session
    from playwright.sync_api import sync_playwright

    with fixture.running_dashboard(national["home"], national["url"], national["users"], "national-browser") as base, \
            sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        session = Session(chromium, base)
        try:
            session.context.add_init_script(REPORT_VIOLATIONS)
            session.login("region")
            assert session.page.locator("#overview-province").count() == 1
            assert session.page.locator("#overview-map .scatterlayer .point").count() >= len(national["air"])
            session.open("/?province=" + BEIJING)
            kpi = session.page.locator("#overview-kpi").inner_text()
            assert BEIJING in kpi and GUANGXI not in kpi and "南宁市" not in kpi
            for path in ("/air", "/section", "/cross-boundary", "/reservoirs", "/coastal"):
                session.open(path)
                assert session.page.locator("#air-province, #section-province, #cross-province, #reservoir-province, "
                                            "#coastal-province").count() == 1, path
            assert session.errors == [] and session.outside == []
        finally:
            session.close()
            chromium.close()


# ---- the cross-boundary, reservoir and coastal pages (issue 27): the same filters, by one helper ----

PAGE_CALLBACKS = {"cross": "cross-strip.figure", "reservoir": "reservoir-classes.figure",
                  "coastal": "coastal-bays.figure"}
PAGE_TABLES = {"cross": "cross-table", "reservoir": "reservoir-table", "coastal": "coastal-points"}


def page_callback(client, app, prefix: str, province: str = "", city: str = "", status: int = 200) -> dict:
    """A page's callback as the browser asks for it: its own inputs unset, the province and city given."""
    key = next(k for k in app.callback_map if PAGE_CALLBACKS[prefix] in k)
    values = {f"{prefix}-province": province, f"{prefix}-city": city}
    inputs = [{"id": i["id"], "property": i["property"], "value": values.get(i["id"])}
              for i in app.callback_map[key]["inputs"]]
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1].split("@")[0]}
               for o in key.strip(".").split("...")]
    answer = client.post("/_dash-update-component", json={
        "output": key, "outputs": outputs, "inputs": inputs,
        "state": [{"id": "url", "property": "search", "value": ""}], "changedPropIds": []})
    assert answer.status_code == status, answer.data[:300]
    return json.loads(answer.data)["response"] if status == 200 else {}


def _registry_sections(world) -> pd.DataFrame:
    from warehouse import db, queries

    return queries.stations(db.engine_for(world["url"])).set_index("station_id")


def _crossing_names(world, province: str | None = None) -> set[str]:
    stations = _registry_sections(world)
    crossing = stations[stations["is_cross_boundary"].fillna(False).astype(bool)
                        & stations["station_type"].isin(["river", "lake-reservoir"])]
    provinces = places.provinces_of(crossing.reset_index())
    crossing = crossing[(provinces == province).to_numpy()] if province else crossing
    return {f"{r.name_zh} ({r.water_body})" for r in crossing.itertuples()}


def _city_values(response, prefix: str) -> set[str]:
    return {o["value"] for o in response[f"{prefix}-city"]["options"]} - {""}


@pytest.fixture(scope="module")
def with_beibu_days(world):
    """The world and the Beibu simulator's day (its sections, reservoirs, coastal points and stations, as
    `envmon backfill` loads them), so that the cross-boundary, reservoir and coastal pages have rows.
    Used only by the tests below it (the ones above see the world as the national feeds made it)."""
    from pipelines.config import load_settings
    from pipelines.ingest import history

    saved = {k: os.environ.get(k) for k in ("ENVMON_SCOPE", "ENVMON_HOME", "ENVMON_WAREHOUSE_URL")}
    os.environ.update({"ENVMON_SCOPE": "national", "ENVMON_HOME": str(world["home"]),
                       "ENVMON_WAREHOUSE_URL": world["url"]})
    try:
        history.backfill(DAY, DAY, load_settings(), workers=0)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return world


@pytest.fixture
def beibu_days(with_beibu_days, monkeypatch):
    monkeypatch.setenv("ENVMON_SCOPE", "national")
    return with_beibu_days


def test_at_national_scope_the_cross_boundary_board_filters_by_province_and_city(beibu_days):
    national = beibu_days
    app = national["app"]
    client = _client(app, "region")
    guangdong = _crossing_names(national, "广东省")
    assert guangdong and _crossing_names(national, GUANGXI)       # the registry's sections on both sides
    every = {row["断面"] for row in page_callback(client, app, "cross")["cross-table"]["data"]}
    assert every == _crossing_names(national)
    answer = page_callback(client, app, "cross", province="广东省")
    assert {row["断面"] for row in answer["cross-table"]["data"]} == guangdong
    assert _city_values(answer, "cross") == {"湛江市"}               # the city list follows the province
    guangxi = page_callback(client, app, "cross", province=GUANGXI)
    assert {row["断面"] for row in guangxi["cross-table"]["data"]} == _crossing_names(national, GUANGXI)
    assert "湛江市" not in _city_values(guangxi, "cross")
    yulin = page_callback(client, app, "cross", city="玉林市")
    assert yulin["cross-table"]["data"] and {row["断面"] for row in yulin["cross-table"]["data"]} < every
    # the download is the same rows, made again on the server for the same user
    body = client.get("/download/cross-boundary/board.csv?province=%E5%B9%BF%E4%B8%9C%E7%9C%81").get_data(as_text=True)
    assert all(name in body for name in guangdong) and not any(n in body for n in _crossing_names(national, GUANGXI))
    # a province outside the user's stations: refused, by callback and by download
    page_callback(client, app, "cross", province=BEIJING, status=403)
    nanning = _client(app, "nanning")
    page_callback(nanning, app, "cross", province="广东省", status=403)
    assert nanning.get("/download/cross-boundary/board.csv?province=%E5%B9%BF%E4%B8%9C%E7%9C%81").status_code == 403


def test_at_national_scope_the_reservoir_and_coastal_pages_filter_by_province_and_city(beibu_days):
    national = beibu_days
    app = national["app"]
    client = _client(app, "region")
    stations = _registry_sections(national)
    reservoirs = stations[stations["station_type"] == "lake-reservoir"]
    reservoirs = reservoirs.assign(province=places.provinces_of(reservoirs.reset_index()).to_numpy())
    every = page_callback(client, app, "reservoir")
    assert {row["水库"] for row in every["reservoir-table"]["data"]} == set(reservoirs["name_zh"])
    guangdong = page_callback(client, app, "reservoir", province="广东省")
    assert {row["水库"] for row in guangdong["reservoir-table"]["data"]} == \
        set(reservoirs.loc[reservoirs["province"] == "广东省", "name_zh"])
    assert _city_values(guangdong, "reservoir") == set(reservoirs.loc[reservoirs["province"] == "广东省", "city"])
    beihai = page_callback(client, app, "reservoir", province=GUANGXI, city="北海市")
    assert {row["水库"] for row in beihai["reservoir-table"]["data"]} == \
        set(reservoirs.loc[reservoirs["city"] == "北海市", "name_zh"])
    assert _city_values(beihai, "reservoir") == set(reservoirs.loc[reservoirs["province"] == GUANGXI, "city"])
    points = stations[stations["station_type"] == "sea"]
    coastal = page_callback(client, app, "coastal")
    assert {row["点位"] for row in coastal["coastal-points"]["data"]} == set(points["name_zh"])
    assert _city_values(coastal, "coastal") == set(points["city"])
    qinzhou = page_callback(client, app, "coastal", city="钦州市")
    assert {row["点位"] for row in qinzhou["coastal-points"]["data"]} == \
        set(points.loc[points["city"] == "钦州市", "name_zh"])
    assert {row["海湾"] for row in qinzhou["coastal-bay-table"]["data"]} == \
        set(points.loc[points["city"] == "钦州市", "water_body"])
    # the downloads: the same rows, made again on the server for the same user
    body = client.get("/download/reservoirs/table.csv?province=%E5%B9%BF%E4%B8%9C%E7%9C%81").get_data(as_text=True)
    assert "鹤地水库" in body and "合浦水库" not in body
    # the user's stations hold no reservoir of Beijing and no coastal point of Guangdong: refused
    page_callback(client, app, "reservoir", province=BEIJING, status=403)
    page_callback(client, app, "coastal", province="广东省", status=403)
    nanning = _client(app, "nanning")
    page_callback(nanning, app, "reservoir", province="广东省", status=403)
    page_callback(nanning, app, "reservoir", city="北海市", status=403)
    assert nanning.get("/download/coastal/points.csv?city=%E9%92%A6%E5%B7%9E%E5%B8%82").status_code == 403


def test_at_national_scope_the_cross_boundary_reservoir_and_coastal_pages_filter_in_chromium(beibu_days):
    """In a real browser under the app's CSP: each page opened with a province (or city) in its address
    draws its dropdowns with it chosen and its table narrowed to it."""
    from tests.test_app_security import REPORT_VIOLATIONS
    from tests.test_dashboard_app_browser import CHROMIUM, CHROMIUM_FLAGS, Session
    from playwright.sync_api import sync_playwright

    national = beibu_days
    with fixture.running_dashboard(national["home"], national["url"], national["users"], "national-pages") as base, \
            sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        session = Session(chromium, base)
        try:
            session.context.add_init_script(REPORT_VIOLATIONS)
            session.login("region")
            session.open("/cross-boundary?province=广东省")
            board = session.page.locator("#cross-table").inner_text()
            assert "鹤地水库" in board and "东兴" not in board
            assert "广东省" in session.page.locator("#cross-province").inner_text()
            session.open("/reservoirs?province=广东省")
            table = session.page.locator("#reservoir-table").inner_text()
            assert "鹤地水库" in table and "合浦水库" not in table
            session.open("/coastal?city=钦州市")
            points = session.page.locator("#coastal-points").inner_text()
            assert "茅尾海" in points and "廉州湾" not in points
            assert session.errors == [] and session.outside == []
        finally:
            session.close()
            chromium.close()
