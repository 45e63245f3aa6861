"""The standing scanner (issue 20): after the replay of real recorded feeds (tests/replay_fixture.py,
real gaps included), everything a person reads is scanned for a programmer's word where a reading
or a heading should be. New pages, exports and documents are covered without editing this file:
the pages come from the app's own registry (dashboards.app.pages.PAGES, and the detail pages its
pages link to), the downloads from each page's TABLES, the exports from the CLI's own list
(pipelines.cli.commands.EXPORTS).

The rules, one per kind of reader:

- People's text (app pages with their figures' texts, bulletins and annual reports in html, xlsx
  and pdf, notices in the outbox, command output): none of the words nan, NaN, None, NaT, null,
  undefined, inf/Infinity standing alone, and no `{"` or `[{` (JSON or a Python repr).
- Headings (page headings, table column headers, labels, figure axis and legend titles; in a
  spreadsheet, every row of three or more cells that are all text): no field name, i.e. no lowercase ASCII word joined by an
  underscore (`rows_read`, `partition_day`), except the standard parameter codes defined once in
  pipelines/reference/data/parameters.csv (pm2_5, o3_8h, ...), which are names people use; in the
  Chinese view, also no heading that is only lowercase English words (`day`, `status`,
  `last failed`), parameter codes aside.
- Machines' files (`envmon export X --format csv` and the app's CSV downloads): the column names
  are a documented contract and are not checked; a missing value is an EMPTY cell (the CSV
  convention), so no cell may be one of the words above; a cell holding JSON (a list of failing
  items, an export is for machines) must be valid strict JSON (NaN or Infinity inside fail).

Each finding names where it is (page, user, language or file), and the offending snippet."""
from __future__ import annotations

import csv
import email
import io
import json
import re
import shutil
import subprocess
from email import policy
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests import replay_fixture

FORBIDDEN = re.compile(r"(?<![A-Za-z0-9_])(nan|NaN|NAN|None|NaT|null|undefined|-?inf|-?Infinity)(?![A-Za-z0-9_])"
                       r"|\{\"|\[\{")
MISSING_WORDS = {"nan", "NaN", "NAN", "None", "NaT", "null", "undefined", "inf", "-inf", "Infinity", "-Infinity"}
FIELD_NAME = re.compile(r"(?<![A-Za-z0-9_])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![A-Za-z0-9_])")
ENGLISH_ONLY = re.compile(r"^[a-z][a-z ]*$")
PASSWORD = "scanner horse battery"


def parameter_codes() -> set[str]:
    """The standard parameter codes (pipelines/reference/data/parameters.csv), and the feed's 24-h forms."""
    from pipelines.reference import standards

    codes = {str(code) for code in standards.parameters().index}
    return codes | {f"{code}_24h" for code in codes}


CODES = parameter_codes()


def text_findings(where: str, text: str) -> list[str]:
    return [f"{where}: …{text[max(0, m.start() - 40):m.end() + 40]!r}…" for m in FORBIDDEN.finditer(text)]


def heading_findings(where: str, heading: str, lang: str) -> list[str]:
    found = [f"{where}: field name {m.group(0)!r} in heading {heading!r}" for m in FIELD_NAME.finditer(heading)
             if m.group(0) not in CODES]
    plain = heading.strip()
    if lang == "zh" and ENGLISH_ONLY.match(plain) and plain not in CODES:
        found.append(f"{where}: English heading {plain!r} in the Chinese view")
    return found


def cell_findings(where: str, rows: list[dict]) -> list[str]:
    found = []
    for number, row in enumerate(rows, start=2):
        for column, value in row.items():
            value = (value or "").strip()
            if value in MISSING_WORDS:
                found.append(f"{where} line {number} column {column}: {value!r} where an empty cell means missing")
            elif value and value[0] in "[{":
                try:
                    json.loads(value, parse_constant=lambda word: (_ for _ in ()).throw(ValueError(word)))
                except ValueError as error:
                    found.append(f"{where} line {number} column {column}: not strict JSON ({error}): {value[:80]!r}")
    return found


def report(findings: list[str]) -> str:
    return f"{len(findings)} findings:\n" + "\n".join(findings[:80])


class _Text(HTMLParser):
    """The text of an HTML document a person reads (not its scripts and styles), and its headings."""
    HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6", "th", "caption", "label", "legend"}

    def __init__(self):
        super().__init__()
        self.parts, self.headings, self._skip, self._heading = [], [], 0, []

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")
        if tag in self.HEADINGS:
            self._heading.append([])

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style") and self._skip > 0
        if tag in self.HEADINGS and self._heading:
            self.headings.append("".join(self._heading.pop()).strip())

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)
            for heading in self._heading:
                heading.append(data)


def html_text(markup: str) -> tuple[str, list[str]]:
    parser = _Text()
    parser.feed(markup)
    return " ".join(parser.parts), parser.headings


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    return replay_fixture.played_once(tmp_path_factory)


