"""A verdict against an assumed target says so wherever it appears, and a section without a target
has no verdict (issue 23): the app's pages and downloads, the static dashboard, the bulletin and the
annual report, the alert notices, the exports; and the Registry page, for regional users only.

Hand-made section-days in the dashboard fixture's warehouse (tests/dashboard_app_fixture.py):
鼠岭(文车桥) (jiuzhou-wenchequiao) fails its target Ⅲ on the last ten days (ammonia 1.62 mg/L, Ⅴ)
and its target is marked ASSUMED; 东兴 (beilun-dongxing) is class Ⅱ against an OFFICIAL target Ⅲ;
横塘 (nanliu-hengtang) has its target UNSET and its last day made class Ⅴ: a class, never 未达标.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import insert, update

from dashboards.app import create_app, users
from pipelines import display
from tests import dashboard_app_fixture as fixture
from warehouse import db, queries, schema

PASSWORD = "correct horse battery"
ASSUMED, OFFICIAL, UNSET = fixture.FAILING, fixture.STEADY, "nanliu-hengtang"
ASSUMED_FAILED_ZH, ASSUMED_FAILED_EN = "未达标（目标为假定）", "failed (assumed target)"


def _mark(engine) -> None:
    a = schema.assessments
    with engine.begin() as connection:
        connection.execute(update(a).where(a.c.station_id == ASSUMED).values(target_status="assumed"))
        connection.execute(update(a).where(a.c.station_id == OFFICIAL).values(target_status="official"))
        connection.execute(update(a).where(a.c.station_id == UNSET).values(  # as the assessment stores it
            target_status="unset", target_class=None, is_compliant=None, status="target unset"))
        connection.execute(update(a).where(a.c.station_id == UNSET, a.c.period == "day",
                                           a.c.period_start == fixture.END).values(water_class="Ⅴ"))


def _registry(engine) -> None:
    """Two registry versions (the seed, then a bureau's list), targets in force by period, and a
    section the feed publishes that the registry lacks (叮当, 武鸣河)."""
    applied = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
    with engine.begin() as connection:
        first = connection.execute(insert(schema.registry_versions).values(
            applied_at=applied - timedelta(days=30), applied_by="envmon", kind="seed",
            source_document="仓库自带登记表 sections.csv", valid_from=None, summary="{}")).inserted_primary_key[0]
        second = connection.execute(insert(schema.registry_versions).values(
            applied_at=applied, applied_by="李工", kind="import", source_document="桂环函〔2026〕88号 附件2",
            valid_from=date(2026, 1, 1), summary="{}")).inserted_primary_key[0]
        t = schema.section_targets
        mine = (ASSUMED, OFFICIAL, UNSET)
        connection.execute(update(t).where(t.c.section_id.in_(mine), t.c.superseded_in_version.is_(None))
                           .values(superseded_in_version=second))
        connection.execute(insert(t), [
            {"section_id": ASSUMED, "target_class": "Ⅲ", "valid_from": date(2015, 1, 1), "valid_to": None,
             "basis": "ASSUMED: 默认Ⅲ类", "source_document": "none", "status": "assumed", "version_id": first},
            {"section_id": OFFICIAL, "target_class": "Ⅲ", "valid_from": date(2026, 1, 1), "valid_to": None,
             "basis": "目标责任书", "source_document": "桂环函〔2026〕88号 附件2", "status": "official",
             "version_id": second},
            {"section_id": UNSET, "target_class": None, "valid_from": date(2026, 1, 1), "valid_to": None,
             "basis": "adopted", "source_document": "none", "status": "unset", "version_id": second}])
        connection.execute(insert(schema.unknown_stations).values(
            source="cnemc-water", station_key="叮当|武鸣河", name_zh="叮当", city="南宁市", water_body="武鸣河",
            city_basis="feed", first_seen_at=applied, first_payload_id=None, last_seen_at=applied,
            last_payload_id=None, payloads_seen=3, values_seen=21))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    home = tmp_path_factory.mktemp("assumed-targets")
    url = f"sqlite:///{home / 'warehouse.db'}"
    facts = fixture.build(url, home)
    engine = db.engine_for(url)
    _mark(engine)
    _registry(engine)
    users_path = home / "users.json"
    users.add_user(users_path, "region", PASSWORD, "regional", "gx-dept")
    users.add_user(users_path, "nanning", PASSWORD, "city", "nanning")
    users.add_user(users_path, "yulin", PASSWORD, "city", "yulin")
    app = create_app(url, users_path, home, secret_key="test", cache_seconds=0)
    return {"url": url, "home": home, "engine": engine, "app": app, **facts}


def login(app, name: str):
    """Log in as a browser does: the login form's CSRF token sent back where the app has one."""
    client = app.server.test_client()
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"', form)
    data = {"username": name, "password": PASSWORD}
    if token:
        data["csrf_token"] = token.group(1) or token.group(2)
    assert client.post("/login", data=data).status_code == 302
    return client


def _csrf_headers(client) -> dict:
    cookie = client.get_cookie("_csrf_token") if hasattr(client, "get_cookie") else None
    return {"X-CSRFToken": cookie.value} if cookie is not None else {}


def download(client, path: str) -> list[dict]:
    answer = client.get(path)
    assert answer.status_code == 200, path
    return list(csv.DictReader(io.StringIO(answer.get_data().decode("utf-8-sig"))))


def _texts(node) -> list[str]:
    """Every string a Dash answer carries (children, table cells, labels)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [t for value in node.values() for t in _texts(value)]
    if isinstance(node, list):
        return [t for value in node for t in _texts(value)]
    return []


def shown(text: str, words: str) -> bool:
    """Whether a page or figure says `words` (Dash and Plotly write non-ASCII text as JSON escapes)."""
    return words in text or json.dumps(words)[1:-1] in text


def route(client, path: str, search: str = "") -> str:
    body = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
            "inputs": [{"id": "url", "property": "pathname", "value": path}],
            "state": [{"id": "url", "property": "search", "value": search}], "changedPropIds": ["url.pathname"]}
    client.get("/")  # the page load that sets the CSRF cookie a callback sends back
    answer = client.post("/_dash-update-component", json=body, headers=_csrf_headers(client))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return answer.get_data(as_text=True)


# --- the one wording ---------------------------------------------------------------------------

def test_the_wording_says_assumed_and_unset_and_leaves_official_alone():
    assert display.verdict_text(False, "zh", "assessed", "assumed") == ASSUMED_FAILED_ZH
    assert display.verdict_text(True, "zh", "assessed", "assumed") == "达标（目标为假定）"
    assert display.verdict_text(True, "en", "assessed", "assumed") == "compliant (assumed target)"
    assert display.verdict_text(False, "en", "assessed", "assumed") == ASSUMED_FAILED_EN
    assert display.verdict_text(False, "zh", "assessed", "official") == "未达标"
    assert display.verdict_text(False, "zh", "assessed", "unset") == "目标未定"
    assert display.class_and_verdict("Ⅴ", None, "zh", "assessed", "unset") == "Ⅴ · 目标未定"
    assert display.class_and_verdict("Ⅴ", None, "en", "target unset") == "Ⅴ · target not set"
    assert display.verdict_text(None, "zh", "insufficient data", "assumed") == "数据不足"  # no verdict to qualify


# --- the app -----------------------------------------------------------------------------------

def _cross_rows(client, lang: str = "zh") -> dict[str, dict]:
    rows = download(client, "/download/overview/cross.csv" + ("?lang=en" if lang == "en" else ""))
    key = "断面编号" if lang == "zh" else "Section ID"
    return {row[key]: row for row in rows}


def test_the_overview_says_a_failure_is_against_an_assumed_target(warehouse):
    client = login(warehouse["app"], "region")
    rows = _cross_rows(client)
    assert rows[ASSUMED]["状态"] == f"{ASSUMED_FAILED_ZH} · {fixture.END}"
    assert rows[ASSUMED]["目标"] == "Ⅲ（假定）"
    assert rows[OFFICIAL]["状态"] == f"达标 · {fixture.END}" and rows[OFFICIAL]["目标"] == "Ⅲ"
    assert rows[UNSET]["类别"] == "Ⅴ" and rows[UNSET]["状态"].startswith("目标未定")
    assert "未达标" not in rows[UNSET]["状态"]
    english = _cross_rows(client, "en")
    assert english[ASSUMED]["Status"].startswith(ASSUMED_FAILED_EN)


def test_the_section_page_and_the_cross_boundary_board_say_it_too(warehouse):
    client = login(warehouse["app"], "region")
    daily = download(client, f"/download/section/daily.csv?section={ASSUMED}")
    newest = next(row for row in daily if row["日期"] == str(fixture.END))
    assert newest["状态"] == ASSUMED_FAILED_ZH
    unset = download(client, f"/download/section/daily.csv?section={UNSET}")
    assert {row["状态"] for row in unset} == {"目标未定"}
    board = {row["section_id"]: row for row in download(client, "/download/cross-boundary/board.csv")}
    assert "（目标为假定）" in board[ASSUMED]["类别"]
    assert "假定" not in board[OFFICIAL]["类别"] and "目标未定" in board[UNSET]["类别"]


def test_the_static_dashboard_says_it(warehouse, tmp_path):
    from dashboards import report

    page = report.write_report(warehouse["engine"], tmp_path, "measured").read_text(encoding="utf-8")
    assert shown(page, ASSUMED_FAILED_ZH) and shown(page, "目标未定")


# --- exports -----------------------------------------------------------------------------------

def test_the_assessments_export_has_a_target_status_column_after_the_columns_it_had(warehouse):
    from pipelines.cli import exports

    frame = exports.export_frame(warehouse["engine"], "assessments")
    before = ["station_id", "station_name", "period", "period_start", "domain", "standard", "water_class",
              "target_class", "is_compliant", "grade", "indicators_assessed", "failing_parameters", "values_used",
              "is_cross_boundary", "status", "aqi", "primary_pollutants", "rule_version"]
    assert list(frame.columns) == [*before, "target_status"]
    by_station = frame.groupby("station_id")["target_status"].agg(lambda s: set(s))
    assert by_station[ASSUMED] == {"assumed"} and by_station[OFFICIAL] == {"official"}
    assert by_station[UNSET] == {"unset"}
    air = frame[frame["domain"] == "air"]["target_status"]
    assert air.map(display.is_missing).all()  # air has no target: an empty cell
    history = exports.export_frame(warehouse["engine"], "assessment-history")
    assert list(history.columns)[-1] == "target_status"


def test_a_row_from_before_target_status_tells_the_registrys_status(warehouse, monkeypatch):
    from pipelines import target_status

    monkeypatch.setattr(target_status, "registry_status",
                        lambda section_id, day: "assumed" if section_id == "yongjiang-laokou" else None)
    rows = queries.assessments_between(warehouse["engine"], fixture.END, fixture.END, ("yongjiang-laokou", "1401A"))
    statuses = dict(zip(rows["station_id"], rows["target_status"]))
    assert statuses["yongjiang-laokou"] == "assumed" and display.is_missing(statuses["1401A"])


# --- notices -----------------------------------------------------------------------------------

def _facts(status: str | None) -> dict:
    facts = {"category": "section", "kind": "opened", "section_id": ASSUMED, "episode_id": 7,
             "opened_on": "2026-11-11", "last_failed_on": "2026-11-20", "resolved_on": None, "resolution": None,
             "worst_class": "Ⅴ", "target_class": "Ⅲ", "days_failed": 10,
             "items": [{"parameter": "nh3n", "value": 1.62, "class": "Ⅴ", "multiple_vs_target": 0.62,
                        "basis": "day", "day": "2026-11-20"}],
             "bases": ["day"], "day": "2026-11-11", "data_label": "measured", "resolve_after": 3,
             "escalate_after_hours": 24.0}
    return facts if status is None else {**facts, "target_status": status}


def test_a_notice_of_a_failure_against_an_assumed_target_says_so(warehouse):
    from pipelines.alerts import messages, sections

    with warehouse["engine"].connect() as connection:
        episode = {"section_id": ASSUMED, "opened_on": fixture.END - timedelta(days=9), "last_failed_on": fixture.END}
        assert sections.episode_target_status(connection, episode) == "assumed"
        assert sections.episode_target_status(connection, {**episode, "section_id": OFFICIAL}) == "official"
    zh, en = messages.render(_facts("assumed"), "zh"), messages.render(_facts("assumed"), "en")
    assert "目标 Ⅲ（假定）" in zh.subject and ASSUMED_FAILED_ZH in zh.text and "假定" in "".join(zh.markdown_lines)
    assert "target Ⅲ (assumed)" in en.subject and ASSUMED_FAILED_EN in en.text and "assumed" in en.html
    official = messages.render(_facts("official"), "zh")
    assert "假定" not in official.subject and "目标为假定" not in official.text


# --- the Registry page -------------------------------------------------------------------------

def test_the_registry_page_shows_the_version_in_force_its_history_and_what_is_assumed(warehouse):
    client = login(warehouse["app"], "region")
    page = route(client, "/registry")
    assert shown(page, "桂环函〔2026〕88号 附件2") and shown(page, "李工") and '"data-version":"' in page.replace(" ", "")
    history = download(client, "/download/registry/history.csv")
    assert [row["版本类型"] for row in history][:2] == ["导入正式名录", "初始登记（仓库自带）"]
    assumed = {row["断面编号"]: row for row in download(client, "/download/registry/assumed.csv")}
    assert assumed[ASSUMED]["目标状态"] == "假定目标" and assumed[ASSUMED]["目标"] == "Ⅲ（假定）"
    assert assumed[UNSET]["目标状态"] == "目标未定" and OFFICIAL not in assumed
    unknown = download(client, "/download/registry/unknown.csv?lang=en")
    assert [(row["Name"], row["Water body"]) for row in unknown] == [("叮当", "武鸣河")]
    english = route(client, "/registry", "?lang=en")
    assert "Registry version in force" in english
    assert not [text for text in _texts(json.loads(english)) if re.search(r"\b(nan|None|NaT|null)\b", text)]


def test_a_city_user_gets_no_registry_page_link_or_download(warehouse):
    client = login(warehouse["app"], "nanning")
    page = route(client, "/registry")
    assert '"forbidden"' in page and not shown(page, "桂环函") and "nav-registry" not in page
    assert client.get("/download/registry/history.csv").status_code == 404
    assert client.get("/download/registry/assumed.csv").status_code == 404
    assert "nav-registry" in route(login(warehouse["app"], "region"), "/")


@pytest.mark.parametrize("engine_kind", ["sqlite", "postgresql"])
def test_targets_in_force_follow_their_periods(engine_kind, request, tmp_path):
    from pipelines import nightly
    from pipelines.config import load_settings

    url = (f"sqlite:///{tmp_path / 'w.db'}" if engine_kind == "sqlite" else request.getfixturevalue("postgres_url"))
    nightly.prepare_warehouse(load_settings({"ENVMON_WAREHOUSE_URL": url, "ENVMON_HOME": str(tmp_path)}))
    engine = db.engine_for(url)
    _registry(engine)
    t = schema.section_targets
    with engine.begin() as connection:  # 东兴 official from 2026 only: the year before, nothing in force
        connection.execute(update(t).where(t.c.section_id == ASSUMED, t.c.version_id != None)  # noqa: E711
                           .values(valid_to=date(2025, 12, 31)))
    in_2026 = queries.targets_in_force(engine, date(2026, 6, 1)).set_index("section_id")
    in_2025 = queries.targets_in_force(engine, date(2025, 6, 1)).set_index("section_id")
    assert in_2026.loc[OFFICIAL, "status"] == "official" and in_2025.loc[OFFICIAL, "status"] != "official"
    assert in_2026.loc[ASSUMED, "status"] == "unset" and in_2025.loc[ASSUMED, "status"] == "assumed"
    assert len(queries.registry_versions(engine)) >= 2


# --- the bulletin and the annual report ----------------------------------------------------------
# The hand-worked months of tests/test_reports.py: June 2025 (横塘 Ⅳ, 高速公路西桥 Ⅴ, 南域 劣Ⅴ, each
# against Ⅲ) and the nine months of 2023 (南域 劣Ⅴ, 老口 and 亚桥 Ⅱ).
DOCUMENT_TARGETS = {"nanliu-hengtang": "assumed", "qinjiang-gaosuxiqiao": "official", "nanliu-nanyu": "unset",
                    "yongjiang-laokou": "official", "nanliu-yaqiao": "unset"}


@pytest.fixture
def document_targets(monkeypatch):
    from pipelines import target_status

    monkeypatch.setattr(target_status, "registry_status", lambda section_id, day: DOCUMENT_TARGETS.get(section_id))


def test_the_bulletin_says_which_verdicts_are_against_an_assumed_target(document_targets, tmp_path):
    from pipelines.reports import bulletin, publish
    from pipelines.reports.reading import WarehouseReader
    from tests.test_reports import JUNE, make_warehouse, sheet

    engine = make_warehouse(f"sqlite:///{tmp_path / 'june.db'}")
    document = bulletin.build(WarehouseReader(engine), JUNE)
    sections = sheet(publish.render(document, "xlsx"), "地表水断面")
    assert (sections["横塘"]["水质目标"], sections["横塘"]["是否达标"]) == ("Ⅲ（假定）", ASSUMED_FAILED_ZH)
    assert (sections["高速公路西桥"]["水质目标"], sections["高速公路西桥"]["是否达标"]) == ("Ⅲ", "未达标")
    assert sections["南域"]["本月水质类别"] == "劣Ⅴ" and sections["南域"]["是否达标"] == "目标未定"
    crossing = sheet(publish.render(document, "xlsx"), "跨界断面")
    assert crossing["横塘"]["本月是否达标"] == ASSUMED_FAILED_ZH
    page = publish.render(document, "html").decode("utf-8")
    assert ASSUMED_FAILED_ZH in page and "目标未定" in page


def test_the_annual_report_says_it_too(document_targets, tmp_path):
    from pipelines import nightly
    from pipelines.config import load_settings
    from pipelines.reports import annual, publish
    from pipelines.reports.reading import WarehouseReader
    from tests.test_reports import ANNUAL_SECTIONS, YEAR, _row, _sampled, load, sheet

    url = f"sqlite:///{tmp_path / 'year.db'}"
    nightly.prepare_warehouse(load_settings({"ENVMON_WAREHOUSE_URL": url, "ENVMON_HOME": str(tmp_path)}))
    engine = db.engine_for(url)
    load(engine, [_row("lab", section, p, _sampled(date(YEAR, month, 12)), v) | {"day": date(YEAR, month, 12)}
                  for month in range(1, 10) for section, values in ANNUAL_SECTIONS.items() for p, v in values.items()])
    sections = sheet(publish.render(annual.build(WarehouseReader(engine), YEAR), "xlsx"), "断面年度水质")
    assert sections["南域"]["年度水质类别"] == "劣Ⅴ" and sections["南域"]["是否达标"] == "目标未定"
    assert (sections["老口"]["水质目标"], sections["老口"]["是否达标"]) == ("Ⅱ", "达标")
    assert sections["亚桥"]["是否达标"] == "目标未定"
    assert (sections["横塘"]["水质目标"], sections["横塘"]["是否达标"]) == ("Ⅲ（假定）", "达标（目标为假定）")
