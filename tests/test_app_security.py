"""Issue 24's headers, cookies and CSRF, tried as an attacker would against `envmon dashboard` in a
process of its own (behind one trusted proxy, ENVMON_TRUSTED_PROXIES=1, as compose runs it):
- every response (pages, assets, callbacks, downloads, login, errors) carries the CSP, the framing
  refusals, nosniff and the Referrer-Policy; over TLS (the proxy's X-Forwarded-Proto) HSTS and
  Secure cookies, never claimed by a client where no proxy is trusted;
- a login or a callback (the acknowledgement) without the CSRF token, with another session's, or
  from another origin is refused and changes nothing; with its own token it goes through;
- a page on another origin that frames the app shows nothing of it (chromium);
- every page draws in chromium under the CSP with no violation;
- a city user's crafted callbacks, URLs and downloads naming another city's sections, stations,
  city or alert episode get nothing of them (the same requests by the city that owns them do).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import urlencode

import httpx
import pytest

from dashboards.app import create_app, data, geo, pages, security, users
from tests import dashboard_app_fixture as fixture
from tests.test_dashboard_app import open_episodes
from warehouse import db, queries

PASSWORD = "correct horse battery"
FOREIGN_CITY = "玉林市"  # Yulin: 鼠岭 (jiuzhou-wenchequiao), its alert episode, its air stations
HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "same-origin"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("app-security")
    url = f"sqlite:///{home / 'warehouse.db'}"
    fixture.build(url, home)
    opened = open_episodes(url, home)  # 鼠岭's open episode, Yulin's to acknowledge
    users_path = home / "users.json"
    for name, role, bureau in (("region", "regional", "gx-dept"), ("nanning", "city", "nanning"),
                               ("yulin", "city", "yulin")):
        users.add_user(users_path, name, PASSWORD, role, bureau)
    (home / "data_docs").mkdir()
    (home / "data_docs" / "index.html").write_text("<!DOCTYPE html><title>Data Docs</title><h1>envmon validation</h1>")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ENVMON_TRUSTED_PROXIES", "1")
        # many sign-ins from one address here; the throttle is tried in tests/test_signin.py
        patch.setenv("ENVMON_LOGIN_RATE_PER_ADDRESS", "1000 per minute")
        patch.setenv("ENVMON_LOGIN_RATE_PER_USER", "1000 per minute")
        with fixture.running_dashboard(home, url, users_path, "security-test") as base:
            patch.undo()
            yield {"base": base, "url": url, "home": home, "users": users_path, "episode_id": opened["episode_id"],
                   "engine": opened["engine"]}


def browserless(base: str, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=60, **kwargs)


def signed_in(base: str, name: str) -> httpx.Client:
    """A client signed in as a browser is: the form's token sent back; the renderer's token cookie kept."""
    http = browserless(base)
    form = fixture.login_form(http.get("/login").text)
    assert http.post("/login", data={**form, "username": name, "password": PASSWORD}).status_code == 302
    assert http.cookies.get(security.CSRF_COOKIE)
    return http


def token_header(http: httpx.Client) -> dict:
    return {security.CSRF_HEADER: http.cookies[security.CSRF_COOKIE]}


def assert_headers(response: httpx.Response, where: str, tls: bool = False) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (where, name, response.headers.get(name))
    policy = response.headers.get("content-security-policy", "")
    directives = dict((d.split(" ", 1) + [""])[:2] for d in policy.split("; "))
    assert directives.get("frame-ancestors") == "'none'" and directives.get("default-src") == "'self'", (where, policy)
    assert "'unsafe-inline'" not in directives["script-src"] and "unsafe-eval" not in policy, (where, policy)
    assert directives["connect-src"] == "'self'" and directives["object-src"] == "'none'", (where, policy)
    assert ("strict-transport-security" in response.headers) == tls, where


# --- the headers ---------------------------------------------------------------------------------------
def callback_body(dependency: dict, values: dict) -> dict:
    """A callback request as dash-renderer makes it, for an entry of /_dash-dependencies; each
    input's and state's value from `values` by (id, property), else None."""
    output = dependency["output"]
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in parts]

    def items(entries):
        return [{"id": e["id"], "property": e["property"], "value": values.get((e["id"], e["property"]))}
                for e in entries]

    return {"output": output, "outputs": outputs if output.startswith("..") else outputs[0],
            "inputs": items(dependency["inputs"]), "state": items(dependency["state"]),
            "changedPropIds": [f"{e['id']}.{e['property']}" for e in dependency["inputs"][:1]]}


def route_body(path: str, search: str = "") -> dict:
    return {"output": "page.children", "outputs": {"id": "page", "property": "children"},
            "inputs": [{"id": "url", "property": "pathname", "value": path}],
            "state": [{"id": "url", "property": "search", "value": search}], "changedPropIds": ["url.pathname"]}


def test_every_response_carries_the_security_headers(served):
    base = served["base"]
    stranger = browserless(base)
    answers = {"login page": stranger.get("/login"), "health": stranger.get("/healthz"),
               "stylesheet": stranger.get("/assets/envmon.css"),
               "login wall (redirect)": stranger.get("/alerts"),
               "callback without a login (401)": stranger.post("/_dash-update-component", json=route_body("/")),
               "login without a token (400)": stranger.post("/login", data={"username": "region", "password": PASSWORD})}
    form = fixture.login_form(stranger.get("/login").text)
    answers["wrong password (401)"] = stranger.post("/login", data={**form, "username": "region", "password": "nope"})
    answers["login (302)"] = stranger.post("/login", data={**form, "username": "region", "password": PASSWORD})
    region = stranger
    index = region.get("/")
    answers["the app's page"] = index
    scripts = re.findall(r'<script src="([^"]+)"', index.text)
    answers["Dash's script"] = region.get(scripts[-1])
    answers["favicon"] = region.get("/_favicon.ico?v=4")
    answers["layout"] = region.get("/_dash-layout", headers=token_header(region))
    answers["dependencies"] = region.get("/_dash-dependencies", headers=token_header(region))
    answers["callback"] = region.post("/_dash-update-component", json=route_body("/alerts"), headers=token_header(region))
    answers["callback, malformed"] = region.post("/_dash-update-component", content=b"{",
                                                 headers={**token_header(region), "Content-Type": "application/json"})
    answers["callback without a token (400)"] = region.post("/_dash-update-component", json=route_body("/"))
    answers["CSV download"] = region.get("/download/overview/cross.csv")
    answers["XLSX download"] = region.get("/download/overview/cross.xlsx")
    answers["download not found (404)"] = region.get("/download/overview/nothing.csv")
    answers["data docs"] = region.get("/data-docs/index.html")
    answers["logout"] = region.get("/logout")
    for where, response in answers.items():
        assert_headers(response, where)
    statuses = {where: r.status_code for where, r in answers.items()}
    assert statuses["login without a token (400)"] == 400 and statuses["callback without a token (400)"] == 400
    assert statuses["download not found (404)"] == 404 and statuses["callback, malformed"] >= 400
    assert {statuses[w] for w in ("the app's page", "Dash's script", "callback", "CSV download", "data docs")} == {200}
    # the one inline script Dash writes is the one the policy allows, by its hash
    inline = re.findall(r'<script id="_dash-renderer" type="application/javascript">(.*?)</script>', index.text, re.S)
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in index.headers["content-security-policy"]
    markup = re.sub(r"<!--.*?-->", "", index.text, flags=re.S)  # Dash's IE notice is a comment: never run
    assert len(re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", markup)) == 1  # no other inline one
    # plain HTTP: no HSTS (asserted above), no cookie marked Secure, the session cookie SameSite and HttpOnly
    cookies = answers["login (302)"].headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Secure" not in session
    token = next(c for c in cookies if c.startswith(f"{security.CSRF_COOKIE}="))
    assert "SameSite=Strict" in token and "Secure" not in token


def _cookie(set_cookies: list[str], name: str) -> str:
    return next(c for c in set_cookies if c.startswith(f"{name}="))


def test_over_tls_through_the_proxy_hsts_and_every_cookie_secure(served):
    """The proxy terminates TLS and says so (X-Forwarded-Proto: https). The cookies are kept by
    hand: over TLS they are Secure, and httpx would not send them back over the test's plain HTTP."""
    base = served["base"]
    origin = "https://" + base.removeprefix("http://")
    tls = browserless(base, headers={"X-Forwarded-Proto": "https"})
    page = tls.get("/login")
    assert_headers(page, "login page over TLS", tls=True)
    assert page.headers["strict-transport-security"] == security.HSTS
    session = _cookie(page.headers.get_list("set-cookie"), "session")
    assert session.endswith("; Secure") or "; Secure;" in session
    jar = {"session": session.split(";")[0].split("=", 1)[1]}
    form = {**fixture.login_form(page.text), "username": "yulin", "password": PASSWORD}
    # over TLS the token wants a Referer of this host too (Flask-WTF's strict check)
    refused = tls.post("/login", data=form, cookies=jar)
    assert refused.status_code == 400 and "referrer" in refused.text
    login = tls.post("/login", data=form, cookies=jar, headers={"Referer": f"{origin}/login", "Origin": origin})
    assert login.status_code == 302
    assert_headers(login, "login over TLS", tls=True)
    cookies = login.headers.get_list("set-cookie")
    assert all("Secure" in c for c in cookies) and len(cookies) == 2
    assert "SameSite=Strict" in _cookie(cookies, security.CSRF_COOKIE)
    jar = {c.split("=", 1)[0]: c.split(";")[0].split("=", 1)[1] for c in cookies}
    answer = tls.post("/_dash-update-component", json=route_body("/alerts"), cookies=jar,
                      headers={security.CSRF_HEADER: jar[security.CSRF_COOKIE], "Referer": f"{origin}/alerts",
                               "Origin": origin})
    assert answer.status_code == 200 and "alerts-table" in answer.text
    assert_headers(answer, "callback over TLS", tls=True)


