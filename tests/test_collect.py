"""Collection on the feeds' own cadence: the inbox of laboratory and coastal files is watched, each
new content ingested once through the one payload path, a broken file logged with its reason
without stopping the others, and the past days a late file changes are re-assessed at once."""
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from pipelines.ingest import collect
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from warehouse import db

TEMPLATES = Path(__file__).resolve().parents[1] / "pipelines" / "templates"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=BUREAU_TZ)


@pytest.fixture
def settings(tmp_path):
    (tmp_path / "inbox" / "lab").mkdir(parents=True)
    return load_settings({"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_INBOX": str(tmp_path / "inbox")})


def test_new_inbox_files_are_ingested_once_and_a_broken_one_is_logged_with_its_reason(settings):
    lab = settings.inbox / "lab"
    shutil.copy(TEMPLATES / "lab-results-example.csv", lab / "results-1103.csv")
    (lab / "empty.csv").write_bytes(b"")
    first = collect.collect_inbox("lab", settings, NOW)
    engine = db.engine_for(settings.warehouse_url)
    payloads = db.read_table(engine, "payloads").set_index("origin")
    assert payloads.loc[str(lab / "results-1103.csv"), "status"] == "loaded"
    assert payloads.loc[str(lab / "empty.csv"), "status"] == "failed"
    assert [f["file"] for f in first["failed"]] == [str(lab / "empty.csv")] and first["failed"][0]["error"]
    entry = first["sources"]["lab"]
    assert entry["read"] == entry["loaded"] + entry["quarantined"] + entry["out_of_scope"] > 0
    # the lab days are past: they are assessed at once, not at the next nightly run
    assert first["days"] == first["reassessed"] == ["2026-11-03", "2026-11-04"]  # the two sampling days
    assessed = db.read_table(engine, "assessments")
    assert "nanliu-hengtang" in set(assessed.loc[assessed["period_start"].astype(str) == "2026-11-03", "station_id"])

    # the same content again (also under another name) is not ingested twice
    shutil.copy(TEMPLATES / "lab-results-example.csv", lab / "results-1103-copy.csv")
    again = collect.collect_inbox("lab", settings, NOW)
    assert again["payloads"] == [] and again["failed"] == []
    assert len(db.read_table(engine, "payloads")) == 2


def test_an_inbox_that_does_not_exist_collects_nothing(settings):
    result = collect.collect_inbox("coastal", settings, NOW)
    assert result["payloads"] == [] and result["sources"]["coastal"]["read"] == 0


def test_only_sources_with_an_inbox_or_a_live_client_can_be_collected(settings):
    with pytest.raises(ValueError, match="no inbox"):
        collect.collect_inbox("simulated-air", settings, NOW)
    with pytest.raises(ValueError, match="no live client"):
        collect.collect_live("lab", settings, NOW)