def _months_and_years(played) -> tuple[list[str], list[str]]:
    days = sorted({o["observed_at"][:10] for o in replay_fixture.export(played["home"], "observations")})
    months = sorted({d[:7] for d in days})
    return months, sorted({m[:4] for m in months})


# --- command output -------------------------------------------------------------------------


def test_command_output_of_the_replay_run_says_no_programmer_word(played):
    findings = text_findings("envmon run --replay (stdout)", played["run"].stdout)
    findings += text_findings("envmon run --replay (stderr)", played["run"].stderr)
    for args in (("alerts", "list"), ("registry", "unknown")):
        result = replay_fixture.envmon(played["home"], *args)
        assert result.returncode in (0, 1), result.stderr
        findings += text_findings(f"envmon {' '.join(args)}", result.stdout + result.stderr)
    assert not findings, report(findings)


# --- exports ----------------------------------------------------------------------------------


def test_every_export_writes_missing_as_an_empty_cell(played):
    from pipelines.cli.commands import EXPORTS

    findings, filled = [], 0
    for table in EXPORTS:
        rows = replay_fixture.export(played["home"], table)
        filled += bool(rows)
        findings += cell_findings(f"envmon export {table}", rows)
    assert filled >= 4, "the replay left most exports empty: nothing was scanned"
    assert not findings, report(findings)


# --- bulletins and annual reports -----------------------------------------------------------


def _document_findings(label: str, files: dict) -> list[str]:
    from openpyxl import load_workbook

    findings = []
    text, headings = html_text(Path(files["html"]["path"]).read_text(encoding="utf-8"))
    findings += text_findings(f"{label}.html", text)
    findings += [f for h in headings for f in heading_findings(f"{label}.html", h, "zh")]
    workbook = load_workbook(files["xlsx"]["path"], read_only=True)
    for sheet in workbook.worksheets:
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            for value in row:
                if value is None:
                    continue  # an empty cell: what a spreadsheet shows for missing
                if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
                    findings.append(f"{label}.xlsx {sheet.title} row {number}: the number {value!r}")
                    continue
                findings += text_findings(f"{label}.xlsx {sheet.title} row {number}", str(value))
            cells = [value for value in row if value is not None]
            if len(cells) >= 3 and all(isinstance(value, str) for value in cells):  # a header row: text only
                findings += [f for value in cells
                             for f in heading_findings(f"{label}.xlsx {sheet.title} row {number}", value, "zh")]
    pdf = subprocess.run(["pdftotext", "-layout", files["pdf"]["path"], "-"], capture_output=True, text=True)
    assert pdf.returncode == 0, pdf.stderr
    findings += text_findings(f"{label}.pdf", pdf.stdout)
    return findings


def _documents(played) -> list[tuple[str, list[str]]]:
    """Each month's bulletin and each year's annual report the replay reaches, for the region
    (every format each). A city bureau's documents are the same renderers over fewer rows: kept out
    for the suite's time (each document takes 15-30 s to print on 2 cores)."""
    months, years = _months_and_years(played)
    return ([(f"bulletin {m}", ["bulletin", "--month", m]) for m in months]
            + [(f"assessment-report {y}", ["assessment-report", "--year", y]) for y in years])


def test_every_bulletin_and_annual_report_in_every_format_says_no_programmer_word(played):
    # make test installs poppler-utils (tests/system-packages.sh): a PDF left unread is a failure, not a skip
    assert shutil.which("pdftotext"), "pdftotext is missing: run tests/system-packages.sh (poppler-utils)"
    findings = []
    for label, args in _documents(played):
        result = replay_fixture.envmon(played["home"], *args, "--json")
        assert result.returncode == 0, f"{label}: {result.stderr}"
        findings += text_findings(f"envmon {label} (stderr)", result.stderr)
        files = json.loads(result.stdout)["files"]
        assert set(files) == {"html", "xlsx", "pdf"}, files
        findings += _document_findings(label.replace(" ", "-"), files)
    assert not findings, report(findings)


# --- notices ----------------------------------------------------------------------------------


def test_every_notice_in_the_outbox_says_no_programmer_word(played):
    outbox = played["home"] / "outbox"
    messages = sorted(outbox.glob("*.eml")) if outbox.is_dir() else []
    assert messages, "the replay raised no notice: nothing to scan"
    findings = []
    for path in messages:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        findings += text_findings(f"{path.name} subject", str(message["subject"]))
        for part in message.walk():
            if part.get_content_maintype() != "text":
                continue
            body = part.get_content()
            text = html_text(body)[0] if part.get_content_subtype() == "html" else body
            findings += text_findings(f"{path.name} ({part.get_content_type()})", text)
    assert not findings, report(findings)


# --- the app, in chromium ---------------------------------------------------------------------