def test_where_no_proxy_is_trusted_a_client_cannot_claim_tls(served):
    """The default (ENVMON_TRUSTED_PROXIES unset: 0): X-Forwarded-Proto is the client's word, ignored."""
    assert security.trusted_proxies({}) == 0 and security.trusted_proxies({"ENVMON_TRUSTED_PROXIES": "1"}) == 1
    with pytest.raises(ValueError, match="ENVMON_TRUSTED_PROXIES must be a whole number"):
        security.trusted_proxies({"ENVMON_TRUSTED_PROXIES": "yes"})
    app = create_app(served["url"], served["users"], served["home"], secret_key="test", cache_seconds=0)
    client = app.server.test_client()
    page = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in page.headers and page.headers["X-Frame-Options"] == "DENY"
    assert all("Secure" not in c for c in page.headers.getlist("Set-Cookie"))
    behind = create_app(served["url"], served["users"], served["home"], secret_key="test", cache_seconds=0, proxies=1)
    assert "Strict-Transport-Security" in behind.server.test_client().get(
        "/login", headers={"X-Forwarded-Proto": "https"}).headers


def test_the_asgi_middleware_sets_the_same_headers():
    """For an ASGI app (the open data API): the same headers, HSTS and Secure cookies over TLS."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    async def api(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"k=v; Path=/")]})
        await send({"type": "http.response.body", "body": b"{}"})

    policy = security.content_security_policy()
    wrapped = security.SecurityHeadersASGI(api, policy)

    async def get(scheme: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://api.test") as client:
            return await client.get("/collections")

    def run_alone(coroutine):
        # in a thread of its own, with its own event loop: Playwright's sync API (the chromium tests
        # of this file) leaves a loop running in the main thread, where asyncio.run() is refused
        with ThreadPoolExecutor(max_workers=1) as thread:
            return thread.submit(asyncio.run, coroutine).result()

    plain, tls = run_alone(get("http")), run_alone(get("https"))
    for response, secure in ((plain, False), (tls, True)):
        assert_headers(response, f"ASGI {'https' if secure else 'http'}", tls=secure)
        assert ("Secure" in response.headers["set-cookie"]) == secure
    assert plain.headers["content-security-policy"] == policy


# --- CSRF ---------------------------------------------------------------------------------------------
def test_a_login_without_its_csrf_token_is_refused_and_with_it_accepted(served):
    base = served["base"]
    http = browserless(base)
    form = fixture.login_form(http.get("/login").text)
    assert set(form) == {"csrf_token"} and form["csrf_token"]
    credentials = {"username": "region", "password": PASSWORD}
    without = http.post("/login", data=credentials)
    assert without.status_code == 400 and "CSRF token is missing" in without.text
    # another visitor's token (an attacker's own, fetched from the login page) does not fit this session
    theirs = fixture.login_form(browserless(base).get("/login").text)
    assert http.post("/login", data={**credentials, **theirs}).status_code == 400
    # the right token from another origin (a cross-site form post) is refused too
    foreign = http.post("/login", data={**credentials, **form}, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert http.get("/alerts").status_code == 302  # still nobody signed in
    accepted = http.post("/login", data={**credentials, **form}, headers={"Origin": base})
    assert accepted.status_code == 302 and accepted.headers["location"] == "/"
    assert http.get("/alerts").status_code == 200


def test_an_acknowledgement_without_the_token_or_from_another_origin_acknowledges_nothing(served):
    """Yulin's duty officer is signed in (the session cookie goes along, as a browser's would with a
    forged request); the forged acknowledgements of 鼠岭's episode are refused and write nothing; the
    same request with the page's own token acknowledges it."""
    base, episode_id, engine = served["base"], served["episode_id"], served["engine"]
    yulin = signed_in(base, "yulin")
    dependency = next(d for d in yulin.get("/_dash-dependencies", headers=token_header(yulin)).json()
                      if "alerts-ack-result.children" in d["output"])
    body = callback_body(dependency, {("alerts-ack-button", "n_clicks"): 1, ("alerts-ack-episode", "value"): episode_id,
                                      ("alerts-ack-comment", "value"): "forged"})
    other = signed_in(base, "nanning")  # an attacker's own valid token, of another session
    forged = {"no token": yulin.post("/_dash-update-component", json=body),
              "another session's token": yulin.post("/_dash-update-component", json=body, headers=token_header(other)),
              "a made-up token": yulin.post("/_dash-update-component", json=body,
                                            headers={security.CSRF_HEADER: "IjAwMDAi.AAAAAA.forged"}),
              "the token, from another origin": yulin.post("/_dash-update-component", json=body,
                                                           headers={**token_header(yulin), "Origin": "http://evil.example"}),
              "the token, from a null origin": yulin.post("/_dash-update-component", json=body,
                                                          headers={**token_header(yulin), "Origin": "null"})}
    assert {k: r.status_code for k, r in forged.items()} == {
        "no token": 400, "another session's token": 400, "a made-up token": 400,
        "the token, from another origin": 403, "the token, from a null origin": 403}
    assert queries.alert_actions(engine, [episode_id]).empty
    assert queries.alert_episode(engine, episode_id)["acknowledged_at"] is None
    # the page's own request: its token, its origin
    done = yulin.post("/_dash-update-component", json={**body, "state": [
        {**s, "value": "现场排查" if s["id"] == "alerts-ack-comment" else s["value"]} for s in body["state"]]},
                      headers={**token_header(yulin), "Origin": base})
    assert done.status_code == 200 and done.json()["response"]["alerts-ack-done"]["data"] == "done"
    actions = queries.alert_actions(engine, [episode_id])
    assert list(zip(actions["actor"], actions["comment"])) == [("yulin", "现场排查")]


