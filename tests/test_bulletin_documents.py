"""Bulletins issued like documents, and Data Docs on every validation path (issue 25).

The hand-worked June 2025 of tests/test_reports.py is issued by the monthly refresh on 2025-07-03:
- editing a recipient's e-mail address in bureaus.csv issues nothing again (the old fingerprint
  hashed every file of pipelines/reference/data);
- 高塘's TP arriving late (0.12 mg/L on June 5) makes it complete at Ⅲ: the next morning issues
  revision 2, announced to every recipient with the rows that changed (表1 高塘: its class, verdict
  and note), and both revisions rebuild from their manifests byte for byte (XLSX, HTML), r1 from
  the rows it read although the warehouse now holds the late value;
- the same late value arriving in November, past the three months' re-check window, raises one
  notice that June's bulletin is out of date, and the nights after raise none;
- the app lists and serves the issues by role: a city bureau never gets another city's file;
- `envmon ingest` of a file writes its Data Docs where the app's /data-docs/ serves them.
"""
import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.reports import issues, publish
from tests.test_reports import make_warehouse, sheet
from warehouse import db, schema

ENVMON = str(Path(sys.executable).parent / "envmon")
LATE_TP = ("sample_id,section_id,sampled_at,lab,parameter,result,unit,detection_limit,method\n"
           "QZ-2025-0605-07,dafeng-gaotang,2025-06-05 10:00,钦州市环境监测站,tp,0.12,mg/L,,GB 11893-1989\n")


def _settings(tmp_path: Path, url: str | None = None):
    url = url or f"sqlite:///{tmp_path / 'warehouse.db'}"
    make_warehouse(url)
    return load_settings({"ENVMON_WAREHOUSE_URL": url, "ENVMON_HOME": str(tmp_path / "home")})


def _late_tp(settings, when: datetime) -> dict:
    from pipelines.ingest.payloads import ingest_payload

    summary = ingest_payload("lab", LATE_TP.encode(), "late-tp.csv", when, settings)
    assert summary["sources"]["lab"]["loaded"] == 1
    return summary


def _notices(settings, kind: str) -> list[dict]:
    engine = db.engine_for(settings.warehouse_url)
    with engine.connect() as connection:
        rows = connection.execute(select(schema.alert_notices).where(schema.alert_notices.c.category == "document",
                                                                     schema.alert_notices.c.kind == kind))
        return [dict(r) for r in rows.mappings()]


def _deliveries(settings, notice_id: int) -> list[dict]:
    engine = db.engine_for(settings.warehouse_url)
    with engine.connect() as connection:
        rows = connection.execute(select(schema.alert_deliveries).where(
            schema.alert_deliveries.c.notice_id == notice_id))
        return [dict(r) for r in rows.mappings()]


@pytest.fixture(scope="module")
def reissued(tmp_path_factory):
    """June issued on 2025-07-03 (r1), 高塘's TP in late on 07-04, June issued again on 07-05 (r2)."""
    settings = _settings(tmp_path_factory.mktemp("reissued"))
    first = publish.refresh_bulletins(date(2025, 7, 3), settings)
    r1 = publish.read_manifest(settings, "bulletin", "2025-06")
    _late_tp(settings, datetime(2025, 7, 4, 9, tzinfo=BUREAU_TZ))
    second = publish.refresh_bulletins(date(2025, 7, 5), settings)
    return {"settings": settings, "first": first, "second": second, "r1": r1,
            "r2": publish.read_manifest(settings, "bulletin", "2025-06")}


# --- the fingerprint covers what the bulletin reads ----------------------------------------------

