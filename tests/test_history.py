"""The batched history (pipelines/history.py) leaves the warehouse as the nightly steps do, day by day."""
import uuid
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from pipelines import history, nightly
from pipelines.config import load_settings
from tests.conftest import POSTGRES_URL
from warehouse import db

# three days across a month's end: the QC context crosses a chunk, the month rows are made twice
DAYS = [date(2024, 1, 30), date(2024, 1, 31), date(2024, 2, 1)]
COMPARED = ("observations", "quarantine", "partition_log", "assessments", "rollups")
# written by the load itself, not by the data: a serial id and the time of the load
BOOKKEEPING = {"quarantine": ["quarantine_id"], "partition_log": ["loaded_at"]}


@pytest.fixture
def second_url(warehouse_url, tmp_path):
    """A second empty warehouse of the same kind as `warehouse_url`."""
    if warehouse_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    schema = f"envmon_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _settings(url, home):
    return load_settings({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url})


def _run_nightly_steps(settings, days):
    nightly.prepare_warehouse(settings)
    for day in days:
        for source in nightly.sources_for(settings):
            nightly.ingest(source, day, settings)
            nightly.validate(source, day, settings)
            nightly.load(source, day, settings)
        nightly.assess(day, settings)


def _table(url, name, drop=()):
    frame = db.read_table(db.engine_for(url), name).drop(columns=list(drop))
    for column in frame.columns:
        if frame[column].dtype == object:  # one representation of a missing value
            frame[column] = frame[column].where(frame[column].notna(), None)
    return frame.sort_values(list(frame.columns), key=lambda c: c.astype(str)).reset_index(drop=True)


def _tables(url, drop_bookkeeping=True):
    return {name: _table(url, name, BOOKKEEPING.get(name, []) if drop_bookkeeping else []) for name in COMPARED}


def test_the_batched_history_leaves_what_the_nightly_steps_leave(warehouse_url, second_url, tmp_path):
    _run_nightly_steps(_settings(warehouse_url, tmp_path / "nightly"), DAYS)
    summary = history.backfill(DAYS[0], DAYS[-1], _settings(second_url, tmp_path / "history"), workers=0)
    assert summary["days"] == 3 and summary["partitions_written"] == 9
    nightly_tables, history_tables = _tables(warehouse_url), _tables(second_url)
    for name in COMPARED:
        assert len(history_tables[name]) > 0, name
        pd.testing.assert_frame_equal(history_tables[name], nightly_tables[name], check_dtype=False, check_exact=True, obj=name)


def test_running_the_batched_history_again_changes_nothing(warehouse_url, tmp_path):
    settings = _settings(warehouse_url, tmp_path)
    history.backfill(DAYS[0], DAYS[-1], settings, workers=0)
    before = _tables(warehouse_url, drop_bookkeeping=False)
    summary = history.backfill(DAYS[0], DAYS[-1], settings, workers=0)
    assert summary["partitions_written"] == 0 and summary["partitions_unchanged"] == 9
    after = _tables(warehouse_url, drop_bookkeeping=False)
    for name in COMPARED:
        pd.testing.assert_frame_equal(after[name], before[name], check_exact=True, obj=name)