# --- a city user's crafted requests for another city ----------------------------------------------------
@pytest.fixture(scope="module")
def foreign(served):
    """What Nanning may not see: the ids and names of the stations outside its scope (but the names
    the map's geography draws for everyone, and any that are part of a name Nanning may see)."""
    stations = data.Warehouse(db.engine_for(served["url"])).stations()
    scope = data.scope_for(users.User("nanning", "city", "nanning"), stations)
    own = stations[stations["station_id"].isin(scope.station_ids)]
    theirs = stations[~stations["station_id"].isin(scope.station_ids)]
    geography = json.dumps(geo.layers(), ensure_ascii=False)
    seen = [*own["station_id"], *own["name_zh"]]
    marks = {m for m in [*theirs["station_id"], *theirs["name_zh"]]
             if isinstance(m, str) and len(m) >= 2 and m not in geography and not any(m in s for s in seen)}
    assert fixture.FAILING in marks and "鼠岭(文车桥)" in marks
    air = theirs[(theirs["city"] == FOREIGN_CITY) & (theirs["station_type"] == "air")]["station_id"]
    search = "?" + urlencode({"city": FOREIGN_CITY, "section": fixture.FAILING, "station": air.iloc[0]})
    values = {("url", "pathname"): f"/section/{fixture.FAILING}", ("url", "search"): search,
              ("overview-city", "value"): FOREIGN_CITY, ("air-city", "value"): FOREIGN_CITY,
              ("section-pick", "value"): fixture.FAILING, ("section-parameters", "value"): ["nh3n", "tp", "codmn", "do"],
              ("air-pollutant", "value"): "pm2_5", ("alerts-ack-button", "n_clicks"): 1,
              ("alerts-ack-episode", "value"): served["episode_id"], ("alerts-ack-comment", "value"): "crafted"}
    return {"marks": marks, "search": search, "values": values}


