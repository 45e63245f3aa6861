"""The source partner-edr (issue 26, "the other direction"): two envmon instances on one machine.

A (its own ENVMON_HOME and warehouse) holds a simulated day of every section and a lab payload
for 横塘 (Yulin), serves them with `envmon api`, and issues B a partner key scoped to Yulin
(`envmon apikeys add`). B (another home and warehouse, the other dialect) pulls A's shared sections
with `envmon ingest --source partner-edr --url URL --key-file PATH`: the rows are A's, value for
value; a lab value A revises (a second payload of the same sample) reaches B as a revision that
`envmon history` shows; pulling again changes nothing (the overlap comes back, is found held, and
is not ingested; then A answers 304 to the ETag); A's access log names B's requests and rows.
Also: the key file's forms, the parser's refusals by value, and the collection DAG.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pandas as pd
import pytest

from tests.api_server import start_api, wait_until_serving
from tests.conftest import free_port, fresh_postgres_schema

ENVMON = str(Path(sys.executable).parent / "envmon")
A_ORGANISATION = "玉林市生态环境监测站"       # whose data B pulls (B's key file says so)
B_ORGANISATION = "湛江市生态环境监测中心站"    # to whom A issued the key (A's access log says so)
SIMULATED_DAY = date(2026, 12, 30)
LAB = """sample_id,section_id,sampled_at,lab,parameter,result,unit,detection_limit,method
YL-9,nanliu-hengtang,2026-12-30 09:40,玉林市环境监测站,nh3n,{nh3n},mg/L,0.025,HJ 535-2009
YL-9,nanliu-hengtang,2026-12-30 09:40,玉林市环境监测站,tp,<0.01,mg/L,0.01,GB/T 11893-1989
"""
COMPARED = ["value", "unit", "qc_flag", "qc_note", "original_value", "censoring", "detection_limit"]
KEY = ["station_id", "parameter", "observed_at", "averaging_period", "layer"]
PAGE_ROWS = 100  # A's ENVMON_API_MAX_LIMIT: B's pull goes along the next links


class _Sqlite:
    def __init__(self, home: Path):
        self.url = f"sqlite:///{home / 'warehouse.db'}"

    def __enter__(self):
        return self.url

    def __exit__(self, *_):
        return False


def _warehouse(kind: str, home: Path):
    return fresh_postgres_schema() if kind == "postgresql" else _Sqlite(home)


def _envmon(env: dict, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([ENVMON, *arguments], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr[-2000:]
    return result


def _settings(env: dict):
    from pipelines.config import load_settings

    return load_settings({"ENVMON_HOME": env["ENVMON_HOME"], "ENVMON_WAREHOUSE_URL": env["ENVMON_WAREHOUSE_URL"]})


def _populate_a(env: dict) -> None:
    from pipelines.ingest import history
    from pipelines.clock import BUREAU_TZ
    from pipelines.ingest.payloads import ingest_payload

    settings = _settings(env)
    history.backfill(SIMULATED_DAY, SIMULATED_DAY, settings, workers=0)
    ingest_payload("lab", LAB.format(nh3n="0.87").encode(), "yulin-lab-v1.csv",
                   datetime(2027, 1, 1, 9, tzinfo=BUREAU_TZ), settings)


@pytest.fixture(scope="module", params=[("postgresql", "sqlite"), ("sqlite", "postgresql")],
                ids=["A-postgresql-B-sqlite", "A-sqlite-B-postgresql"])
def instances(request, tmp_path_factory):
    """A serving its warehouse, and B with its key file: two homes, two warehouses."""
    from warehouse import db

    a_kind, b_kind = request.param
    a_home, b_home = tmp_path_factory.mktemp("partner-a"), tmp_path_factory.mktemp("partner-b")
    with _warehouse(a_kind, a_home) as a_url, _warehouse(b_kind, b_home) as b_url:
        a_env = {**os.environ, "ENVMON_HOME": str(a_home), "ENVMON_WAREHOUSE_URL": a_url,
                 "ENVMON_API_MAX_LIMIT": str(PAGE_ROWS)}
        b_env = {**os.environ, "ENVMON_HOME": str(b_home), "ENVMON_WAREHOUSE_URL": b_url}
        db.migrate(db.engine_for(a_url))
        port = free_port()
        server = start_api(a_env, port)
        try:
            _populate_a(a_env)  # while the server starts: it reads the warehouse per request
            issued = json.loads(_envmon(a_env, "apikeys", "add", B_ORGANISATION, "--scope", "city:yulin",
                                        "--json").stdout)
            key_file = b_home / "partner-yulin.key"
            key_file.write_text(f'# our key at {A_ORGANISATION}\nkey = "{issued["key"]}"\n'
                                f'organisation = "{A_ORGANISATION}"\n', encoding="utf-8")
            base = f"http://127.0.0.1:{port}/api"
            wait_until_serving(server, base)
            yield SimpleNamespace(a_env=a_env, b_env=b_env, a_url=a_url, b_url=b_url, base=base, key_file=key_file,
                                  key_id=issued["key_id"], scope=issued["scope"], pulls={})
        finally:
            server.terminate()
            server.wait(timeout=20)
            db.engine_for(a_url).dispose()
            db.engine_for(b_url).dispose()


def _rows(url: str, station_ids=None, source=None) -> pd.DataFrame:
    from sqlalchemy import select

    from warehouse import db, schema

    o = schema.observations
    query = select(*(o.c[c] for c in KEY + COMPARED + ["source", "detail"]))
    if station_ids is not None:
        query = query.where(o.c.station_id.in_(sorted(station_ids)))
    if source is not None:
        query = query.where(o.c.source == source)
    with db.engine_for(url).connect() as connection:
        frame = pd.DataFrame([dict(r) for r in connection.execute(query).mappings()])
    frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
    return frame.sort_values(KEY).reset_index(drop=True)


def _shared_water_sections(instances) -> set[str]:
    from pipelines.api import access
    from warehouse import db, queries

    stations = queries.stations(db.engine_for(instances.a_url))
    water = stations[stations["station_type"].isin(("river", "lake-reservoir"))]
    return set(access.scoped_station_ids(instances.scope, water))


def _assert_b_holds_a(instances) -> pd.DataFrame:
    """B's partner-edr rows are A's rows of the shared sections, value for value."""
    shared = _shared_water_sections(instances)
    a = _rows(instances.a_url, shared)
    b = _rows(instances.b_url, source="partner-edr")
    assert len(a) > 100 and set(b["station_id"]) == set(a["station_id"]) and set(a["station_id"]) <= shared
    joined = a.merge(b, on=KEY, how="outer", suffixes=("_a", "_b"), indicator=True)
    assert joined["_merge"].eq("both").all(), joined[joined["_merge"] != "both"][KEY + ["_merge"]].head()
    for column in COMPARED:
        mine, theirs = joined[f"{column}_a"], joined[f"{column}_b"]
        empty = mine.isna() | mine.eq(""), theirs.isna() | theirs.eq("")
        same = (mine == theirs) | (empty[0] & empty[1])
        assert same.all(), (column, joined.loc[~same, KEY + [f"{column}_a", f"{column}_b"]].head())
    provenance = [json.loads(d) for d in joined["detail_b"]]
    assert {p["partner"] for p in provenance} == {A_ORGANISATION}
    assert [p["partner_source"] for p in provenance] == list(joined["source_a"])  # A's own source, kept
    return joined


def _snapshot(url: str) -> dict[str, pd.DataFrame]:
    from warehouse import db

    engine = db.engine_for(url)
    tables = ("observations", "observation_history", "payloads", "quarantine", "partition_log", "assessments",
              "assessment_history", "rollups")
    return {name: db.read_table(engine, name).astype(str).sort_values(
        list(db.read_table(engine, name).columns)).reset_index(drop=True) for name in tables}


def _assert_same(before: dict, after: dict) -> None:
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def _pull(instances) -> dict:
    from pipelines import partner_pull

    return partner_pull.pull(instances.base, instances.key_file, _settings(instances.b_env))


# --- the two instances: each step a fixture on the one before, so no test depends on the order --------
@pytest.fixture(scope="module")
def first_pull(instances) -> dict:
    """B's first pull, by the command line."""
    result = _envmon(instances.b_env, "ingest", "--source", "partner-edr", "--url", instances.base,
                     "--key-file", str(instances.key_file), "--json")
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def revision(instances, first_pull) -> dict:
    """A revises a lab value (a second payload of the same sample); B pulls again."""
    from pipelines.clock import BUREAU_TZ
    from pipelines.ingest.payloads import ingest_payload

    at_a = ingest_payload("lab", LAB.format(nh3n="0.93").encode(), "yulin-lab-v2.csv",
                          datetime(2027, 1, 1, 10, tzinfo=BUREAU_TZ), _settings(instances.a_env))
    return {"at_a": at_a, "pull": _pull(instances)}