def test_editing_a_recipients_address_issues_nothing_again(reissued, tmp_path, monkeypatch):
    from pipelines.reference import registry, standards

    settings = reissued["settings"]
    issued = publish.read_manifest(settings, "bulletin", "2025-06")
    before = publish.build_bulletin(issued_month(), settings=settings).fingerprint
    assert before == issued["fingerprint"]
    notices = len(_notices(settings, "reissued"))
    # 钦州's duty address changes in bureaus.csv (a copy of the data folder, as the files are read)
    data = tmp_path / "data"
    shutil.copytree(standards.DATA_DIR, data)
    bureaus = (data / "bureaus.csv").read_text(encoding="utf-8")
    assert "duty-qinzhou@bureaus.envmon.example" in bureaus
    (data / "bureaus.csv").write_text(bureaus.replace("duty-qinzhou@bureaus.envmon.example",
                                                      "zhiban@qinzhou.example.cn"), encoding="utf-8")
    monkeypatch.setattr(standards, "DATA_DIR", data)
    monkeypatch.setattr(registry, "DATA_DIR", data)
    registry.bureaus.cache_clear()
    try:
        assert registry.bureaus().loc["qinzhou", "email"] == "zhiban@qinzhou.example.cn"
        assert publish.build_bulletin(issued_month(), settings=settings).fingerprint == before
        outcome = publish.refresh_bulletins(date(2025, 7, 6), settings)
    finally:
        registry.bureaus.cache_clear()
    assert outcome["2025-06"] == "unchanged" and set(outcome.values()) == {"unchanged"}, outcome
    folder = publish.folder(settings, "bulletin", "2025-06")
    assert len(list((folder / "superseded").glob("*/manifest.json"))) == 1   # r1 alone, from the data change
    assert publish.read_manifest(settings, "bulletin", "2025-06") == issued
    assert len(_notices(settings, "reissued")) == notices


def issued_month():
    from pipelines.reports.reading import Month

    return Month(2025, 6)


# --- a re-issue: numbered, announced with what changed, rebuilt -----------------------------------

def test_a_data_change_in_the_month_issues_revision_2_with_a_notice_of_what_changed(reissued):
    settings, r1, r2 = reissued["settings"], reissued["r1"], reissued["r2"]
    assert reissued["first"] == {"2025-06": "issued"} and reissued["second"] == {"2025-06": "reissued"}
    assert r1["issue"]["id"] == "bulletin-2025-06-region-r1" and r1["issue"]["number"] == "2025年第6期"
    assert r2["issue"]["id"] == "bulletin-2025-06-region-r2" and r2["issue"]["number"] == "2025年第6期（第2版）"
    assert r2["issue"]["supersedes"] == "bulletin-2025-06-region-r1"
    assert r1["data_version"] != r2["data_version"]
    # the manifest says what the issue was made with
    assert set(r2["rule_versions"]) == {"surface_water", "seawater", "air"}
    assert r2["rule_versions"]["surface_water"].startswith("surface_water@")
    assert {"envmon", "envmon_code", "pandas", "openpyxl", "weasyprint", "fonts"} <= set(r2["versions"])
    assert any(font["file"].endswith((".ttc", ".ttf", ".otf")) and len(font["sha256"]) == 64
               for font in r2["versions"]["fonts"])
    folder = publish.folder(settings, "bulletin", "2025-06")
    header = {r[0]: r[1] for r in __import__("openpyxl").load_workbook(folder / "envmon-bulletin-2025-06.xlsx")
              ["报告说明"].iter_rows(min_row=3, values_only=True) if r[0]}
    assert header["期号 (issue)"] == "2025年第6期（第2版） · bulletin-2025-06-region-r2"
    # one notice, to every recipient of the region's bulletin, naming the rows and columns that changed
    (notice,) = _notices(settings, "reissued")
    assert notice["subject_id"] == "bulletin-2025-06-region-r2"
    facts = json.loads(notice["facts"])
    surface = next(c for c in facts["changes"] if c["table"].startswith("表1 "))
    assert surface["changed"] == [{"row": "高塘", "columns": ["本月水质类别", "是否达标", "备注"]}]
    assert not surface["added"] and not surface["removed"]
    summary = next(c for c in facts["changes"] if c["table"].startswith("表1-2 "))
    assert {c["row"] for c in summary["changed"]} == {"钦州市", "北海市"}
    untouched = ("跨界", "饮用水", "近岸海域", "空气", "登记册")
    assert not [c for c in facts["changes"] if any(word in c["table"] for word in untouched)]
    from pipelines.alerts import messages, routing

    text = messages.render(facts, "zh").text
    assert "2025年第6期（第2版）" in text and "高塘（本月水质类别、是否达标、备注）" in text
    everyone = {r.recipient_id for r in routing.load(settings.alert_routing).recipients if r.receives == "all"}
    assert {d["recipient_id"] for d in _deliveries(settings, notice["notice_id"])} == everyone
    # r1 is kept as issued
    (kept,) = list((folder / "superseded").glob("*/manifest.json"))
    assert json.loads(kept.read_text(encoding="utf-8"))["issue"]["id"] == "bulletin-2025-06-region-r1"