def _shown(answer: dict) -> str:
    """What an answer shows: its outputs but the address bar's (the request's own words echoed)
    and the download links' addresses (the same)."""
    def drop_links(value):
        if isinstance(value, dict):
            return {k: drop_links(v) for k, v in value.items() if k != "href"}
        if isinstance(value, list):
            return [drop_links(v) for v in value]
        return value

    return json.dumps(drop_links({k: v for k, v in answer.items() if k != "url"}), ensure_ascii=False)


def crafted_callbacks(served, name: str, foreign: dict) -> dict[str, tuple[int, dict, str]]:
    """Every callback of the app asked for as `name` with another city's ids, city and episode in
    every input that names one; {callback's first output: (status, response, what it shows)}."""
    http = signed_in(served["base"], name)
    answers = {}
    for dependency in http.get("/_dash-dependencies", headers=token_header(http)).json():
        if name != "nanning" and "alerts-ack-button" in json.dumps(dependency["inputs"]):
            continue  # the owner's acknowledgement would write; Nanning's is the attack tried
        body = callback_body(dependency, foreign["values"])
        answer = http.post("/_dash-update-component", json=body, headers=token_header(http))
        response = answer.json().get("response", {}) if answer.status_code == 200 else {}
        key = dependency["output"].strip(".").split("...")[0].split("@")[0]
        answers[key] = (answer.status_code, response, _shown(response))
    return answers