@pytest.fixture(scope="module")
def pulled_again(instances, revision) -> SimpleNamespace:
    """Two more pulls with nothing new at A, and B's warehouse around them."""
    before = _snapshot(instances.b_url)
    again = _pull(instances)
    after_again = _snapshot(instances.b_url)
    quiet = _pull(instances)
    return SimpleNamespace(before=before, again=again, after_again=after_again, quiet=quiet,
                           after_quiet=_snapshot(instances.b_url))


def test_b_pulls_the_shared_sections_of_a_and_holds_them_value_for_value(instances, first_pull):
    partner, totals = first_pull["partner"], first_pull["sources"]["partner-edr"]
    assert partner["organisation"] == A_ORGANISATION and partner["not_modified"] is False
    joined = _assert_b_holds_a(instances)
    assert partner["pages"] == -(-len(joined) // PAGE_ROWS) > 1  # along the next links, every page
    assert totals["read"] == totals["loaded"] == len(joined) and totals["reconciled"]
    assert len(first_pull["payloads"]) == partner["pages"]
    # censoring and the original value kept: the lab's TP below its detection limit
    tp = joined[(joined["station_id"] == "nanliu-hengtang") & (joined["parameter"] == "tp")
                & (joined["source_a"] == "lab")].iloc[0]
    assert (tp["value_b"], tp["censoring_b"], tp["original_value_b"], tp["detection_limit_b"]) == (0.01, "<", "<0.01", 0.01)
    # the watermark is on A's clock: its Last-Modified at that pull, less the overlap
    assert datetime.fromisoformat(partner["watermark"]) == \
        datetime.fromisoformat(partner["last_modified"]) - pd.Timedelta(hours=1)


def test_a_revision_reaches_b_as_a_revision_with_its_history(instances, revision):
    assert revision["at_a"]["sources"]["lab"]["revised"] == 1  # at A: the later payload wins
    assert revision["pull"]["sources"]["partner-edr"]["revised"] == 1
    _assert_b_holds_a(instances)
    history = _envmon(instances.b_env, "history", "--station", "nanliu-hengtang", "--parameter", "nh3n",
                      "--at", "2026-12-30T09:40:00+08:00").stdout
    versions = list(csv.DictReader(io.StringIO(history)))
    assert [(v["version"], float(v["value"]), v["source"]) for v in versions] == [
        ("superseded", 0.87, "partner-edr"), ("current", 0.93, "partner-edr")]
    assert float(versions[0]["superseded_by_payload_id"]) == float(versions[1]["payload_id"])
    assert versions[1]["payload_origin"].startswith(f"{instances.base}/collections/water-observations/area?")
    from warehouse import db, partner_store

    kept = partner_store.state(db.engine_for(instances.b_url), instances.base)
    assert (kept["organisation"], kept["last_status"]) == (A_ORGANISATION, "pulled")


def test_pulling_again_changes_nothing_then_a_answers_304(pulled_again):
    again, quiet = pulled_again.again, pulled_again.quiet
    # the overlap comes back: every page found held, none ingested
    assert again["partner"]["not_modified"] is False and again["payloads"] == []
    assert again["partner"]["pages"] == again["partner"]["pages_unchanged"] > 0
    _assert_same(pulled_again.before, pulled_again.after_again)
    # then the same first page as last time, asked with its ETag
    assert quiet["partner"]["not_modified"] is True and quiet["payloads"] == []
    _assert_same(pulled_again.before, pulled_again.after_quiet)


def test_a_access_log_shows_b_requests_who_what_and_rows(instances, first_pull, pulled_again):
    from warehouse import api_store, db

    log = api_store.access_log(db.engine_for(instances.a_url), instances.key_id)
    area = log[log["path"] == "/api/collections/water-observations/area"].reset_index(drop=True)
    assert set(log["organisation"]) == {B_ORGANISATION} and set(area["collection"]) == {"water-observations"}
    pages = first_pull["partner"]["pages"]
    assert list(area["status"][:pages]) == [200] * pages
    assert int(area["rows"][:pages].sum()) == first_pull["sources"]["partner-edr"]["read"]
    assert not any("changed-since" in q for q in area["query"][:pages])
    assert all("changed-since" in q for q in area["query"][pages:])  # then incremental
    assert list(area["status"])[-1] == 304  # the quiet pull: nothing new, nothing sent


# --- the pieces --------------------------------------------------------------------------------------
def test_the_key_file_takes_toml_or_the_key_alone_and_says_what_is_wrong_in_one_line(tmp_path):
    from pipelines.sources.partner_edr import PartnerError, read_key_file

    toml = tmp_path / "a.key"
    toml.write_text('key = "envmon_abc"\norganisation = "广东省生态环境监测中心"\n', encoding="utf-8")
    assert (read_key_file(toml).key, read_key_file(toml).organisation) == ("envmon_abc", "广东省生态环境监测中心")
    bare = tmp_path / "b.key"
    bare.write_text("# as envmon apikeys add printed it\nenvmon_xyz\n")
    assert (read_key_file(bare).key, read_key_file(bare).organisation) == ("envmon_xyz", None)
    for text, said in (('organisation = "x"\n', "has no key"), ("two words\n", "write key =")):
        (tmp_path / "c.key").write_text(text)
        with pytest.raises(PartnerError, match=said):
            read_key_file(tmp_path / "c.key")
    with pytest.raises(PartnerError, match="no key file"):
        read_key_file(tmp_path / "missing.key")


def test_a_partner_refusing_the_key_is_one_line_and_the_watermark_stays(tmp_path, warehouse_url):
    key = tmp_path / "k.key"
    key.write_text('key = "envmon_wrong"\norganisation = "x"\n')

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"code": "Unauthorized", "description": "unknown or revoked API key"})

    from pipelines import partner_pull
    from pipelines.config import load_settings
    from pipelines.sources.partner_edr import PartnerError
    from warehouse import db, partner_store

    settings = load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_WAREHOUSE_URL": warehouse_url})
    with pytest.raises(PartnerError, match="refused our key .401.: unknown or revoked API key"):
        partner_pull.pull("http://partner.invalid/api", key, settings, transport=httpx.MockTransport(answer))
    kept = partner_store.state(db.engine_for(warehouse_url), "http://partner.invalid/api")
    assert (kept["last_status"], kept["watermark"]) == ("failed", None)
    assert "401" in kept["last_error"]


