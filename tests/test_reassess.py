"""`envmon reassess`: stored assessments recomputed under the rules in force, each result with its rule
version, and the results they replace kept in assessment_history."""
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import update

from pipelines import nightly
from pipelines.config import load_settings
from pipelines.observations import conform, with_partition_day
from pipelines.quality.validation import validate
from pipelines.ingest.reassess import reassess
from pipelines.reference import standards
from pipelines.sources import simulator
from warehouse import db, schema

DAY = date(2026, 3, 2)
ENVMON = str(Path(sys.executable).parent / "envmon")


def _warehouse_with_a_day_of_air(url, home):
    settings = load_settings({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url})
    engine = db.engine_for(url)
    db.migrate(engine)
    outcome = validate(conform(simulator.simulate_air(DAY, 1)), "air")
    good = with_partition_day(outcome.good)
    log = {"source": "simulated-air", "partition_day": DAY, "domain": "air", "batch_id": good["batch_id"][0],
           "rows_read": len(good), "rows_loaded": len(good), "rows_quarantined": 0, "suite_name": outcome.suite_name,
           "loaded_at": datetime.now(timezone.utc)}
    db.load_partition(engine, "simulated-air", DAY, good, outcome.quarantined.assign(partition_day=DAY), log)
    nightly.assess(DAY, settings)
    return settings, engine


def _air(engine) -> pd.DataFrame:
    frame = db.read_table(engine, "assessments")
    return frame[frame["domain"] == "air"].set_index("station_id").sort_index()


def _as_written_before_rule_versions(engine, aqi=42):
    """What a result stored before migration 0009 looks like: no rule version, the 2012 standard."""
    a = schema.assessments
    with engine.begin() as connection:
        connection.execute(update(a).where(a.c.domain == "air").values(
            rule_version=None, aqi=aqi, standard="HJ 633-2012; GB 3095-2012; HJ 663-2013"))


def test_the_nightly_assessment_records_the_rule_version_of_its_day(warehouse_url, tmp_path):
    _, engine = _warehouse_with_a_day_of_air(warehouse_url, tmp_path)
    air = _air(engine)
    assert (air["rule_version"] == standards.rule_version("air", DAY).id).all()
    assert air["standard"].str.startswith("HJ 633—2026").all()
    water = db.read_table(engine, "assessments").query("domain != 'air'")
    assert (water["rule_version"].str.len() > 0).all()


def test_reassess_recomputes_and_keeps_the_old_results_in_history(warehouse_url, tmp_path):
    settings, engine = _warehouse_with_a_day_of_air(warehouse_url, tmp_path)
    computed = _air(engine)
    _as_written_before_rule_versions(engine)
    summary = reassess(DAY, DAY, settings)
    assert summary["days_reassessed"] == 1
    assert summary["new_rule_version"] == len(computed) and summary["kept_in_history"] == len(computed)
    assert summary["rule_versions"] == {f"(not recorded) → {standards.rule_version('air', DAY).id}": len(computed)}
    now = _air(engine)
    assert now["aqi"].tolist() == computed["aqi"].tolist() and now["rule_version"].notna().all()
    history = db.read_table(engine, "assessment_history")
    assert len(history) == len(computed)
    assert (history["aqi"] == 42).all() and history["rule_version"].isna().all()   # what was reported then
    assert (history["superseded_by_rule_version"] == standards.rule_version("air", DAY).id).all()
    # again: nothing new under the same rules
    assert reassess(DAY, DAY, settings)["kept_in_history"] == 0


def test_a_changed_rule_table_gives_a_new_version_and_the_old_one_stays(warehouse_url, tmp_path, monkeypatch):
    settings, engine = _warehouse_with_a_day_of_air(warehouse_url, tmp_path)
    before = _air(engine)
    # a correction of the HJ 633—2026 PM2.5 row (hypothetical): IAQI 100 at 65 µg/m³ instead of 60
    shutil.copytree(standards.DATA_DIR, tmp_path / "rules")
    path = tmp_path / "rules" / "hj633_breakpoints.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[(table["code"] == "pm2_5") & (table["valid_from"] == "2026-03-01"), "iaqi_100"] = "65"
    table.to_csv(path, index=False)
    monkeypatch.setattr(standards, "DATA_DIR", tmp_path / "rules")
    standards.reload_rules()
    try:
        corrected = standards.rule_version("air", DAY).id
        summary = reassess(DAY, DAY, settings)
        after = _air(engine)
    finally:
        monkeypatch.undo()
        standards.reload_rules()
    assert corrected != before["rule_version"].iloc[0]
    assert summary["new_rule_version"] == len(before) and (after["rule_version"] == corrected).all()
    assert (after["aqi"] <= before["aqi"]).all()   # a higher breakpoint can only lower a PM2.5 index
    history = db.read_table(engine, "assessment_history").set_index("station_id").sort_index()
    assert history["aqi"].tolist() == before["aqi"].tolist()
    assert (history["rule_version"] == before["rule_version"].iloc[0]).all()


def test_envmon_reassess_and_the_history_export(tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    _, engine = _warehouse_with_a_day_of_air(url, tmp_path)
    _as_written_before_rule_versions(engine, aqi=7)
    env = {**os.environ, "ENVMON_HOME": str(tmp_path), "ENVMON_WAREHOUSE_URL": url}
    result = subprocess.run([ENVMON, "reassess", "--from", "2026-03-01", "--to", "2026-03-31", "--json"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["days_reassessed"] == 1 and summary["kept_in_history"] == summary["new_rule_version"] > 0
    exported = subprocess.run([ENVMON, "export", "assessment-history"], capture_output=True, text=True, env=env,
                              timeout=300)
    assert exported.returncode == 0, exported.stderr
    history = pd.read_csv(io.StringIO(exported.stdout))
    assert (history["aqi"] == 7).all() and history["superseded_at"].str.endswith("+00:00").all()
    backwards = subprocess.run([ENVMON, "reassess", "--from", "2026-03-31", "--to", "2026-03-01"],
                               capture_output=True, text=True, env=env, timeout=300)
    assert backwards.returncode == 2 and "before" in backwards.stderr


def test_days_without_stored_assessments_are_left_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    settings, engine = _warehouse_with_a_day_of_air(url, tmp_path)
    stored = len(db.read_table(engine, "assessments"))
    assert reassess(date(2026, 3, 3), date(2026, 3, 31), settings)["days_reassessed"] == 0
    assert len(db.read_table(engine, "assessments")) == stored