def test_a_city_users_crafted_callbacks_for_another_citys_sections_get_nothing(served, foreign):
    marks = foreign["marks"]
    nanning = crafted_callbacks(served, "nanning", foreign)
    assert len(nanning) >= 10  # every callback of the app, the pages' and the acknowledgement's
    for key, (status, _, shown) in nanning.items():
        assert status in (200, 204), (key, status)
        assert not [m for m in marks if m in shown], (key, sorted(m for m in marks if m in shown)[:5])
    # the page and the section's own callback say forbidden; the acknowledgement too, writing nothing
    assert '"forbidden"' in nanning["page.children"][2] and '"section-title"' not in nanning["page.children"][2]
    series = nanning["section-series.children"][1]
    assert '"forbidden"' in json.dumps(series["section-series"]) and series["section-daily"]["data"] == []
    assert nanning["alerts-ack-result.children"][1]["alerts-ack-done"]["data"] == "forbidden"
    assert queries.alert_actions(served["engine"], [served["episode_id"]]).query("actor == 'nanning'").empty
    # the same requests by Yulin show Yulin's sections: the requests are ones the app answers
    yulin = crafted_callbacks(served, "yulin", foreign)
    leaks = {key for key, (_, _, shown) in yulin.items() if any(m in shown for m in marks)}
    assert {"page.children", "overview-map.figure", "cross-strip.figure", "air-calendar.figure",
            "alerts-table.data"} <= leaks, leaks
    assert yulin["section-series.children"][1]["section-daily"]["data"] != []


def test_a_city_users_urls_for_another_citys_section_get_nothing(served, foreign):
    """The section's address typed in (the page's routing callback, as the browser asks for it), in
    both languages, with and without a query naming the other city; the address itself is the app's
    page (the data comes only through the callbacks)."""
    nanning = signed_in(served["base"], "nanning")
    for search in ("", "?lang=en", foreign["search"]):
        page = nanning.get(f"/section/{fixture.FAILING}{search}")
        assert page.status_code == 200 and "鼠岭" not in page.text and "react-entry-point" in page.text
        answer = nanning.post("/_dash-update-component", json=route_body(f"/section/{fixture.FAILING}", search),
                              headers=token_header(nanning)).json()["response"]
        shown = _shown(answer)
        assert '"forbidden"' in shown and not [m for m in foreign["marks"] if m in shown], search


def test_a_city_users_downloads_naming_another_city_hold_none_of_it(served, foreign):
    """Every table of every page, downloaded as CSV with a query naming the other city, its section
    and station: nothing of theirs (the registry's are the region's: refused). As Yulin, the same
    downloads hold Yulin's sections."""
    marks = foreign["marks"]
    nanning, yulin = signed_in(served["base"], "nanning"), signed_in(served["base"], "yulin")
    owners = {"overview/cross", "cross-boundary/board", "alerts/alerts"}  # Yulin's own, asked by Yulin
    theirs = set()
    scanned = 0
    for page, module in pages.PAGES.items():
        for table in module.TABLES:
            address = f"/download/{page}/{table}.csv{foreign['search']}"
            answer = nanning.get(address)
            assert answer.status_code in (200, 404), (address, answer.status_code)
            text = answer.content.decode("utf-8-sig")
            assert not [m for m in marks if m in text], (address, sorted(m for m in marks if m in text)[:5])
            if page == "section":  # the other city's section: not a row
                assert answer.status_code == 200 and len(text.strip().splitlines()) == 1, (address, text[:300])
            if f"{page}/{table}" in owners and any(m in yulin.get(address).content.decode("utf-8-sig") for m in marks):
                theirs.add(f"{page}/{table}")
            scanned += 1
    assert scanned >= 20
    assert theirs == owners


