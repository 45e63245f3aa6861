"""The nightly steps themselves (ingest → validate → load → assess), on a day whose readings are
known: which QC flags the assessment uses (ENVMON_ASSESSABLE_FLAGS), and the reconciliation of
rows read, counted on what the source produced, against rows loaded and quarantined."""
import json
from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from pipelines import clock, nightly
from pipelines.cli.summary import run_summary
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ, batch_id, conform
from pipelines.sources import simulator
from warehouse import db, staging

DAY = date(2026, 11, 20)
SECTION = "jiuzhou-wenchequiao"   # 鼠岭(文车桥), 九洲江, a river section with target class Ⅲ
SOURCE = "simulated-water"
HOURS = (2, 6, 10, 14, 18, 22)
# Six readings a day of each parameter (the day rule asks for 4), varied so that no QC series test
# (spike, rate of change, flat line) speaks; the flags are the source's own markers, as the CNEMC
# feed's 维护 (suspect) and 当天质控不合格 (fail) become.
READINGS = {
    # NH3-N, flag not_evaluated (QC makes it good): mean 0.415 mg/L, class Ⅱ (0.15 < x ≤ 0.5)
    "nh3n": ("not_evaluated", [0.40, 0.42, 0.41, 0.43, 0.39, 0.44]),
    # TP (river), flagged suspect: mean 0.355 mg/L, class Ⅴ (0.3 < x ≤ 0.4)
    "tp": ("suspect", [0.35, 0.36, 0.34, 0.37, 0.35, 0.36]),
    # CODMn, flagged fail: mean 16.25 mg/L, class 劣Ⅴ (> 15)
    "codmn": ("fail", [16.1, 16.3, 16.2, 16.4, 16.0, 16.5]),
}
UNITS = {"nh3n": "mg/L", "tp": "mg/L", "codmn": "mg/L"}


def known_day(day: date, seed: int, faults=None, fetched_at=None) -> pd.DataFrame:
    """Stands in for the water simulator (its signature: faults and fetch time, unused here): the
    readings above, nothing else."""
    rows = [{"station_id": SECTION, "parameter": code, "averaging_period": "PT0S", "utc_offset_minutes": 480,
             "observed_at": datetime.combine(day, datetime.min.time(), BUREAU_TZ) + timedelta(hours=hour),
             "value": value, "original_value": f"{value:g}", "unit": UNITS[code], "qc_flag": flag,
             "qc_note": "" if flag == "not_evaluated" else f"source marker ({flag})", "source": SOURCE,
             "batch_id": ""}
            for code, (flag, values) in READINGS.items() for hour, value in zip(HOURS, values)]
    frame = conform(pd.DataFrame(rows))
    frame["batch_id"] = batch_id(SOURCE, day, frame)
    return frame


def _settings(home, flags=None):
    return load_settings({"ENVMON_HOME": str(home), **({"ENVMON_ASSESSABLE_FLAGS": flags} if flags else {})})


