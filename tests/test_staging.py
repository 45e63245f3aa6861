"""Staging keeps what a run in flight needs (issue 27): a batch's Parquet copies in staged_batches
are pruned once its load committed, their batch ids kept, so the warehouse does not hold every
night twice and a re-run of a loaded night still touches nothing; a night stopped between its tasks
keeps its copies and its load finishes it. On SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, select

from pipelines import nightly
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ, batch_id, conform
from pipelines.sources import simulator
from warehouse import db, schema, staging

SOURCE = "simulated-water"
SECTION = "jiuzhou-wenchequiao"
DAYS = (date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22))
STAGES = ("ingested", "valid", "quarantined")


def known_day(day: date, seed: int, faults=None, fetched_at=None, nh3n: float = 0.40) -> pd.DataFrame:
    """Six NH3-N readings of one section (the simulator's signature), the first `nh3n`."""
    rows = [{"station_id": SECTION, "parameter": "nh3n", "averaging_period": "PT0S", "utc_offset_minutes": 480,
             "observed_at": datetime.combine(day, datetime.min.time(), BUREAU_TZ) + timedelta(hours=hour),
             "value": value, "original_value": f"{value:g}", "unit": "mg/L", "qc_flag": "not_evaluated",
             "qc_note": "", "source": SOURCE, "batch_id": ""}
            for hour, value in zip((2, 6, 10, 14, 18, 22), (nh3n, 0.42, 0.41, 0.43, 0.39, 0.44))]
    frame = conform(pd.DataFrame(rows))
    frame["batch_id"] = batch_id(SOURCE, day, frame)
    return frame


def staged_bytes(engine, day: date | None = None) -> dict[str, int]:
    """stage → bytes of its Parquet copy (all days, or one)."""
    table = schema.staged_batches
    query = select(table.c.stage, func.sum(func.length(table.c.parquet))).group_by(table.c.stage)
    if day is not None:
        query = query.where(table.c.partition_day == day)
    with engine.connect() as connection:
        return {stage: int(size or 0) for stage, size in connection.execute(query).all()}


@pytest.fixture
def night(warehouse_url, tmp_path, monkeypatch):
    monkeypatch.setitem(simulator.SIMULATORS, SOURCE, known_day)
    settings = load_settings({"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_WAREHOUSE_URL": warehouse_url})
    nightly.prepare_warehouse(settings)
    return settings, db.engine_for(settings.warehouse_url)


def test_loaded_nights_are_not_kept_twice_and_a_rerun_touches_nothing(night):
    settings, engine = night
    for day in DAYS:
        for step in (nightly.ingest, nightly.validate, nightly.load):
            step(SOURCE, day, settings)
    # every night loaded: its staged rows and batch ids kept, no Parquet copy left
    assert staged_bytes(engine) == {stage: 0 for stage in STAGES}
    for day in DAYS:
        batch = db.partition_batch(engine, SOURCE, day)
        assert staging.staged_batch_ids(engine, SOURCE, day) == {stage: batch for stage in STAGES}
        assert staging.staged_rows(engine, SOURCE, day) == {"ingested": 6, "valid": 6, "quarantined": 0}
    # the whole night again, unchanged: told loaded from the batch ids, nothing changed or re-staged
    day = DAYS[1]
    assert nightly.ingest(SOURCE, day, settings)["read"] == 6
    assert staged_bytes(engine, day)["ingested"] > 0          # the ingest staged its copy again
    assert nightly.validate(SOURCE, day, settings) == {"source": SOURCE, "day": day.isoformat(), "read": 6,
                                                       "skipped": "batch already loaded"}
    loaded = nightly.load(SOURCE, day, settings)
    assert (loaded["changed"], loaded["loaded"], loaded["skipped"]) == (False, 6, "batch already loaded")
    assert staged_bytes(engine) == {stage: 0 for stage in STAGES}
    with pytest.raises(LookupError, match="pruned"):
        staging.get(engine, SOURCE, day, "valid")


def test_a_night_stopped_between_its_tasks_keeps_its_copies_and_its_load_finishes_it(night, monkeypatch):
    settings, engine = night
    day = DAYS[0]
    for step in (nightly.ingest, nightly.validate, nightly.load):
        step(SOURCE, day, settings)
    # the feed corrects the day; this run stops after validate: its copies are what its load needs
    monkeypatch.setitem(simulator.SIMULATORS, SOURCE, lambda *a, **k: known_day(*a, **k, nh3n=0.90))
    nightly.ingest(SOURCE, day, settings)
    assert nightly.validate(SOURCE, day, settings)["valid"] == 6
    assert all(staged_bytes(engine, day)[stage] > 0 for stage in STAGES)
    # the load, taken up later (a re-run of the task), loads the corrected batch, then prunes it
    assert nightly.load(SOURCE, day, settings)["changed"] is True
    stored = db.observations_for_day(engine, day)
    assert sorted(stored["value"].astype(float)) == [0.39, 0.41, 0.42, 0.43, 0.44, 0.90]
    assert staged_bytes(engine, day) == {stage: 0 for stage in STAGES}