# --- in chromium ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.test_dashboard_app_browser import CHROMIUM, CHROMIUM_FLAGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


# every CSP violation said on the console, whichever the directive (the browser's own message is
# there too for most; the event catches all, report-only ones and blocked evals included)
REPORT_VIOLATIONS = """document.addEventListener('securitypolicyviolation', e => console.error(
    'CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI + ' in ' + e.sourceFile + ':' + e.lineNumber));"""


def test_every_page_draws_in_chromium_under_the_csp_with_no_violation(browser, served):
    from tests.test_dashboard_app_browser import Session

    session = Session(browser, served["base"])
    try:
        session.context.add_init_script(REPORT_VIOLATIONS)
        session.open("/login?lang=en")
        session.login("region")
        paths = [f"/{name}" if name != "overview" else "/" for name in pages.PAGES]
        paths += [f"/section/{fixture.FAILING}", "/air?lang=en", "/data-docs/index.html"]
        for path in paths:
            session.page.goto(session.base + path)
            if not path.startswith("/data-docs"):
                session.drawn()
                assert session.page.locator("main").count() == 1, path
        assert "envmon validation" in session.page.content()
        # plotly's 'Download plot as a PNG' (it draws through a blob: image), and no 'Share chart'
        session.open("/air")
        graph = session.page.locator(".js-plotly-plot").first
        graph.hover()
        titles = session.page.evaluate("() => [...document.querySelectorAll('.modebar-btn')].map(b => b.dataset.title)")
        assert "Download plot as a PNG" in titles and not [t for t in titles if "Share" in t or "Cloud" in t]
        with session.page.expect_download() as download:
            graph.locator(".modebar-btn[data-title='Download plot as a PNG']").click()
        assert download.value.suggested_filename.endswith(".png")
        assert session.errors == [], session.errors
        assert session.outside == []
        # the policy is on and its violations are seen: an injected script or event handler does not run
        ran = session.page.evaluate("""() => { const s = document.createElement('script');
            s.textContent = 'window.injected = 1'; document.body.appendChild(s);
            const b = document.createElement('button'); b.setAttribute('onclick', 'window.handled = 1');
            document.body.appendChild(b); b.click(); return [window.injected === 1, window.handled === 1]; }""")
        assert ran == [False, False]
        session.page.wait_for_timeout(200)
        directives = {e.split()[2] for e in session.errors if e.startswith("CSP violation: ")}
        assert directives == {"script-src-elem", "script-src-attr"}, session.errors
    finally:
        session.close()


def test_a_page_on_another_origin_that_frames_the_app_shows_nothing(browser, served, tmp_path):
    """A clickjacking page on another origin (another web server on this machine) frames the app's
    login page. The same page without the app's headers, served by that server for comparison,
    does show its form: a frame would show."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    base = served["base"]
    login = httpx.get(f"{base}/login").text.replace('href="/assets', f'href="{base}/assets')
    (tmp_path / "copy.html").write_text(login, encoding="utf-8")  # the app's login page, less its headers
    (tmp_path / "index.html").write_text(f"""<!DOCTYPE html><title>win a prize</title>
        <iframe name="app" src="{base}/login" width="600" height="400"></iframe>
        <iframe name="copy" src="copy.html" width="600" height="400"></iframe>""", encoding="utf-8")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    framer = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=framer.serve_forever, daemon=True).start()
    context = browser.new_context()
    messages: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda m: messages.append(m.text))
        page.goto(f"http://127.0.0.1:{framer.server_address[1]}/index.html")
        page.wait_for_load_state("load")
        copy = page.frame(name="copy")
        copy.locator("#login-form").wait_for(timeout=10_000)
        assert copy.locator("#username").is_visible()
        app = page.frame(name="app")
        page.wait_for_timeout(500)
        assert not app.url.startswith(base), app.url  # chromium put its error page in the frame's place
        assert app.locator("#login-form, #username").count() == 0
        assert [m for m in messages if "frame-ancestors 'none'" in m], messages
    finally:
        context.close()
        framer.shutdown()