@pytest.fixture(scope="module")
def loaded_day(tmp_path_factory):
    """The known day through the real ingest, validate and load steps, once."""
    home = tmp_path_factory.mktemp("nightly")
    settings = _settings(home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(simulator.SIMULATORS, SOURCE, known_day)
        nightly.prepare_warehouse(settings)
        ingested = nightly.ingest(SOURCE, DAY, settings)
        nightly.validate(SOURCE, DAY, settings)
        loaded = nightly.load(SOURCE, DAY, settings)
    return home, ingested, loaded


def test_the_known_readings_are_loaded_with_their_flags(loaded_day):
    home, ingested, loaded = loaded_day
    assert ingested["read"] == 18 and loaded["loaded"] == 18 and loaded["quarantined"] == 0
    stored = db.read_table(db.engine_for(_settings(home).warehouse_url), "observations")
    assert stored.groupby("parameter")["qc_flag"].unique().map(list).to_dict() == {
        "nh3n": ["good"], "tp": ["suspect"], "codmn": ["fail"]}


def _section_day(home, flags):
    settings = _settings(home, flags)
    nightly.assess(DAY, settings)
    (row,) = [a for a in db.assessments_for_day(db.engine_for(settings.warehouse_url), DAY) if a["station_id"] == SECTION]
    return row


@pytest.mark.parametrize("flags, water_class, compliant, indicators, failing", [
    # default good,not_evaluated: NH3-N alone, class Ⅱ, the section meets its target Ⅲ
    (None, "Ⅱ", True, "nh3n", []),
    ("good,not_evaluated,suspect", "Ⅴ", False, "nh3n;tp", ["tp"]),
    ("good,not_evaluated,fail", "劣Ⅴ", False, "codmn;nh3n", ["codmn"]),
    ("good,not_evaluated,suspect,fail", "劣Ⅴ", False, "codmn;nh3n;tp", ["codmn", "tp"]),
])
def test_the_nightly_assessment_uses_only_the_flags_the_bureau_assesses(loaded_day, flags, water_class, compliant,
                                                                      indicators, failing):
    home, _, _ = loaded_day
    row = _section_day(home, flags)
    # the known day holds NH3-N, TP and CODMn only: without pH and DO the day is 'indicators incomplete'
    # (required_indicators.csv, issue 21): never compliant, a failure on what it has still a failure
    assert (row["status"], row["water_class"], row["is_compliant"]) == \
        ("indicators incomplete", water_class, False if compliant is False else None)
    assert row["indicators_assessed"] == indicators
    assert sorted(item["parameter"] for item in json.loads(row["failing_parameters"])) == failing
    assert row["values_used"] == 6 * len(indicators.split(";"))


def test_the_days_rollups_count_the_flagged_values_apart(loaded_day):
    home, _, _ = loaded_day
    _section_day(home, None)
    rollups = db.rollups(db.engine_for(_settings(home).warehouse_url), "day", ("nh3n", "tp", "codmn"))
    counts = rollups.set_index("parameter")[["values_assessable", "values_flagged"]].to_dict("index")
    assert counts == {"nh3n": {"values_assessable": 6, "values_flagged": 0},
                      "tp": {"values_assessable": 0, "values_flagged": 6},
                      "codmn": {"values_assessable": 0, "values_flagged": 6}}


def test_rows_read_are_what_the_source_produced_so_a_row_lost_after_ingest_fails_reconciliation(tmp_path, monkeypatch):
    monkeypatch.setitem(simulator.SIMULATORS, SOURCE, known_day)
    settings = _settings(tmp_path)
    engine = db.engine_for(settings.warehouse_url)
    nightly.prepare_warehouse(settings)
    produced = len(known_day(DAY, settings.simulator_seed))   # counted here, apart from the pipeline
    nightly.ingest(SOURCE, DAY, settings)
    nightly.validate(SOURCE, DAY, settings)
    # a validation or QC step that loses a row: the staged valid batch without its first row
    valid = staging.get(engine, SOURCE, DAY, "valid")
    staging.put(engine, SOURCE, DAY, "valid", valid.iloc[1:], valid["batch_id"].iloc[0])
    loaded = nightly.load(SOURCE, DAY, settings)
    assert (loaded["loaded"], loaded["quarantined"]) == (produced - 1, 0)
    summary = run_summary(engine, [DAY], clock.now(), "", "simulated")
    assert summary["sources"][SOURCE]["read"] == produced
    assert summary["sources"][SOURCE]["reconciled"] is False and summary["reconciled"] is False


def test_a_day_that_loses_nothing_reconciles_with_the_count_made_apart(tmp_path):
    settings = _settings(tmp_path)
    engine = db.engine_for(settings.warehouse_url)
    nightly.prepare_warehouse(settings)
    produced = len(simulator.simulate_air(DAY, settings.simulator_seed))
    for step in (nightly.ingest, nightly.validate, nightly.load):
        step("simulated-air", DAY, settings)
    entry = run_summary(engine, [DAY], clock.now(), "", "simulated")["sources"]["simulated-air"]
    assert entry["read"] == produced and entry["quarantined"] > 0   # the simulator's sensor errors
    assert entry["reconciled"] and entry["loaded"] + entry["quarantined"] == produced