FIGURE_TEXTS = """() => {
  const out = [];
  const add = v => { if (Array.isArray(v)) v.forEach(add); else if (typeof v === 'string') out.push(v);
                     else if (typeof v === 'number' && !isFinite(v)) out.push(String(v)); };
  document.querySelectorAll('.js-plotly-plot').forEach(g => {
    (g.data || []).forEach(t => { add(t.name); add(t.text); add(t.hovertext); add(t.customdata); });
    const l = g.layout || {};
    const title = x => x && (typeof x === 'string' ? x : x.text);
    out.push(title(l.title) || '');
    Object.keys(l).filter(k => /^[xy]axis/.test(k)).forEach(k => out.push(title(l[k].title) || ''));
    (l.annotations || []).forEach(a => out.push(a.text || ''));
  });
  return out;
}"""
HEADINGS = """() => [...document.querySelectorAll(
  'h1,h2,h3,h4,h5,h6,th,label,legend,caption,.column-header-name,.dash-header,.gtitle,.xtitle,.ytitle,.legendtext')]
  .map(e => e.textContent.trim()).filter(t => t)"""


def _app_findings(played, tmp_path_factory) -> list[str]:
    from playwright.sync_api import sync_playwright

    from dashboards.app import users
    from dashboards.app.pages import PAGES
    from tests import dashboard_app_fixture as app_fixture
    from tests.test_dashboard_app_browser import CHROMIUM, CHROMIUM_FLAGS

    home = played["home"]
    users_path = tmp_path_factory.mktemp("scanner-users") / "users.json"
    who = {"region": None}
    users.add_user(users_path, "region", PASSWORD, "regional", "gx-dept")
    for city in users.CITY_BUREAUS:
        users.add_user(users_path, city, PASSWORD, "city", city)
        who[city] = city
    findings, scanned = [], []
    with app_fixture.running_dashboard(home, played["url"], users_path, "scanner") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            for name in who:
                context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
                page = context.new_page()
                page.goto(f"{base}/login")
                page.fill("#username", name)
                page.fill("#password", PASSWORD)
                page.click("#login-button")
                page.wait_for_load_state("networkidle")
                for lang in ("zh", "en"):
                    query = "?lang=en" if lang == "en" else ""
                    paths = [f"/{key}" for key in PAGES]
                    seen, details = set(), []
                    while paths:
                        path = paths.pop(0)
                        if path in seen:
                            continue
                        seen.add(path)
                        where = f"{path} as {name} ({lang})"
                        page.goto(f"{base}{path}{query}")
                        page.wait_for_load_state("networkidle", timeout=60_000)
                        page.wait_for_function("() => !document.querySelector('[data-dash-is-loading=\"true\"]')",
                                               timeout=60_000)
                        body = page.inner_text("body")
                        assert name in page.inner_text("#user-name"), f"{where}: not signed in as {name}"
                        scanned.append(where)
                        findings += text_findings(where, body)
                        findings += [f for text in page.evaluate(FIGURE_TEXTS)
                                     for f in text_findings(f"{where} figure", text)]
                        findings += [f for h in page.evaluate(HEADINGS) for f in heading_findings(where, h, lang)]
                        if not details:  # the detail pages the registry's pages link to (a few of each)
                            links = page.evaluate("() => [...document.querySelectorAll('a[href]')]"
                                                  ".map(a => a.getAttribute('href'))")
                            details = sorted({link.split("?")[0] for link in links
                                              if link.startswith("/") and link.count("/") >= 2
                                              and link.split("/")[1] in PAGES})[:3]
                            paths += details
                    for key, module in PAGES.items():  # every table the pages offer, as CSV
                        for table in getattr(module, "TABLES", {}):
                            answer = context.request.get(f"{base}/download/{key}/{table}.csv{query}")
                            if answer.status != 200:
                                continue  # not this user's (a city bureau's limits)
                            rows = list(csv.DictReader(io.StringIO(answer.text().lstrip("\ufeff"))))
                            findings += cell_findings(f"download {key}/{table}.csv as {name} ({lang})", rows)
                context.close()
        finally:
            browser.close()
    assert len(scanned) >= len(who) * 2 * len(PAGES), f"only {len(scanned)} pages scanned"
    return findings


def test_every_page_for_every_user_in_both_languages_says_no_programmer_word(played, tmp_path_factory):
    if shutil.which("chromium") is None and not Path("/usr/bin/chromium").exists():
        pytest.fail("chromium is not installed: run tests/system-packages.sh")
    findings = _app_findings(played, tmp_path_factory)
    assert not findings, report(findings)


# --- the rules themselves ---------------------------------------------------------------------


def test_the_rules_catch_what_they_are_for():
    assert text_findings("x", "总磷 nan · 未达标") and text_findings("x", "[{\"basis\": \"day\"}]")
    assert text_findings("x", "AQI None") and text_findings("x", "at NaT") and text_findings("x", "-inf")
    assert not text_findings("x", "Nanning 南宁 · information · 无数据 · none")
    assert heading_findings("x", "rows_read", "en") and heading_findings("x", "status", "zh")
    assert not heading_findings("x", "pm2_5", "zh") and not heading_findings("x", "status", "en")
    assert cell_findings("x", [{"value": "nan"}]) and cell_findings("x", [{"items": '[{"v": NaN}]'}])
    assert not cell_findings("x", [{"value": "", "items": '[{"v": null}]'}])
