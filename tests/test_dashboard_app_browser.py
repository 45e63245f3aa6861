"""The bureaus' dashboard app in a real browser: Debian's chromium driven by Playwright (no browser
download), against `envmon dashboard` serving the test warehouse of tests/dashboard_app_fixture.py.
Every page loads with no console error and no request leaving the machine; login and logout; the
filters change the figures and the URL; a city bureau's limits hold, by link and by URL; the day
that holds only 'insufficient data' never blanks the page. Screenshots go to tests/artifacts/dashboard/."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from dashboards.app import users
from tests import dashboard_app_fixture as fixture
from tests import test_dashboard_app as server_side
from tests.test_dashboard_app import escalated_two_days_later, open_episodes
from warehouse import queries

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts" / "dashboard"
PASSWORD = "correct horse battery"
PAGES = ("/", "/cross-boundary", f"/section/{fixture.FAILING}", "/reservoirs", "/coastal", "/air", "/alerts",
         "/quality", "/section")

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("dashboard-browser")
    url = f"sqlite:///{home / 'warehouse.db'}"
    facts = fixture.build(url, home)
    opened = open_episodes(url, home)  # 鼠岭's failure as the nightly alert step makes it an episode
    users_path = home / "users.json"
    users.add_user(users_path, "region", PASSWORD, "regional", "gx-dept")
    users.add_user(users_path, "nanning", PASSWORD, "city", "nanning")
    users.add_user(users_path, "yulin", PASSWORD, "city", "yulin")
    (home / "data_docs").mkdir()
    (home / "data_docs" / "index.html").write_text("<!DOCTYPE html><title>Data Docs</title><h1>envmon validation</h1>")
    with fixture.running_dashboard(home, url, users_path, "browser-test") as base:
        yield {"base": base, **facts, "opened": opened}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class Session:
    """A browser page that records console errors and every request, and lets none leave the machine."""

    def __init__(self, browser, base: str):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1500, "height": 1000}, locale="zh-CN",
                                           accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.context.route(re.compile(r"^(?!http://127\.0\.0\.1:\d+/|data:|blob:).*"), self._outside)

    def _outside(self, route):
        self.outside.append(route.request.url)
        route.abort()

    def login(self, name: str) -> None:
        self.page.goto(f"{self.base}/login")
        self.page.fill("#username", name)
        self.page.fill("#password", PASSWORD)
        self.page.click("#login-button")
        self.drawn()

    def open(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.drawn()

    def drawn(self, timeout: float = 30_000) -> None:
        """Dash has answered every callback and plotly has drawn every graph."""
        self.page.wait_for_load_state("networkidle", timeout=timeout)
        self.page.wait_for_function(
            """() => document.querySelector('#page main, #login-form')
                 && !document.querySelector('[data-dash-is-loading="true"]')
                 && [...document.querySelectorAll('.js-plotly-plot')].every(g => g.querySelector('.main-svg'))""",
            timeout=timeout)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def session(browser, server):
    opened = Session(browser, server["base"])
    yield opened
    opened.close()


def test_login_and_logout(session, server):
    session.open("/")
    assert session.page.url.startswith(f"{server['base']}/login")
    session.page.fill("#username", "region")
    session.page.fill("#password", "not the password")
    session.page.click("#login-button")
    assert session.page.locator("#login-error").is_visible()
    session.login("region")
    assert session.page.locator("#user-name").inner_text().startswith("region")
    session.shot("overview-regional")
    session.page.click("#logout")
    session.page.wait_for_url(re.compile(r".*/login"))
    session.open("/cross-boundary")
    assert "/login" in session.page.url and session.page.locator("#cross-strip").count() == 0


def test_every_page_loads_with_no_console_error_and_no_request_leaving_the_machine(session):
    session.login("region")
    for path in PAGES:
        session.open(path)
        assert session.page.locator("main").count() == 1, path
        assert session.page.locator("#not-found, #forbidden").count() == 0, path
        session.shot("page" + (path.replace("/", "-") if path != "/" else "-overview"))
    session.page.goto(session.base + "/data-docs/index.html")
    assert "envmon validation" in session.page.content()
    assert session.errors == []
    assert session.outside == []


def test_the_overview_map_is_drawn_offline_with_labels_that_do_not_overlap(session, server):
    session.login("region")
    map_svg = session.page.locator("#overview-map .main-svg").first
    assert map_svg.is_visible()
    boxes = session.page.evaluate("""() => [...document.querySelectorAll('#overview-map g.annotation')]
        .map(g => g.querySelector('text')).filter(t => t && t.textContent)
        .map(t => { const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.top, r.right, r.bottom]; })""")
    labels = {b[0] for b in boxes}
    assert {"东兴", "边贸码头", "上金", "那弄", "南宁市", "北海市"} <= labels
    for i, (name_a, *a) in enumerate(boxes):
        for name_b, *b in boxes[i + 1:]:
            overlap = a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1
            assert not overlap, (name_a, name_b)
    # coastline, city boundaries and rivers are traces of the figure itself, not tiles
    traces = session.page.evaluate("() => document.querySelector('#overview-map .js-plotly-plot').data.length")
    assert traces > 20


def test_the_blank_insufficient_data_day_does_not_become_the_latest_day(session, server):
    session.login("region")
    for element in ("#latest-day-water", "#latest-day-sea", "#latest-day-air"):  # each domain's own day
        assert session.page.locator(element).inner_text() == str(server["end"])
    table = session.page.locator("#overview-cross").inner_text()
    assert "鼠岭(文车桥)" in table and "未达标" in table and "氨氮 0.6倍" in table
    classes = session.page.evaluate("""() => document.querySelector('#overview-map .js-plotly-plot').data
        .filter(t => t.customdata).map(t => t.name)""")
    assert "Ⅴ" in classes and "Ⅱ" in classes and "无数据" not in classes  # every section has its class
    assert session.page.locator("#data-label").get_attribute("data-kind") == "measured"  # the last days: CNEMC


def test_the_filters_change_the_figures_and_the_url_carries_them(session, server):
    session.login("region")
    markers = "() => document.querySelector('#overview-map .js-plotly-plot').data.filter(t => t.customdata)" \
              ".reduce((n, t) => n + t.customdata.length, 0)"
    everyone = session.page.evaluate(markers)
    session.page.click("#overview-city")
    session.page.get_by_role("option", name="玉林市").click()
    session.drawn()
    assert "city=%E7%8E%89%E6%9E%97%E5%B8%82" in session.page.url
    assert 0 < session.page.evaluate(markers) < everyone
    kpi = session.page.locator("#overview-kpi").inner_text()
    assert "玉林市" in kpi and "南宁市" not in kpi  # one city's row
    session.shot("overview-yulin")
    # a shared link opens the same state
    session.open(session.page.url.removeprefix(server["base"]))
    assert session.page.evaluate(markers) < everyone
    # the section page: fewer parameters, fewer series
    session.open(f"/section/{server['failing']}")
    series = session.page.locator("#section-series .js-plotly-plot").count()
    session.page.locator("#section-parameters input[value='nh3n']").uncheck()
    session.drawn()
    assert session.page.locator("#section-series .js-plotly-plot").count() == series - 1
    assert "parameters=" in session.page.url and "nh3n" not in session.page.url.split("parameters=")[1]
    session.shot("section-filtered")


def test_the_section_page_marks_quarantined_readings_and_the_failing_days(session, server):
    session.login("region")
    session.open(f"/section/{server['failing']}")
    traces = session.page.evaluate("""() => [...document.querySelectorAll('#section-series .js-plotly-plot')]
        .flatMap(g => g.data.map(t => t.name))""")
    assert "隔离数据" in traces and "质控标记" in traces
    daily = session.page.locator("#section-daily").inner_text()
    assert "未达标" in daily and "氨氮" in daily


def test_a_city_bureau_sees_only_its_own_and_shared_sections_by_link_and_by_url(session, server):
    session.login("nanning")
    assert "鼠岭" not in session.page.locator("#overview-cross").inner_text()
    session.open(f"/section/{server['failing']}")  # a Yulin section, typed into the address bar
    assert session.page.locator("#forbidden").is_visible()
    assert session.page.locator("#section-series").count() == 0
    # the section callback asked for directly, as a crafted request would
    answer = session.page.evaluate("""async () => {
        const callbacks = await (await fetch('/_dash-dependencies')).json();
        const callback = callbacks.find(c => c.output.includes('section-series.children'));
        const outputs = callback.output.slice(2, -2).split('...').map(o => {
            const dot = o.lastIndexOf('.'); return {id: o.slice(0, dot), property: o.slice(dot + 1)}; });
        const answer = await fetch('/_dash-update-component', {method: 'POST',
            headers: {'Content-Type': 'application/json',  // the page's own token, as Dash's renderer sends it
                      'X-CSRFToken': document.cookie.match(/_csrf_token=([^;]+)/)[1]}, body: JSON.stringify({
              output: callback.output, outputs: outputs,
              inputs: [{id: 'section-range', property: 'start_date', value: '2026-10-01'},
                       {id: 'section-range', property: 'end_date', value: '2026-11-20'},
                       {id: 'section-parameters', property: 'value', value: ['nh3n']}],
              state: [{id: 'url', property: 'pathname', value: '/section/jiuzhou-wenchequiao'},
                      {id: 'url', property: 'search', value: ''}],
              changedPropIds: ['section-parameters.value']})});
        return answer.status + ' ' + await answer.text(); }""")
    assert answer.startswith("200") and "forbidden" in answer and "1.62" not in answer
    session.shot("forbidden-nanning")
    session.page.click("#logout")
    session.login("yulin")
    session.open(f"/section/{server['failing']}")
    assert session.page.locator("#section-title").is_visible()
    assert session.page.locator("#forbidden").count() == 0


def test_the_english_switch_keeps_the_page(session):
    session.login("region")
    session.open("/cross-boundary")
    session.page.click("#lang-switch")
    session.drawn()
    assert "lang=en" in session.page.url and session.page.locator("#nav-overview").inner_text() == "Overview"
    session.shot("cross-boundary-en")


def test_a_table_downloads_as_csv_and_xlsx(session):
    session.login("region")
    with session.page.expect_download() as download:
        session.page.click("#overview-cross-csv")
    assert "鼠岭(文车桥)" in Path(download.value.path()).read_text(encoding="utf-8-sig")
    with session.page.expect_download() as download:
        session.page.click("#overview-cross-xlsx")
    assert download.value.suggested_filename.endswith(".xlsx")


def test_a_bureau_acknowledges_an_episode_and_another_city_cannot(session, server):
    opened, episode_id = server["opened"], server["opened"]["episode_id"]
    # Nanning: no episode of its own to choose, and a hand-made request for Yulin's is refused
    session.login("nanning")
    session.open("/alerts")
    session.page.click("#alerts-ack-episode")
    assert session.page.get_by_role("option").count() == 0
    answer = session.page.evaluate("""async (episode) => {
        const callbacks = await (await fetch('/_dash-dependencies')).json();
        const callback = callbacks.find(c => c.output.includes('alerts-ack-result.children'));
        const outputs = callback.output.slice(2, -2).split('...').map(o => {
            const dot = o.lastIndexOf('.'); return {id: o.slice(0, dot), property: o.slice(dot + 1)}; });
        const answer = await fetch('/_dash-update-component', {method: 'POST',
            headers: {'Content-Type': 'application/json',  // the page's own token, as Dash's renderer sends it
                      'X-CSRFToken': document.cookie.match(/_csrf_token=([^;]+)/)[1]}, body: JSON.stringify({
              output: callback.output, outputs: outputs,
              inputs: [{id: 'alerts-ack-button', property: 'n_clicks', value: 1}],
              state: [{id: 'alerts-ack-episode', property: 'value', value: episode},
                      {id: 'alerts-ack-comment', property: 'value', value: 'not ours'},
                      {id: 'url', property: 'search', value: ''}],
              changedPropIds: ['alerts-ack-button.n_clicks']})});
        return [answer.status, await answer.json()]; }""", episode_id)
    assert answer[0] == 200 and answer[1]["response"]["alerts-ack-done"]["data"] == "forbidden"
    assert queries.alert_actions(opened["engine"], [episode_id]).empty
    session.page.click("#logout")
    # Yulin answers for 鼠岭: chooses the episode, writes why, acknowledges
    session.login("yulin")
    session.open("/alerts")
    session.page.click("#alerts-ack-episode")
    session.page.get_by_role("option", name=re.compile(f"^#{episode_id} 鼠岭")).click()
    session.page.fill("#alerts-ack-comment", "已派员现场排查氨氮来源")
    session.page.click("#alerts-ack-button")
    session.page.locator("#alerts-ack-result.ack-done").wait_for(timeout=30_000)
    session.drawn()
    history = session.page.locator("#alerts-history").inner_text()
    assert "yulin" in history and "已派员现场排查氨氮来源" in history and "确认" in history
    assert "yulin" in session.page.locator("#alerts-table").inner_text()  # acknowledged by, in the episodes table
    session.shot("alerts-acknowledged")
    episode = queries.alert_episode(opened["engine"], episode_id)
    assert episode["acknowledged_by"] == "yulin"
    # and the escalation, due two days after its first notice, does not fire for it
    assert escalated_two_days_later(opened) == []
    assert session.errors == [] and session.outside == []


# --- real data with its gaps (issue 20), as a bureau reads them in chromium --------------------------
@pytest.fixture(scope="module")
def gaps_server(tmp_path_factory):
    """envmon dashboard on the hand-made warehouse of tests/test_dashboard_app.py's build_gaps: water
    ending 2021-04-05, air running to 2026-07-24, sections without a class or without any row, a
    failing one with its open episode."""
    home = tmp_path_factory.mktemp("dashboard-browser-gaps")
    url = f"sqlite:///{home / 'warehouse.db'}"
    server_side.build_gaps(url, home)
    users_path = home / "users.json"
    users.add_user(users_path, "region", PASSWORD, "regional", "gx-dept")
    users.add_user(users_path, "yulin", PASSWORD, "city", "yulin")
    with fixture.running_dashboard(home, url, users_path, "browser-gaps") as base:
        yield base


GAP_PAGES = ("/", "/section/" + server_side.GAP_NAN_CLASS, "/reservoirs", "/coastal", "/air", "/alerts", "/quality")


def _table_headings(session) -> list[str]:
    return session.page.evaluate("""() => [...document.querySelectorAll('.dash-spreadsheet th.dash-header')]
        .map(th => th.innerText.trim()).filter(Boolean)""")


@pytest.mark.parametrize("name", ["region", "yulin"])
def test_a_bureau_reads_no_data_where_there_is_none_and_no_programmers_word(browser, gaps_server, name):
    """Every page (but the Cross-boundary one, helper H1's) in Chinese and in English as the page
    draws it: no nan/None/NaT/null/undefined/inf or JSON in the text, headings in the page's
    language; each domain's own latest day on the Overview; items as people write them."""
    session = Session(browser, gaps_server)
    try:
        session.login(name)
        assert session.page.locator("#latest-day-water").inner_text() == str(server_side.GAP_WATER_DAY)
        # Yulin's one air station had too few hours that day: no assessed air day, said in words
        air_day = str(server_side.GAP_AIR_DAY) if name == "region" else "无数据"
        assert session.page.locator("#latest-day-air").inner_text() == air_day
        cross = session.page.locator("#overview-cross").inner_text()
        assert "无数据" in cross and "总磷 1.8倍；氨氮 0.3倍" in cross
        assert cross.count("未达标") == 1  # 鼠岭 alone failed; 石角 and 鹤地水库 have no data
        for lang in ("zh", "en"):
            for path in GAP_PAGES:
                session.open(path + ("?lang=en" if lang == "en" else ""))
                text = session.page.locator("main").inner_text()
                found = server_side.FORBIDDEN.search(text)
                assert found is None, (name, lang, path, found and text[max(0, found.start() - 80):found.end() + 80])
                server_side._headings_in_their_language(_table_headings(session), lang, f"{name} {lang} {path}")
                placeholders = set(session.page.evaluate(
                    "() => [...document.querySelectorAll('th.dash-filter input')].map(i => i.placeholder)")) - {""}
                assert placeholders == {"筛选…" if lang == "zh" else "filter…"}, (path, placeholders)  # not Dash's English
                session.shot(f"gaps-{name}-{lang}{path.replace('/', '-') if path != '/' else '-overview'}")
        session.open("/alerts")
        assert "总磷 1.8倍；氨氮 0.3倍" in session.page.locator("#alerts-table").inner_text()
        session.open("/alerts?lang=en")
        assert "total phosphorus (as P) 1.8×" in session.page.locator("#alerts-table").inner_text()
        assert session.errors == [] and session.outside == []
    finally:
        session.close()
