"""`envmon api` (issue 26) from outside: a running server on a populated warehouse (SQLite and
PostgreSQL), read with OWSLib and plain HTTP; its answers validated against the GeoJSON and
CoverageJSON schemas (tests/fixtures/schemas, offline); the partner tier's keys, scope and access
log; the public tier's rate limit; paging and ETag.

The warehouse: a lab payload (横塘 and 鼠岭 of Yulin, 合浦水库 of Beihai; TP '<0.01' and '0.02L'
below their detection limits; a negative NH3-N quarantined), the CNEMC hourly air fixture
(二十一中 of Nanning, 江州分局 of Chongzuo) and the CNEMC water snapshot fixture (横塘 and 鼠岭).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import jsonschema
import pytest

from tests.api_server import start_api, wait_until_serving
from tests.conftest import free_port, fresh_postgres_schema

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMAS = FIXTURES / "schemas"
ENVMON = str(Path(sys.executable).parent / "envmon")
LAB = """sample_id,section_id,sampled_at,lab,parameter,result,unit,detection_limit,method
YL-1,nanliu-hengtang,2026-11-03 09:40,玉林市环境监测站,ph,7.36,无量纲,,HJ 1147-2020
YL-1,nanliu-hengtang,2026-11-03 09:40,玉林市环境监测站,do,6.1,mg/L,,HJ 506-2009
YL-1,nanliu-hengtang,2026-11-03 09:40,玉林市环境监测站,nh3n,0.87,mg/L,0.025,HJ 535-2009
YL-1,nanliu-hengtang,2026-11-03 09:40,玉林市环境监测站,tp,<0.01,mg/L,0.01,GB/T 11893-1989
YL-2,nanliu-hengtang,2026-11-04 09:40,玉林市环境监测站,nh3n,-5,mg/L,0.025,HJ 535-2009
YL-3,jiuzhou-wenchequiao,2026-11-03 10:10,玉林市环境监测站,nh3n,0.41,mg/L,0.025,HJ 535-2009
BH-1,hepu-reservoir,2026-11-03 09:00,北海市环境监测站,nh3n,0.52,mg/L,0.025,HJ 535-2009
BH-1,hepu-reservoir,2026-11-03 09:00,北海市环境监测站,tp,0.02L,mg/L,0.02,GB/T 11893-1989
"""
YULIN_WATER = {"nanliu-hengtang", "jiuzhou-wenchequiao"}
BEIHAI_RESERVOIR = "hepu-reservoir"
WHOLE_REGION = "POLYGON((104 20, 113 20, 113 27, 104 27, 104 20))"
AROUND_HEPU = "POLYGON((109.0 21.5, 109.6 21.5, 109.6 22.0, 109.0 22.0, 109.0 21.5))"
PUBLIC_LIMIT = 3  # requests a minute on the limited server


def _populate(url: str, home: Path) -> None:
    from pipelines.clock import BUREAU_TZ
    from pipelines.config import load_settings
    from pipelines.ingest.payloads import ingest_payload

    settings = load_settings({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url})
    fetched = datetime(2027, 1, 1, 2, tzinfo=BUREAU_TZ)
    ingest_payload("lab", LAB.encode("utf-8"), "lab.csv", fetched, settings)
    ingest_payload("cnemc-air", (FIXTURES / "cnemc-air-hourly.csv").read_bytes(), "air.csv",
                   datetime(2026, 3, 15, 12, tzinfo=BUREAU_TZ), settings)
    ingest_payload("cnemc-water", (FIXTURES / "cnemc-water-publish.json").read_bytes(), "water.json", fetched, settings)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    from warehouse import api_store, db

    home = tmp_path_factory.mktemp(f"api-{request.param}")
    with (fresh_postgres_schema() if request.param == "postgresql" else _sqlite(home)) as url:
        engine = db.engine_for(url)
        db.migrate(engine)
        env = {**os.environ, "ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url}
        ports = free_port(), free_port()
        # the servers start (imports: seconds) while the warehouse fills; they read it per request
        main = start_api({**env, "ENVMON_API_PUBLIC_RATE": "1000/minute"}, ports[0])
        limited = start_api({**env, "ENVMON_API_PUBLIC_RATE": f"{PUBLIC_LIMIT}/minute"}, ports[1])
        try:
            _populate(url, home)
            scope = api_store.check_scope(api_store.parse_scope("city:yulin"), _stations(engine), _city_of_bureau())
            yulin, key = api_store.add_key(engine, "玉林市环境监测站", scope, "test", "cli:test")
            revoked = _revoked_key(url)
            base, limited_base = (f"http://127.0.0.1:{port}/api" for port in ports)
            wait_until_serving(main, base)
            wait_until_serving(limited, limited_base)
            yield SimpleNamespace(url=url, env=env, base=base, limited_base=limited_base, key=key,
                                  key_id=yulin.key_id, scope=scope, revoked_key=revoked)
        finally:
            for process in (main, limited):
                process.terminate()
                process.wait(timeout=20)
            engine.dispose()


def _stations(engine):
    from warehouse import queries

    return queries.stations(engine)


def _city_of_bureau():
    from pipelines.api import access

    return access.city_of_bureau()


class _sqlite:
    def __init__(self, home: Path):
        self.url = f"sqlite:///{home / 'warehouse.db'}"

    def __enter__(self):
        return self.url

    def __exit__(self, *_):
        return False


def _revoked_key(url: str) -> str:
    from warehouse import api_store, db

    engine = db.engine_for(url)
    row, key = api_store.add_key(engine, "北海市环境监测站", "city:北海市", "test", "cli:test")
    api_store.revoke_key(engine, row.key_id, "test", "cli:test")
    return key


def _get(served, path: str, key: str | None = None, **params) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return httpx.get(f"{served.base}{path}", params=params, headers=headers, timeout=30)


def _geojson_valid(document: dict) -> None:
    jsonschema.validate(document, json.loads((SCHEMAS / "geojson-FeatureCollection.json").read_text()))


def _coveragejson_valid(document: dict) -> None:
    from covjson_pydantic.coverage import CoverageCollection

    schema = json.loads((SCHEMAS / "coveragejson-CoverageCollection.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    CoverageCollection.model_validate_json(json.dumps(document))  # JSON mode: enums given as their strings


def _station_ids(document: dict) -> set[str]:
    return {coverage["envmon:station_id"] for coverage in document["coverages"]}


@pytest.fixture
def owslib_headers(monkeypatch):
    """OWSLib 0.35 updates its module's REQUEST_HEADERS with a client's headers (a key would leak into
    every later client): each test gets a copy of its own."""
    import owslib.ogcapi

    monkeypatch.setattr(owslib.ogcapi, "REQUEST_HEADERS", dict(owslib.ogcapi.REQUEST_HEADERS))


# --- OGC shapes, read with OWSLib -----------------------------------------------------------------------
def test_owslib_reads_the_collections_and_the_sections_features(served, owslib_headers):
    from owslib.ogcapi.features import Features

    api = Features(served.base)
    ids = {c["id"] for c in api.collections()["collections"]}
    assert {"sections", "air-stations", "coastal-points", "assessments", "water-observations",
            "air-observations", "coastal-observations"} <= ids
    assert "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/core" in api.conformance()["conformsTo"]
    sections = api.collection_items("sections", limit=200)
    _geojson_valid(sections)
    hengtang = next(f for f in sections["features"] if f["id"] == "nanliu-hengtang")
    assert hengtang["geometry"] == {"type": "Point", "coordinates": [109.62, 22.02]}
    assert {k: hengtang["properties"][k] for k in ("name_zh", "river", "city", "kind", "target_class", "target_status")} \
        == {"name_zh": "横塘", "river": "南流江", "city": "玉林市", "kind": "river", "target_class": "Ⅲ",
            "target_status": "assumed"}
    air = api.collection_items("air-stations", limit=200)
    _geojson_valid(air)
    assert all(f["properties"]["kind"] == "air" for f in air["features"]) and len(air["features"]) == 26
    coastal = api.collection_items("coastal-points", limit=200)
    _geojson_valid(coastal)
    assert len(coastal["features"]) == 10


def test_owslib_reads_a_sections_series_with_units_qc_flags_censoring_and_original_values(served, owslib_headers):
    from owslib.ogcapi.edr import EnvironmentalDataRetrieval

    edr = EnvironmentalDataRetrieval(served.base, headers={"X-API-Key": served.key})
    assert "water-observations" in edr.data()
    series = edr.query_data("water-observations", "locations/nanliu-hengtang", parameter_names=["tp", "nh3n"],
                            datetime_="2026-11-01/2026-11-30")
    _coveragejson_valid(series)
    lab = next(c for c in series["coverages"] if c["envmon:source"] == "lab")
    assert lab["domain"]["axes"]["t"]["values"] == ["2026-11-03T01:40:00Z"]  # 09:40 in Asia/Shanghai
    ranges = lab["ranges"]
    assert ranges["tp"]["values"] == [0.01] and ranges["tp.censoring"]["values"] == ["<"]
    assert ranges["tp.original_value"]["values"] == ["<0.01"] and ranges["tp.detection_limit"]["values"] == [0.01]
    assert ranges["nh3n"]["values"] == [0.87] and ranges["nh3n.censoring"]["values"] == [None]
    assert ranges["nh3n.qc_flag"]["values"] == ["good"]
    assert series["parameters"]["tp"]["unit"]["symbol"] == "mg/L"
    assert lab["envmon:quarantined"] == {"nh3n": 1}  # the negative NH3-N of 11-04
    assert {c["envmon:source"] for c in series["coverages"]} == {"lab"}  # the feed's 12-31 values lie outside


def test_the_landing_page_links_the_openapi_document(served):
    landing = _get(served, "").json()
    described = next(link for link in landing["links"] if link["rel"] == "service-desc")
    document = httpx.get(described["href"], timeout=30).json()
    assert document["openapi"].startswith("3.")
    assert "/api/collections/{collection_id}/area" in document["paths"]
    assert "/api/collections/{collection_id}/locations/{location_id}" in document["paths"]


def test_assessments_carry_rule_version_and_target_status_and_partners_get_the_verdict(served):
    public = _get(served, "/collections/assessments/items", station_id="nanliu-hengtang", period="day")
    assert public.status_code == 200
    _geojson_valid(public.json())
    day = next(f for f in public.json()["features"] if f["properties"]["period_start"] == "2026-11-03")
    assert day["properties"]["rule_version"] and day["properties"]["target_status"] == "assumed"
    assert "is_compliant" not in day["properties"] and "failing_parameters" not in day["properties"]
    partner = _get(served, "/collections/assessments/items", served.key, station_id="nanliu-hengtang", period="day")
    day = next(f for f in partner.json()["features"] if f["properties"]["period_start"] == "2026-11-03")
    assert "is_compliant" in day["properties"] and day["properties"]["target_class"] == "Ⅲ"
    air = _get(served, "/collections/assessments/items", domain="air", period="day").json()["features"]
    # two hours of air make no valid day (insufficient data): the day rows say so, AQI empty, rules named
    assert air and all({"aqi", "primary_pollutants", "status"} <= set(f["properties"]) for f in air)
    assert all(f["properties"]["rule_version"].startswith("air@") for f in air)


# --- the tiers ---------------------------------------------------------------------------------------------
def test_the_public_reads_hourly_air_values_only_and_no_raw_water(served):
    assert _get(served, "/collections/water-observations/locations/nanliu-hengtang").status_code == 401
    assert _get(served, "/collections/water-observations/area", coords=WHOLE_REGION).status_code == 401
    air = _get(served, "/collections/air-observations/locations/1401A")
    assert air.status_code == 200
    document = air.json()
    _coveragejson_valid(document)
    keys = {key for coverage in document["coverages"] for key in coverage["ranges"]}
    assert "pm2_5" in keys and not any("." in key or "@" in key for key in keys)  # no QC, no 24-h means
    assert all("envmon:source" not in c and "envmon:quarantined" not in c for c in document["coverages"])


def test_a_city_key_cannot_read_another_citys_raw_data_by_url(served):
    assert _get(served, f"/collections/water-observations/locations/{BEIHAI_RESERVOIR}", served.key).status_code == 403
    tricks = [f"/collections/water-observations/locations/nanliu-hengtang/../{BEIHAI_RESERVOIR}",
              f"/collections/water-observations/locations/nanliu-hengtang%2F..%2F{BEIHAI_RESERVOIR}",
              f"/collections/water-observations/locations/{BEIHAI_RESERVOIR}%20",
              "/collections/water-observations/locations/nanliu-hengtang,hepu-reservoir",
              f"/collections/water-observations/locations/{BEIHAI_RESERVOIR.upper()}"]
    for path in tricks:
        answer = _get(served, path, served.key)
        assert answer.status_code in (403, 404), (path, answer.status_code)
        assert BEIHAI_RESERVOIR not in json.dumps(answer.json().get("coverages", []))


def test_a_city_key_cannot_read_another_citys_raw_data_by_crafted_query(served):
    everything = _get(served, "/collections/water-observations/area", served.key, coords=WHOLE_REGION, limit=1000)
    assert everything.status_code == 200
    _coveragejson_valid(everything.json())
    assert _station_ids(everything.json()) == YULIN_WATER
    around_hepu = _get(served, "/collections/water-observations/area", served.key, coords=AROUND_HEPU)
    assert around_hepu.status_code == 200 and around_hepu.json()["coverages"] == []
    crafted = [{"coords": WHOLE_REGION, "location_id": BEIHAI_RESERVOIR, "station_id": BEIHAI_RESERVOIR},
               {"coords": WHOLE_REGION, "parameter-name": "tp", "parameter_names": "tp,nh3n"},
               {"coords": f"{WHOLE_REGION} ) , ((109 21, 110 21, 110 22, 109 22, 109 21))"}]
    for params in crafted:
        answer = _get(served, "/collections/water-observations/area", served.key, **params)
        assert answer.status_code in (200, 400), params
        if answer.status_code == 200:
            assert BEIHAI_RESERVOIR not in _station_ids(answer.json()), params
    # the other city's air station: what the public reads, no QC flags
    air = _get(served, "/collections/air-observations/area", served.key, coords=WHOLE_REGION).json()
    chongzuo = next(c for c in air["coverages"] if c["envmon:station_id"] == "2521A")
    assert not any("." in key for key in chongzuo["ranges"]) and "envmon:source" not in chongzuo
    verdicts = _get(served, "/collections/assessments/items", served.key, station_id=BEIHAI_RESERVOIR).json()
    assert verdicts["features"] and all("is_compliant" not in f["properties"] for f in verdicts["features"])


def test_an_unknown_or_revoked_key_is_refused_not_served_as_the_public(served):
    for key in (served.revoked_key, served.key + "x", "envmon_nothing"):
        answer = _get(served, "/collections/air-observations/locations/1401A", key)
        assert answer.status_code == 401 and answer.json()["code"] == "Unauthorized"


def test_public_requests_past_the_limit_get_429(served):
    url = f"{served.limited_base}/collections/sections/items"
    codes = [httpx.get(url, timeout=30).status_code for _ in range(PUBLIC_LIMIT + 2)]
    assert codes[:PUBLIC_LIMIT] == [200] * PUBLIC_LIMIT and codes[PUBLIC_LIMIT:] == [429, 429]
    refused = httpx.get(url, timeout=30)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # a partner counts against its own limit, not the public's
    assert httpx.get(url, headers={"X-API-Key": served.key}, timeout=30).status_code == 200


# --- paging, ETag -----------------------------------------------------------------------------------------
def test_next_links_page_through_every_value_once(served):
    whole = _get(served, "/collections/air-observations/area", served.key, coords=WHOLE_REGION, limit=1000).json()
    assert not any(link["rel"] == "next" for link in whole["links"])
    url, pages, values = f"{served.base}/collections/air-observations/area", 0, []
    params = {"coords": WHOLE_REGION, "limit": 7}
    while url:
        answer = httpx.get(url, params=params, headers={"X-API-Key": served.key}, timeout=30)
        document, params, pages = answer.json(), None, pages + 1
        _coveragejson_valid(document)
        values += _cells(document)
        following = [link["href"] for link in document["links"] if link["rel"] == "next"]
        assert (answer.headers.get("Link") is not None) == bool(following)
        url = following[0] if following else None
    assert sorted(values) == sorted(_cells(whole)) and len(values) == len(set(values)) > 7
    assert pages == -(-len(values) // 7)


def test_paging_by_key_gives_every_row_once_when_rows_share_a_time(served):
    """The next link carries the key of the page's last row (`after`), not an offset: rows of one
    time (a lab sample's parameters, an hour's pollutants) split across pages come once each, in a
    station's series and in an area query that mixes the key's city (raw) with the public view of
    the others, whatever the page size."""
    for path, params in (("/collections/water-observations/locations/nanliu-hengtang", {}),
                         ("/collections/air-observations/area", {"coords": WHOLE_REGION})):
        expected = _cells(_get(served, path, served.key, limit=1000, **params).json())
        assert len(expected) > 5
        for limit in (1, 2, 3, 5):
            url, query, pages, split = f"{served.base}{path}", {**params, "limit": limit}, [], False
            while url:
                answer = httpx.get(url, params=query, headers={"X-API-Key": served.key}, timeout=30)
                assert answer.status_code == 200, answer.text
                document, query = answer.json(), None
                _coveragejson_valid(document)
                pages.append(_cells(document))
                assert len(pages) <= len(expected), f"more pages than rows at limit {limit}: the paging does not end"
                if len(pages) > 1 and pages[-2] and pages[-1]:
                    split |= pages[-2][-1][:3:2] == pages[-1][0][:3:2]  # the same coverage and time
                following = [link["href"] for link in document["links"] if link["rel"] == "next"]
                assert all("after=" in href and "offset=" not in href for href in following)
                url = following[0] if following else None
            values = [cell for page in pages for cell in page]
            assert sorted(values) == sorted(expected) and len(values) == len(set(values)), (path, limit)
            assert len(pages) == -(-len(expected) // limit) and all(len(page) == limit for page in pages[:-1])
            if limit == 1:
                assert split, "no page boundary fell between two rows of one time"
    garbled = _get(served, "/collections/water-observations/locations/nanliu-hengtang", served.key, after="not-a-key")
    assert garbled.status_code == 400 and garbled.json()["code"] == "InvalidParameterValue"


def test_a_days_query_keeps_the_values_whose_averaging_period_began_the_day_before(served):
    """observed_at bounds partition_day as well, so that PostgreSQL reads only the partitions that
    can hold the rows; an hourly mean stamped 00:00 (23:00-24:00) is of the day before's partition
    and still answers a query for the day it is stamped in."""
    day = _get(served, "/collections/air-observations/locations/1401A", datetime="2026-03-15").json()
    nanning = next(c for c in day["coverages"] if c["envmon:station_id"] == "1401A")
    times = nanning["domain"]["axes"]["t"]["values"]
    assert times[0] == "2026-03-14T16:00:00Z"  # 00:00 of the 15th in Asia/Shanghai
    assert nanning["ranges"]["pm10"]["values"][0] == 61


def _cells(document: dict) -> list[tuple]:
    """Each observation a coverage answers: a value, or (partner view) a flag without a value."""
    cells = []
    for coverage in document["coverages"]:
        times = coverage["domain"]["axes"]["t"]["values"]
        for key, array in coverage["ranges"].items():
            if "." in key:
                continue
            flags = coverage["ranges"].get(f"{key}.qc_flag", {}).get("values") or [None] * len(times)
            cells += [(coverage["id"], key, t, value) for t, value, flag in zip(times, array["values"], flags)
                      if value is not None or flag is not None]
    return cells


def test_an_unchanged_answer_is_304_by_etag_and_by_date(served):
    first = _get(served, "/collections/water-observations/locations/nanliu-hengtang", served.key)
    assert first.status_code == 200 and first.headers["ETag"] and first.headers["Last-Modified"]
    again = httpx.get(f"{served.base}/collections/water-observations/locations/nanliu-hengtang",
                      headers={"X-API-Key": served.key, "If-None-Match": first.headers["ETag"]}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    other = httpx.get(f"{served.base}/collections/water-observations/locations/nanliu-hengtang",
                      params={"parameter-name": "tp"}, headers={"X-API-Key": served.key,
                                                                "If-None-Match": first.headers["ETag"]}, timeout=30)
    assert other.status_code == 200
    since = httpx.get(f"{served.base}/collections/sections/items",
                      headers={"If-Modified-Since": first.headers["Last-Modified"]}, timeout=30)
    assert since.status_code == 304
    earlier = format_datetime(datetime(2026, 1, 1, tzinfo=__import__("datetime").timezone.utc), usegmt=True)
    assert httpx.get(f"{served.base}/collections/sections/items", headers={"If-Modified-Since": earlier},
                     timeout=30).status_code == 200


# --- keys and the access log ----------------------------------------------------------------------------
def test_partner_requests_are_logged_with_who_what_and_how_many_rows(served):
    from warehouse import api_store, db

    engine = db.engine_for(served.url)
    before = len(api_store.access_log(engine, served.key_id))
    served_rows = _get(served, "/collections/water-observations/locations/jiuzhou-wenchequiao", served.key)
    refused = _get(served, f"/collections/water-observations/locations/{BEIHAI_RESERVOIR}", served.key)
    assert (served_rows.status_code, refused.status_code) == (200, 403)
    logged = api_store.access_log(engine, served.key_id).iloc[before:]
    assert list(logged["organisation"]) == ["玉林市环境监测站"] * 2
    assert list(logged["path"]) == ["/api/collections/water-observations/locations/jiuzhou-wenchequiao",
                                    f"/api/collections/water-observations/locations/{BEIHAI_RESERVOIR}"]
    assert list(logged["status"]) == [200, 403]
    values = sum(1 for cell in _cells(served_rows.json()))
    assert list(logged["rows"]) == [values, 0] and values > 0
    assert set(logged["collection"]) == {"water-observations"}


def test_keys_are_hashed_at_rest_and_their_changes_audited(served):
    from sqlalchemy import select

    from warehouse import db, schema, security_audit

    engine = db.engine_for(served.url)
    with engine.connect() as connection:
        stored = [tuple(map(str, row)) for row in connection.execute(select(schema.api_keys))]
    assert not any(served.key in cell for row in stored for cell in row)
    assert served.scope == "city:玉林市"
    events = security_audit.events(engine)
    assert {"key_added", "key_revoked"} <= set(events["event"])
    assert not events["detail"].fillna("").str.contains(served.key, regex=False).any()


def test_apikeys_add_prints_the_key_once_list_never_shows_it_and_revoke_ends_it(tmp_path):
    env = {**os.environ, "ENVMON_HOME": str(tmp_path), "ENVMON_WAREHOUSE_URL": f"sqlite:///{tmp_path / 'w.db'}"}

    def envmon(*args):
        return subprocess.run([ENVMON, "apikeys", *args], env=env, capture_output=True, text=True, timeout=120)

    added = envmon("add", "湛江市生态环境局", "--scope", "section:jiuzhou-shijiao,section:hedi-reservoir", "--json")
    assert added.returncode == 0, added.stderr
    key = json.loads(added.stdout)
    assert key["scope"] == "section:jiuzhou-shijiao;section:hedi-reservoir" and key["key"].startswith("envmon_")
    revoked = envmon("revoke", str(key["key_id"]))
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    listed = envmon("list")
    assert listed.returncode == 0 and "湛江市生态环境局" in listed.stdout and key["key"] not in listed.stdout
    assert key["key"][:12] in listed.stdout and "revoked" in listed.stdout
    refused = envmon("add", "某机构", "--scope", "city:广州市")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "广州市" in refused.stderr


def test_the_deployments_api_role_serves_a_partner_and_can_change_nothing_else(tmp_path):
    """deploy/postgres-init/03-api.sh (the role, on the postgres service's first start) and
    deploy/api-role.sql through deploy/api-grants.sh (its grants, given by the owner after the
    migration, as deploy/airflow-init.sh does) against a real PostgreSQL: the API on the role's URL
    serves a partner's series and logs the request, and the role can change nothing else."""
    import shutil
    import uuid

    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ProgrammingError

    from pipelines.api.app import create_app
    from tests.conftest import postgres_server_url
    from warehouse import api_store, db

    assert shutil.which("psql"), "the role scripts need the psql client"
    server = make_url(postgres_server_url())
    suffix = uuid.uuid4().hex[:8]
    database, role = f"envmon_api_{suffix}", f"envmon_api_{suffix}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    owner_url = server.set(database=database).render_as_string(hide_password=False)
    try:
        owner = db.engine_for(owner_url)
        db.migrate(owner)
        _populate(owner_url, tmp_path)
        scope = api_store.check_scope(api_store.parse_scope("city:yulin"), _stations(owner), _city_of_bureau())
        partner, key = api_store.add_key(owner, "玉林市环境监测站", scope, "test", "cli:test")
        deploy = Path(__file__).resolve().parents[1] / "deploy"
        environment = {**os.environ, "PGHOST": server.host, "PGPORT": str(server.port or 5432),
                       "POSTGRES_USER": server.username, "ENVMON_DB_NAME": database, "ENVMON_API_DB_USER": role,
                       "ENVMON_API_DB_PASSWORD": "api-secret", "ENVMON_WAREHOUSE_URL": owner_url}
        if server.password:
            environment["PGPASSWORD"] = server.password
        # 03-api.sh twice: a second run (by hand on an older volume, or again) makes no second role
        for script in (deploy / "postgres-init" / "03-api.sh", deploy / "postgres-init" / "03-api.sh",
                       deploy / "api-grants.sh"):
            result = subprocess.run(["bash", str(script)], env=environment, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
            assert "WARNING" not in result.stderr, result.stderr
        api_url = make_url(owner_url).set(username=role, password="api-secret").render_as_string(hide_password=False)
        client = TestClient(create_app(api_url))
        series = client.get("/api/collections/water-observations/locations/nanliu-hengtang",
                            headers={"X-API-Key": key})
        assert series.status_code == 200, series.text
        served_values = len(_cells(series.json()))
        assert served_values > 0
        assert client.get("/api/collections/air-observations/locations/1401A").status_code == 200  # the public
        logged = api_store.access_log(owner, partner.key_id)
        assert list(logged["rows"]) == [served_values] and list(logged["status"]) == [200]
        as_api = create_engine(api_url)
        try:
            for statement in ("UPDATE api_keys SET revoked_at = now()", "DELETE FROM api_access_log",
                              "UPDATE api_access_log SET rows = 0", "UPDATE observations SET value = 0",
                              "DELETE FROM observations", "DELETE FROM assessments",
                              "INSERT INTO api_keys (organisation) VALUES ('x')", "CREATE TABLE intruder (x int)"):
                with as_api.connect() as connection, pytest.raises(ProgrammingError, match="permission denied"):
                    connection.execute(text(statement))
        finally:
            as_api.dispose()
        owner.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_the_api_grants_skip_with_a_warning_where_the_role_is_missing():
    """A postgres volume made before deploy/postgres-init/03-api.sh existed has no API role: the
    grants (deploy/airflow-init.sh runs them) warn and pass, so the init job and the stack start;
    once the role is made (03-api.sh by hand) the same script grants it."""
    import shutil
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.conftest import postgres_server_url
    from warehouse import db

    assert shutil.which("psql"), "the role scripts need the psql client"
    server = make_url(postgres_server_url())
    suffix = uuid.uuid4().hex[:8]
    database, role = f"envmon_api_missing_{suffix}", f"envmon_api_missing_{suffix}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    owner_url = server.set(database=database).render_as_string(hide_password=False)
    deploy = Path(__file__).resolve().parents[1] / "deploy"
    environment = {**os.environ, "PGHOST": server.host, "PGPORT": str(server.port or 5432),
                   "POSTGRES_USER": server.username, "ENVMON_DB_NAME": database, "ENVMON_API_DB_USER": role,
                   "ENVMON_API_DB_PASSWORD": "api-secret", "ENVMON_WAREHOUSE_URL": owner_url}
    if server.password:
        environment["PGPASSWORD"] = server.password

    def run(script):
        return subprocess.run(["bash", str(script)], env=environment, capture_output=True, text=True)

    def role_exists():
        with admin.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()

    try:
        owner = db.engine_for(owner_url)
        db.migrate(owner)
        owner.dispose()
        skipped = run(deploy / "api-grants.sh")
        assert skipped.returncode == 0, skipped.stderr
        assert "WARNING" in skipped.stderr and role in skipped.stderr and "03-api.sh" in skipped.stderr
        assert skipped.stderr.count("\n") == 1  # one line
        assert role_exists() == 0  # nothing made behind the operator's back
        assert run(deploy / "postgres-init" / "03-api.sh").returncode == 0 and role_exists() == 1
        granted = run(deploy / "api-grants.sh")
        assert granted.returncode == 0 and "WARNING" not in granted.stderr, granted.stderr
        check = create_engine(server.set(database=database), isolation_level="AUTOCOMMIT")
        try:
            with check.connect() as connection:
                assert connection.execute(text("SELECT has_table_privilege(:r, 'api_access_log', 'INSERT')"),
                                          {"r": role}).scalar()
        finally:
            check.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_every_answer_carries_the_security_headers(served):
    for path in ("", "/collections/sections/items", "/collections/water-observations/locations/nanliu-hengtang"):
        headers = _get(served, path).headers
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"


def test_changed_since_gives_only_the_values_stored_since_a_revision_included(served):
    from pipelines import clock
    from pipelines.config import load_settings
    from pipelines.ingest.payloads import ingest_payload

    path = "/collections/water-observations/locations/jiuzhou-wenchequiao"
    before = clock.now()
    assert _get(served, path, served.key, **{"changed-since": before.isoformat()}).json()["coverages"] == []
    revision = LAB.splitlines()[0] + "\nYL-3,jiuzhou-wenchequiao,2026-11-03 10:10,玉林市环境监测站,nh3n,0.45,mg/L,0.025,HJ 535-2009\n"
    settings = load_settings({"ENVMON_HOME": served.env["ENVMON_HOME"], "ENVMON_WAREHOUSE_URL": served.url})
    ingest_payload("lab", revision.encode("utf-8"), "lab-revised.csv", before, settings)
    changed = _get(served, path, served.key, **{"changed-since": before.isoformat()})
    assert changed.status_code == 200
    assert [(c["envmon:source"], c["ranges"]["nh3n"]["values"]) for c in changed.json()["coverages"]] \
        == [("lab", [0.45])]
    assert _get(served, path, served.key, **{"changed-since": "2026-11-03"}).status_code == 400