def test_each_revision_rebuilds_from_its_manifest_byte_for_byte(reissued):
    settings = reissued["settings"]
    # r1 read 高塘 without TP; the warehouse now holds it: the rebuild reads the rows the issue kept
    outcome = issues.rebuild(settings, "bulletin-2025-06-region-r1", formats=("xlsx", "html"))
    assert outcome.formats == {"xlsx": "identical", "html": "identical"}, outcome.as_dict()
    assert outcome.inputs == {"data_version": "same", "rules": "same", "registry": "same"}
    assert outcome.changes == [] and outcome.identical
    # r2 from the command line, the PDF by its text
    env = {"ENVMON_HOME": str(settings.home), "ENVMON_WAREHOUSE_URL": settings.warehouse_url, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([ENVMON, "report", "rebuild", "bulletin-2025-06-region-r2", "--json"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr + result.stdout
    answer = json.loads(result.stdout)
    assert answer["identical"] and answer["formats"]["xlsx"] == answer["formats"]["html"] == "identical"
    assert answer["inputs"] == {"data_version": "same", "rules": "same", "registry": "same"}
    assert answer["formats"]["pdf"] in ("identical", "text identical")
    bad = subprocess.run([ENVMON, "report", "rebuild", "bulletin-2025-06-region-r9"], capture_output=True,
                         text=True, env=env, timeout=600)
    assert bad.returncode == 2 and "no issue bulletin-2025-06-region-r9" in bad.stderr


def test_a_rebuild_that_differs_says_so(reissued, tmp_path):
    """A stored issue whose recorded XLSX digest is not what its rows give: reported, not hidden."""
    settings = reissued["settings"]
    path, record = issues.find(settings, "bulletin-2025-06-region-r2")
    home = tmp_path / "home"
    shutil.copytree(settings.home / "reports", home / "reports")
    copy = home / path.relative_to(settings.home)
    record["files"]["xlsx"]["sha256"] = "0" * 64
    copy.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    other = load_settings({"ENVMON_WAREHOUSE_URL": settings.warehouse_url, "ENVMON_HOME": str(home)})
    outcome = issues.rebuild(other, "bulletin-2025-06-region-r2", formats=("xlsx", "html"))
    assert outcome.formats == {"xlsx": "differs", "html": "identical"} and not outcome.identical


def test_an_issue_rebuilds_at_the_scope_it_was_issued_at_whatever_envmon_scope_is_now(reissued, tmp_path,
                                                                                      monkeypatch):
    """The region's bulletin is another document at national scope (pipelines/reports/national.py):
    a rebuild takes the scope from the manifest (no key: beibu, as before issue 27), not ENVMON_SCOPE,
    and an issue at the other scope is the next revision, with its scope recorded."""
    settings = reissued["settings"]
    assert reissued["r2"][issues.SCOPE_KEY] == "beibu"
    # a copy of the home and warehouse: the national re-issue below must not touch the module's issues
    home = tmp_path / "home"
    shutil.copytree(settings.home / "reports", home / "reports")
    warehouse = tmp_path / "warehouse.db"
    with sqlite3.connect(settings.warehouse_url.removeprefix("sqlite:///")) as source, \
            sqlite3.connect(warehouse) as copy:
        source.backup(copy)
    other = load_settings({"ENVMON_WAREHOUSE_URL": f"sqlite:///{warehouse}", "ENVMON_HOME": str(home)})
    path, record = issues.find(other, "bulletin-2025-06-region-r2")
    del record[issues.SCOPE_KEY]   # as a manifest written before the key
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("ENVMON_SCOPE", "national")
    outcome = issues.rebuild(other, "bulletin-2025-06-region-r2", formats=("xlsx", "html"))
    assert outcome.formats == {"xlsx": "identical", "html": "identical"}, outcome.as_dict()
    # issued again at national scope, no month touched since: the country's summary, the next revision
    assert publish.refresh("bulletin", "2025-06", other, touched=set()) == "reissued"
    r3 = publish.read_manifest(other, "bulletin", "2025-06")
    assert r3["issue"]["id"] == "bulletin-2025-06-region-r3" and r3[issues.SCOPE_KEY] == "national"
    assert r3["scope"] != record["scope"]
    monkeypatch.setenv("ENVMON_SCOPE", "beibu")
    outcome = issues.rebuild(other, "bulletin-2025-06-region-r3", formats=("xlsx", "html"))
    assert outcome.formats == {"xlsx": "identical", "html": "identical"}, outcome.as_dict()
    assert issues.rebuild(other, "bulletin-2025-06-region-r2", formats=("xlsx", "html")).identical


# --- late data past the window ----------------------------------------------------------------------

def test_late_data_past_the_window_raise_one_notice_that_the_issue_is_out_of_date(tmp_path, warehouse_url):
    settings = _settings(tmp_path, warehouse_url)   # SQLite and PostgreSQL
    assert publish.refresh_bulletins(date(2025, 7, 3), settings) == {"2025-06": "issued"}
    assert publish.refresh_bulletins(date(2025, 11, 2), settings) == {"2025-10": "no data"}
    _late_tp(settings, datetime(2025, 11, 2, 9, tzinfo=BUREAU_TZ))
    # June is past the window (October, September, August, July): told, not issued again
    assert publish.refresh_bulletins(date(2025, 11, 3), settings) == {"2025-10": "no data", "2025-06": "out of date"}
    (notice,) = _notices(settings, "out_of_date")
    facts = json.loads(notice["facts"])
    assert notice["subject_id"] == "bulletin-2025-06-region-r1" and facts["months"] == ["2025-06"]
    assert facts["command"] == "envmon bulletin --month 2025-06"
    assert publish.read_manifest(settings, "bulletin", "2025-06")["issue"]["revision"] == 1
    # the nights after: nothing new, then another late value of June: still the one notice
    assert publish.refresh_bulletins(date(2025, 11, 4), settings) == {"2025-10": "no data"}
    _late_tp(settings, datetime(2025, 11, 4, 9, tzinfo=BUREAU_TZ))
    publish.refresh_bulletins(date(2025, 11, 5), settings)
    assert len(_notices(settings, "out_of_date")) == 1
    assert not _notices(settings, "reissued")


# --- the app ----------------------------------------------------------------------------------

def test_the_app_lists_and_serves_the_issues_by_role(reissued, tmp_path):
    from dashboards.app import create_app, users
    from tests import dashboard_app_fixture as fixture
    from tests.test_dashboard_app import route
    from tests.test_scanner import heading_findings, text_findings

    settings = reissued["settings"]
    document = publish.build_bulletin(issued_month(), "qinzhou", settings)
    publish.write(document, ("xlsx", "html"), settings, city="qinzhou")
    users_path = tmp_path / "users.json"
    password = "correct horse battery"
    users.add_user(users_path, "region", password, "regional", "gx-dept")
    users.add_user(users_path, "qinzhou", password, "city", "qinzhou")
    users.add_user(users_path, "nanning", password, "city", "nanning")
    app = create_app(settings.warehouse_url, users_path, settings.home, secret_key="test", cache_seconds=0)
    clients = {}
    for name in ("region", "qinzhou", "nanning"):
        clients[name] = app.server.test_client()
        assert fixture.sign_in(clients[name], name, password).status_code == 302
    city_issue = "bulletin-2025-06-qinzhou-r1"
    region_issue = "bulletin-2025-06-region-r2"
    pages = {name: route(client, "/documents") for name, client in clients.items()}
    assert city_issue in pages["region"] and city_issue in pages["qinzhou"] and city_issue not in pages["nanning"]
    assert all(region_issue in page and "bulletin-2025-06-region-r1" in page for page in pages.values())
    for lang in ("zh", "en"):   # tests/test_scanner.py's rules on the words a person reads
        words = _shown_texts(json.loads(route(clients["qinzhou"], "/documents", "?lang=en" if lang == "en" else "")))
        assert "2025年第6期（第2版）" in words and ("Documents" if lang == "en" else "印发文件") in words
        assert not [f for w in words for f in text_findings(f"/documents ({lang})", w)]
        assert not [f for w in words for f in heading_findings(f"/documents ({lang})", w, lang)
                    if "field name" in f]
    city_xlsx = publish.folder(settings, "bulletin", "2025-06") / "envmon-bulletin-2025-06-qinzhou.xlsx"
    answer = clients["qinzhou"].get(f"/issued/{city_issue}.xlsx")
    assert answer.status_code == 200 and answer.data == city_xlsx.read_bytes()
    assert sheet(answer.data, "地表水断面")["钦江东"]["本月水质类别"] == "Ⅲ"
    assert clients["nanning"].get(f"/issued/{region_issue}.pdf").status_code == 200
    # another city's issue, by any address: nothing
    for address in (f"/issued/{city_issue}.xlsx", f"/issued/{city_issue}.html", f"/issued/{city_issue}.pdf",
                    "/issued/bulletin-2025-06-qinzhou-r1.XLSX", "/issued/bulletin-2025-06-qinzhou-r1.json",
                    "/issued/bulletin-2025-06-qinzhou-r01.xlsx", "/issued/bulletin-2025-06-region-r1-qinzhou.xlsx"):
        refused = clients["nanning"].get(address)
        assert refused.status_code == 404 and refused.data != city_xlsx.read_bytes(), address
    # a path out of the route (%2F is a slash to the router) reaches no file of the reports either
    escaped = clients["nanning"].get("/issued/..%2Freports%2Fbulletins%2F2025-06%2Fmanifest-qinzhou.json")
    assert b'"fingerprint"' not in escaped.data and escaped.data != city_xlsx.read_bytes()
    assert clients["region"].get(f"/issued/{city_issue}.xlsx").status_code == 200
    assert app.server.test_client().get(f"/issued/{region_issue}.xlsx").status_code == 401   # signed out


def _shown_texts(node) -> list[str]:
    """The texts of a Dash answer's components (their `children` strings)."""
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key == "children" and isinstance(value, str):
                found.append(value)
            else:
                found += _shown_texts(value)
        return found
    if isinstance(node, list):
        return [text for item in node for text in (_shown_texts(item) if not isinstance(item, str) else [item])]
    return []


# --- Data Docs on the payload paths ---------------------------------------------------------------

def test_envmon_ingest_of_a_file_writes_its_data_docs_where_the_app_serves_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    make_warehouse(url)
    docs = tmp_path / "shared" / "data_docs"   # the shared storage's (pipelines/storage.py), not the home's
    payload = tmp_path / "late-tp.csv"
    payload.write_text(LATE_TP, encoding="utf-8")
    env = {"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_WAREHOUSE_URL": url, "PATH": "/usr/bin:/bin",
           "ENVMON_STORAGE_URL": str(tmp_path / "shared")}
    result = subprocess.run([ENVMON, "ingest", "--source", "lab", "--file", str(payload), "--json"], capture_output=True,
                            text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    sites = [p for p in docs.glob("*/lab-*") if (p / "index.html").exists()]
    assert len(sites) == 1, list(docs.rglob("index.html"))
    pages = list((sites[0] / "validations").rglob("*.html"))
    assert pages and "envmon_water_observations" in pages[0].read_text(encoding="utf-8")
    assert (sites[0] / "static").is_symlink()   # the 7 MB of assets shared, not copied per batch
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert f'href="{sites[0].parent.name}/{sites[0].name}/index.html"' in index
    seconds = json.loads(result.stdout)["seconds"]   # the cost per batch, measured beside the validation's
    assert 0 < seconds["data_docs"] < 5.0, seconds
