"""The real-format path end to end: a payload file through `envmon ingest` and through the
nightly run's collection in files mode, into the warehouse and out of `envmon export`."""
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

from pipelines import nightly
from pipelines.config import load_settings
from tests.conftest import FIXTURES

ENVMON = str(Path(sys.executable).parent / "envmon")


def _envmon(home, *args):
    env = {**os.environ, "ENVMON_HOME": str(home)}
    env.pop("ENVMON_WAREHOUSE_URL", None)
    return subprocess.run([ENVMON, *args], capture_output=True, text=True, env=env, timeout=300)


def test_ingest_command_loads_a_water_payload_and_export_shows_it(tmp_path):
    result = _envmon(tmp_path, "ingest", "--source", "cnemc-water", "--file", str(FIXTURES / "cnemc-water-publish.json"),
                     "--fetched-at", "2027-01-01T02:00:00+08:00", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["sources"]["cnemc-water"]
    assert summary["domain"] == "water" and summary["out_of_scope"] == 22
    assert summary["read"] == summary["loaded"] + summary["quarantined"] + summary["out_of_scope"]
    exported = _envmon(tmp_path, "export", "observations", "--format", "csv").stdout
    assert "nanliu-hengtang,横塘,nh3n,2026-12-31T20:00:00+08:00,0.41234" in exported
    again = _envmon(tmp_path, "ingest", "--source", "cnemc-water", "--file", str(FIXTURES / "cnemc-water-publish.json"),
                    "--fetched-at", "2027-01-01T02:00:00+08:00", "--json")
    assert again.returncode == 0
    assert _envmon(tmp_path, "export", "observations", "--format", "csv").stdout == exported


def test_ingest_command_rejects_html_with_a_clear_error(tmp_path):
    page = tmp_path / "page.json"
    page.write_text("<html>maintenance</html>")
    result = _envmon(tmp_path, "ingest", "--source", "cnemc-water", "--file", str(page))
    assert result.returncode == 1 and "not a Publish.ashx response" in result.stderr


def test_files_mode_runs_every_inbox_payload_through_the_one_payload_path(tmp_path):
    """In files mode the nightly run collects the inbox as `envmon ingest` would: each new payload
    archived, logged and merged once; its day is left to the run's own assess task."""
    from pipelines.ingest import collect
    from warehouse import db

    inbox = tmp_path / "inbox" / "cnemc-air"
    inbox.mkdir(parents=True)
    shutil.copy(FIXTURES / "cnemc-air-hourly.csv", inbox / "2026-03-15T0100.csv")
    settings = load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_SOURCE_MODE": "files",
                              "ENVMON_INBOX": str(tmp_path / "inbox")})
    assert nightly.sources_for(settings) == ()
    day = date(2026, 3, 15)
    collected = collect.collect_inbox("cnemc-air", settings, run_day=day)
    entry = collected["sources"]["cnemc-air"]
    assert entry["read"] > 0 and entry["read"] == entry["loaded"] + entry["quarantined"] + entry["out_of_scope"]
    assert day.isoformat() in collected["days"] and day.isoformat() not in collected["reassessed"]
    engine = db.engine_for(settings.warehouse_url)
    (payload,) = db.read_table(engine, "payloads").to_dict("records")
    assert payload["status"] == "loaded" and payload["rows_loaded"] == entry["loaded"]
    assert collect.collect_inbox("cnemc-air", settings, run_day=day)["payloads"] == []  # nothing new
