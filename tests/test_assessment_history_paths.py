"""The assessment history on every path that writes assessments (issue 22): the nightly (`envmon
run`), the backfill (`envmon backfill`), the reassessment (`envmon reassess`), the archive (`envmon
ingest` of many files) and the cross-boundary month rows (month_to_date_rows through
db.replace_assessments). Each path runs once under the rules of the repository, then again after a
hypothetical rule revision; what the first run stored must then be in `envmon export
assessment-history --format csv`, each row with the rule version it was computed under and the one
that superseded it, with the results reported then.

The revision (a copy of pipelines/reference/data, as tests/test_reassess.py makes one): HJ 633—2026
PM2.5 IAQI 100 at 65 µg/m³ instead of 60 (air), and a corrected clause citation on every row of GB
3838 and GB 3097 (surface water and seawater): each domain's rule version changes."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipelines.cli.commands import main
from pipelines.reference import standards

DAY = date(2026, 3, 2)
MONTH = date(2026, 3, 1)
ENVMON = str(Path(sys.executable).parent / "envmon")
RESULTS = ["water_class", "is_compliant", "aqi", "status"]


def revise_rules(folder: Path) -> Path:
    shutil.copytree(standards.DATA_DIR, folder)
    path = folder / "hj633_breakpoints.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[(table["code"] == "pm2_5") & (table["valid_from"] == "2026-03-01"), "iaqi_100"] = "65"
    table.to_csv(path, index=False)
    for name in ("gb3838_surface_water.csv", "gb3097_seawater.csv"):
        table = pd.read_csv(folder / name, dtype=str, keep_default_na=False)
        table["clause"] = table["clause"] + " (corrected citation)"
        table.to_csv(folder / name, index=False)
    return folder


@pytest.fixture
def revised(tmp_path, monkeypatch):
    """The rule versions of DAY (and of MONTH's last day) now and under the revision, and a
    switch that puts the revision in force in this process."""
    folder = revise_rules(tmp_path / "revised-rules")
    month_end = date(2026, 3, 31)

    def versions():
        standards.reload_rules()
        return {("air", "day"): standards.rule_version("air", DAY).id,
                ("surface_water", "day"): standards.rule_version("surface_water", DAY).id,
                ("seawater", "day"): standards.rule_version("seawater", DAY).id,
                ("surface_water", "month"): standards.rule_version("surface_water", month_end).id}

    old = versions()
    monkeypatch.setattr(standards, "DATA_DIR", folder)
    new = versions()
    monkeypatch.undo()
    standards.reload_rules()
    assert all(old[k] != new[k] for k in old)

    def enforce():
        monkeypatch.setattr(standards, "DATA_DIR", folder)
        standards.reload_rules()

    yield {"folder": folder, "old": old, "new": new, "enforce": enforce}
    monkeypatch.undo()
    standards.reload_rules()


def _env(home: Path, url: str) -> dict:
    return {**os.environ, "ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url}


def envmon(env: dict, *args: str, rules: Path | None = None) -> str:
    """`envmon ARGS` in a subprocess; with `rules`, under that copy of the rule tables (the same
    command, its process's standards.DATA_DIR pointed there before anything reads a rule)."""
    if rules is None:
        command = [ENVMON, *args]
    else:
        command = [sys.executable, "-c", "import sys; from pathlib import Path; from pipelines.reference import standards; "
                   f"standards.DATA_DIR = Path({str(rules)!r}); from pipelines.cli.commands import main; "
                   "sys.exit(main(sys.argv[1:]))", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def exported_in_process(monkeypatch, capsys, home: Path, url: str, table: str) -> pd.DataFrame:
    monkeypatch.setenv("ENVMON_HOME", str(home))
    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", url)
    capsys.readouterr()
    assert main(["export", table, "--format", "csv"]) == 0
    return pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str, keep_default_na=False)


def assert_superseded(history: pd.DataFrame, before: pd.DataFrame, revised: dict, partitions) -> None:
    """Every assessment `before` held in `partitions` ((domain, period, period_start)) is in the
    exported history, computed under the old version, superseded by the new one, with the result
    reported then."""
    for domain, period, start in partitions:
        was = before[(before["domain"] == domain) & (before["period"] == period)
                     & (before["period_start"] == start.isoformat())].set_index("station_id").sort_index()
        kept = history[(history["domain"] == domain) & (history["period"] == period)
                       & (history["period_start"] == start.isoformat())].set_index("station_id").sort_index()
        what = f"{domain} {period} {start}"
        assert len(was) > 0, f"{what}: nothing stored by the first run"
        assert list(kept.index) == list(was.index), f"{what}: superseded rows missing from the history"
        assert (kept["rule_version"] == revised["old"][(domain, period)]).all(), what
        assert (kept["superseded_by_rule_version"] == revised["new"][(domain, period)]).all(), what
        assert kept["superseded_at"].str.endswith("+00:00").all(), what
        pd.testing.assert_frame_equal(kept[RESULTS], was[RESULTS], obj=what)


EVERY_PARTITION = [("air", "day", DAY), ("surface_water", "day", DAY), ("seawater", "day", DAY),
                   ("surface_water", "month", MONTH)]


def test_the_nightly_run_keeps_what_it_replaces(tmp_path, revised):
    env = _env(tmp_path / "home", f"sqlite:///{tmp_path / 'warehouse.db'}")
    envmon(env, "run", "--date", DAY.isoformat())
    before = pd.read_csv(io.StringIO(envmon(env, "export", "assessments")), dtype=str, keep_default_na=False)
    envmon(env, "run", "--date", DAY.isoformat(), rules=revised["folder"])
    history = pd.read_csv(io.StringIO(envmon(env, "export", "assessment-history", "--format", "csv")), dtype=str,
                          keep_default_na=False)
    assert_superseded(history, before, revised, EVERY_PARTITION)


def test_the_backfill_keeps_what_it_replaces(tmp_path, revised):
    env = _env(tmp_path / "home", f"sqlite:///{tmp_path / 'warehouse.db'}")
    first, last = "2026-03-01", DAY.isoformat()
    envmon(env, "backfill", "--from", first, "--to", last)
    before = pd.read_csv(io.StringIO(envmon(env, "export", "assessments")), dtype=str, keep_default_na=False)
    envmon(env, "backfill", "--from", first, "--to", last, rules=revised["folder"])
    history = pd.read_csv(io.StringIO(envmon(env, "export", "assessment-history", "--format", "csv")), dtype=str,
                          keep_default_na=False)
    assert_superseded(history, before, revised, EVERY_PARTITION)
    # 2026-03-01 too: HJ 633—2026 is in force from that day
    assert_superseded(history, before, revised, [("air", "day", MONTH), ("surface_water", "day", MONTH)])


def _nightly_day(home: Path, url: str):
    """One simulated day loaded and assessed by the nightly's own steps, in this process."""
    from pipelines import nightly
    from pipelines.config import load_settings

    settings = load_settings({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url})
    nightly.prepare_warehouse(settings)
    for source in nightly.sources_for(settings):
        nightly.ingest(source, DAY, settings)
        nightly.validate(source, DAY, settings)
        nightly.load(source, DAY, settings)
    nightly.assess(DAY, settings)
    return settings


def test_the_reassessment_keeps_what_it_replaces(warehouse_url, tmp_path, revised, monkeypatch, capsys):
    home = tmp_path / "home"
    _nightly_day(home, warehouse_url)
    before = exported_in_process(monkeypatch, capsys, home, warehouse_url, "assessments")
    revised["enforce"]()
    assert main(["reassess", "--from", MONTH.isoformat(), "--to", "2026-03-31"]) == 0
    history = exported_in_process(monkeypatch, capsys, home, warehouse_url, "assessment-history")
    assert_superseded(history, before, revised, EVERY_PARTITION)


def test_the_archive_ingest_keeps_what_it_replaces(tmp_path, revised, monkeypatch, capsys):
    from tests.test_archive_ingest import FETCHED, write_archive

    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'warehouse.db'}"
    paths = write_archive(tmp_path / "archive")

    def ingest_all(*again):
        monkeypatch.setenv("ENVMON_HOME", str(home))
        monkeypatch.setenv("ENVMON_WAREHOUSE_URL", url)
        for source in ("cnemc-air", "cnemc-water"):
            files = [arg for path in paths[source] for arg in ("--file", str(path))]
            assert main(["ingest", "--source", source, *files, "--fetched-at", FETCHED, *again]) == 0

    ingest_all()
    before = exported_in_process(monkeypatch, capsys, home, url, "assessments")
    revised["enforce"]()
    ingest_all("--again")   # the same archive again, under the revision: its days assessed again
    history = exported_in_process(monkeypatch, capsys, home, url, "assessment-history")
    days = sorted({d for d in before[before["period"] == "day"]["period_start"]})
    months = sorted({d for d in before[before["period"] == "month"]["period_start"]})
    assert len(days) >= 3 and len(months) == 2   # 2026-10-31 … 11-02: two months' rows
    # the archive's days are in 2026-10/11: their versions, before and after, are those of their days
    for day in days:
        for domain in ("air", "surface_water"):
            at = date.fromisoformat(day)
            mine = {"old": {(domain, "day"): _version(domain, at)},
                    "new": {(domain, "day"): _version(domain, at, revised["folder"])}}
            assert_superseded(history, before, mine, [(domain, "day", at)])
    for month in months:
        start = date.fromisoformat(month)
        end = (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date()
        mine = {"old": {("surface_water", "month"): _version("surface_water", end)},
                "new": {("surface_water", "month"): _version("surface_water", end, revised["folder"])}}
        assert_superseded(history, before, mine, [("surface_water", "month", start)])


def _version(domain: str, at: date, rules: Path | None = None) -> str:
    """The rule version of `domain` at `at`, under the repository's rules or under `rules`."""
    kept = standards.DATA_DIR
    standards.DATA_DIR = rules or Path(standards.__file__).parent / "data"
    standards.reload_rules()
    try:
        return standards.rule_version(domain, at).id
    finally:
        standards.DATA_DIR = kept
        standards.reload_rules()


def test_the_month_rows_keep_what_they_replace(warehouse_url, tmp_path, revised, monkeypatch, capsys):
    """The cross-boundary month-to-date rows, as the nightly, the backfill and the archive path write
    them: month_to_date_rows of the month's rollups, stored by db.replace_assessments."""
    from pipelines.assessment import cross_boundary
    from warehouse import db

    home = tmp_path / "home"
    _nightly_day(home, warehouse_url)
    engine = db.engine_for(warehouse_url)
    before = exported_in_process(monkeypatch, capsys, home, warehouse_url, "assessments")
    revised["enforce"]()
    rows = cross_boundary.month_to_date_rows(db.rollups_for(engine, "month", MONTH), MONTH)
    db.replace_assessments(engine, "surface_water", MONTH, rows, period="month")
    history = exported_in_process(monkeypatch, capsys, home, warehouse_url, "assessment-history")
    assert_superseded(history, before, revised, [("surface_water", "month", MONTH)])
    assert set(history["period"]) == {"month"}   # only the partition written again