def _page(ranges: dict, unit: str = "mg/L", station: str = "nanliu-hengtang") -> bytes:
    return json.dumps({"type": "CoverageCollection", "parameters": {"nh3n": {"unit": {"symbol": unit}}},
                       "coverages": [{"type": "Coverage", "envmon:station_id": station, "envmon:source": "lab",
                                      "domain": {"axes": {"t": {"values": ["2026-12-30T01:40:00Z"]}}},
                                      "ranges": ranges}]}).encode()


def test_the_parser_keeps_what_it_can_and_quarantines_each_value_it_cannot_with_its_reason():
    from pipelines.clock import BUREAU_TZ
    from pipelines.sources.partner_edr import parse

    at = datetime(2027, 1, 1, tzinfo=BUREAU_TZ)

    def one(values: dict) -> dict:
        return {key: {"type": "NdArray", "values": [value]} for key, value in values.items()}

    good = parse(_page(one({"nh3n": 0.5, "nh3n.qc_flag": "suspect", "nh3n.qc_note": "spike",
                            "nh3n.original_value": "0.50"})), at, "广东站.page0001.covjson")
    row = good.observations.iloc[0]
    assert (row["value"], row["qc_flag"], row["qc_note"], row["original_value"], row["averaging_period"]) == \
        (0.5, "suspect", "spike", "0.50", "PT0S")
    assert json.loads(row["detail"]) == {"partner": "广东站", "partner_qc_flag": "suspect", "partner_source": "lab"}
    assert row["observed_at"] == pd.Timestamp("2026-12-30T01:40:00Z")
    withdrawn = parse(_page(one({"nh3n": 0.5, "nh3n.qc_flag": "withdrawn"})), at, "x.page0001.covjson")
    assert withdrawn.observations.empty and list(withdrawn.rejected["rule"]) == ["partner_qc_flag"]
    other_unit = parse(_page(one({"nh3n": 500.0}), unit="µg/L"), at, "x.page0001.covjson")
    assert list(other_unit.rejected["rule"]) == ["partner_unit"]
    assert "where the warehouse keeps nh3n in mg/L" in other_unit.rejected["reason"].iloc[0]
    elsewhere = parse(_page(one({"nh3n": 0.5}), station="shijiao-guangdong-not-ours"), at, "x.page0001.covjson")
    assert (elsewhere.out_of_scope, len(elsewhere.observations), elsewhere.reconciled) == (1, 0, True)


