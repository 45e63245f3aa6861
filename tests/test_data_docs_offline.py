"""The Great Expectations Data Docs render offline: the scripts, styles and fonts GX loads from CDNs
are vendored from the npm registry (pipelines/quality/vendor/, with their licences and sha256),
and every page of a real build loads them by relative paths, on disk and through the dashboard
app, in Debian's chromium (Playwright), with no request leaving 127.0.0.1 and no console error."""
from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import pytest

from pipelines import nightly
from pipelines.config import load_settings
from pipelines.quality import data_docs_offline
from pipelines.quality.validation import validate
from tests.test_validation import _water_batch

ARTIFACTS = Path(__file__).parent / "artifacts" / "data-docs"
LOADS = re.compile(r"<(script|link|img)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"[^>]*>", re.IGNORECASE)
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)")
DAYS = (date(2026, 3, 1), date(2026, 3, 2))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_vendored_files_are_the_npm_packages_own_with_their_licences():
    manifest = data_docs_offline.manifest()
    for package in manifest["packages"]:
        folder = data_docs_offline.VENDOR / package["folder"]
        assert (folder / package["licence_file"]).stat().st_size > 500, package["name"]
        for path, stored in package["files"].items():
            assert _sha256(folder / stored["stored"]) == stored["sha256"], (package["name"], path)
        assert re.fullmatch(r"[0-9a-f]{64}", package["tarball_sha256"])
    vendor_md = (data_docs_offline.VENDOR / "VENDOR.md").read_text(encoding="utf-8")
    for package in manifest["packages"]:
        assert f"{package['name']}@{package['version']}" in vendor_md
        assert package["tarball_sha256"] in vendor_md


def test_every_cdn_address_in_the_installed_gx_templates_is_vendored():
    """A Great Expectations upgrade that loads something new from a CDN fails here, not in a bureau."""
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    addresses = set()
    for template in templates.glob("*.j2"):
        for _, address in LOADS.findall(template.read_text(encoding="utf-8")):
            if address.startswith(("http://", "https://")):
                addresses.add(address)
    assert addresses, "the templates' CDN addresses were not found"
    assert addresses <= set(data_docs_offline.cdn_map()), addresses - set(data_docs_offline.cdn_map())
    for local in data_docs_offline.cdn_map().values():
        assert (data_docs_offline.VENDOR / local).is_file(), local


def _nightly_sites(home: Path) -> list[Path]:
    """Data Docs as the nightly run leaves them: a site per day and source, static/ shared."""
    settings = load_settings({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": f"sqlite:///{home / 'w.db'}"})
    sites = []
    for day in DAYS:
        site = nightly.data_docs_dir(settings, day, "water")
        validate(_water_batch(), "water", docs_dir=site)
        nightly._share_static_assets(site, settings.home / "data_docs" / "static")
        if day == DAYS[0]:  # a shared copy from before the vendoring: the next site brings it in
            import shutil

            shutil.rmtree(settings.home / "data_docs" / "static" / "vendor")
        sites.append(site)
    nightly.write_data_docs_index(settings)
    return sites


@pytest.fixture(scope="module")
def docs_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("data-docs-offline")
    return home, _nightly_sites(home)


def test_every_page_loads_its_assets_from_the_site_and_nothing_from_the_web(docs_home):
    home, sites = docs_home
    pages = [p for site in sites for p in site.rglob("*.html")]
    assert len(pages) >= 6 and any("validations" in p.parts for p in pages)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        references = [address for tag, address in LOADS.findall(text)]
        references += [u for u in CSS_URL.findall(text) if not u.startswith("data:")]
        assert references, page
        for address in references:
            assert not re.match(r"(https?:)?//", address), (page, address)
            target = (page.parent / address.split("?")[0]).resolve()
            assert target.is_file(), (page, address)   # through the shared static/ link
        assert "integrity=" not in text and 'crossorigin="anonymous"' not in text
        scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", text)
        for name in ("jquery.min.js", "bootstrap.min.js", "vega.min.js", "vega-lite.min.js", "vega-embed.min.js"):
            assert any(s.endswith(name) for s in scripts), (page, name)
    shared = home / "data_docs" / "static"
    assert (shared / "vendor" / "manifest.json").is_file() and not shared.is_symlink()
    assert all((site / "static").is_symlink() for site in sites)


# --- in a real browser, through the app ----------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.test_dashboard_app_browser import CHROMIUM, CHROMIUM_FLAGS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from dashboards.app import users
    from tests import dashboard_app_fixture as fixture
    from tests.test_dashboard_app_browser import PASSWORD

    home = tmp_path_factory.mktemp("data-docs-browser")
    url = f"sqlite:///{home / 'warehouse.db'}"
    fixture.build(url, home)
    sites = _nightly_sites(home)
    users_path = home / "users.json"
    users.add_user(users_path, "region", PASSWORD, "regional", "gx-dept")
    with fixture.running_dashboard(home, url, users_path, "data-docs-test") as base:
        yield {"base": base, "home": home, "sites": sites}


def test_data_docs_open_through_the_app_with_no_request_leaving_the_machine(browser, server):
    from tests.test_dashboard_app_browser import Session

    session = Session(browser, server["base"])
    try:
        session.login("region")
        root = server["home"] / "data_docs"
        pages = [server["sites"][-1] / "index.html",
                 *sorted((server["sites"][-1] / "validations").rglob("*.html")),
                 *sorted((server["sites"][0] / "expectations").rglob("*.html"))]
        session.page.goto(f"{server['base']}/data-docs/index.html")
        assert "envmon validation" in session.page.content()
        loaded = []
        for number, page in enumerate(pages):
            session.page.goto(f"{server['base']}/data-docs/{page.relative_to(root).as_posix()}")
            session.page.wait_for_load_state("networkidle")
            # the vendored libraries ran: none of them is a stub that failed to load
            ready = session.page.evaluate("""() => ({
                jquery: typeof window.jQuery === 'function', table: !!(window.jQuery && jQuery.fn.bootstrapTable),
                bootstrap: !!(window.jQuery && jQuery.fn.modal), vega: typeof window.vega === 'object',
                embed: typeof window.vegaEmbed === 'function',
                icons: [...document.styleSheets].some(s => (s.href || '').includes('fontawesome-free-6.6.0')),
                fonts: document.fonts.status})""")
            loaded.append(ready)
            assert all(ready[k] for k in ("jquery", "table", "bootstrap", "vega", "embed", "icons")), (page, ready)
            session.page.screenshot(path=str(ARTIFACTS / f"data-docs-{number}.png"), full_page=True)
        assert len(loaded) >= 3
        assert session.outside == []
        assert session.errors == []
    finally:
        session.close()


def test_data_docs_open_from_disk_with_every_request_a_local_file(browser, docs_home):
    home, sites = docs_home
    context = browser.new_context()
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        validation = sorted((sites[0] / "validations").rglob("*.html"))[0]
        page.goto(validation.as_uri())
        page.wait_for_load_state("networkidle")
        ready = page.evaluate("() => typeof window.jQuery === 'function' && !!jQuery.fn.bootstrapTable"
                              " && typeof window.vegaEmbed === 'function'")
        assert ready
        assert len(requests) > 10 and all(url.startswith("file://") for url in requests), requests
        assert errors == []
    finally:
        context.close()