def test_the_collection_dag_pulls_each_partner_of_the_partners_file(monkeypatch, tmp_path):
    partners = tmp_path / "partners.toml"
    partners.write_text('[[partner]]\nurl = "https://gd.example/api"\nkey_file = "gd.key"\n'
                        '[[partner]]\nurl = "https://vn.example/open/api"\nkey_file = "/run/secrets/vn.key"\n')
    monkeypatch.setenv("ENVMON_PARTNERS", str(partners))
    from airflow.dag_processing.dagbag import DagBag

    from pipelines.runner import DAGS_FOLDER

    bag = DagBag(dag_folder=str(Path(DAGS_FOLDER) / "envmon_collect_partners.py"))
    assert bag.import_errors == {}
    dag = bag.dags["envmon_collect_partner_edr"]
    assert dag.timetable.expression == "40 * * * *" and dag.catchup is False and dag.max_active_runs == 1
    assert sorted(dag.task_ids) == ["pull_gd_example_api", "pull_vn_example_open_api"]
    for task in dag.tasks:
        assert task.retries >= 1 and task.execution_timeout is not None
        assert [o.uri for o in task.outlets] == ["envmon://sources/partner-edr"]
    from pipelines.partners import partners as listed

    assert [p["key_file"] for p in listed(partners)] == [tmp_path / "gd.key", Path("/run/secrets/vn.key")]
    monkeypatch.delenv("ENVMON_PARTNERS")
    assert "envmon_collect_partner_edr" not in DagBag(dag_folder=str(Path(DAGS_FOLDER) / "envmon_collect_partners.py")).dags
