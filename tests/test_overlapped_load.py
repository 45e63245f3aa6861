"""The archive path's load overlapped with the caller's work (pipelines/ingest/batches.py,
_Loading): on PostgreSQL a batch's one transaction runs in a thread of its own while the caller
writes the Data Docs and compares the published results. The warehouse is the one the load in the
caller's thread leaves, table for table, and a comparison that fails rolls back the load under way."""
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from pipelines.ingest import batches
from tests.conftest import fresh_postgres_schema
from tests.test_archive_ingest import FIRST_DAY, air_payload, assert_same, holdings, ingest, write_archive
from warehouse import db


def _ingest_archive(monkeypatch, capsys, tmp_path, url, paths) -> None:
    for source, files in paths.items():
        code, summary, err = ingest(monkeypatch, capsys, tmp_path, url, source,
                                    *[arg for path in files for arg in ("--file", str(path))])
        assert code == 0, err


def test_the_load_in_its_own_thread_leaves_the_warehouse_of_the_load_in_the_callers(monkeypatch, capsys, tmp_path):
    paths = write_archive(tmp_path / "archive")
    with fresh_postgres_schema() as threaded, fresh_postgres_schema() as serial:
        _ingest_archive(monkeypatch, capsys, tmp_path, threaded, paths)
        with monkeypatch.context() as patch:
            patch.setattr(batches._Loading, "in_a_thread_on", ())
            _ingest_archive(monkeypatch, capsys, tmp_path, serial, paths)
        expected = holdings(serial)
        assert len(expected["observations"]) and len(expected["history"]) and len(expected["quarantine"])
        assert len(expected["published"]) and len(expected["assessments"])
        assert_same(holdings(threaded), expected)
        for url in (threaded, serial):
            db.engine_for(url).dispose()


def _load_under_way(url: str, application: str, source: str, day, timeout: float = 30) -> bool:
    """Whether a session of `application` (the ingest's, not another test's on the same server)
    holds the partition lock of (source, day) a load takes first."""
    import time

    key = db.lock_key("observations", source, day) & 0xFFFFFFFFFFFFFFFF
    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as connection:
                if connection.execute(text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :high AND l.objid = :low "
                        "AND a.application_name = :application"),
                        {"high": key >> 32, "low": key & 0xFFFFFFFF, "application": application}).scalar():
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
    finally:
        engine.dispose()


def test_a_published_comparison_that_fails_rolls_back_the_load_under_way(monkeypatch, capsys, tmp_path):
    from pipelines.quality import published

    day = FIRST_DAY + timedelta(days=1)
    path = tmp_path / "air.csv"
    path.write_bytes(air_payload(day, range(1, 25)))
    seen = []

    application = f"envmon_overlap_{uuid.uuid4().hex[:8]}"

    def failing(*args, **kwargs):
        seen.append(_load_under_way(url, application, "cnemc-air", day))
        raise RuntimeError("the comparison broke")

    with fresh_postgres_schema() as schema_url:
        url = f"{schema_url}&application_name={application}"
        monkeypatch.setattr(published, "compare_published", failing)
        code, _, err = ingest(monkeypatch, capsys, tmp_path, url, "cnemc-air", "--file", str(path))
        assert code != 0 and "the comparison broke" in err, err
        assert seen == [True]   # the load's transaction was open, its partitions locked, while comparing
        engine = db.engine_for(url)
        with engine.connect() as connection:
            for table in ("observations", "quarantine", "partition_log", "published_results", "watermarks"):
                assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
        [payload] = db.read_table(engine, "payloads").to_dict("records")
        assert payload["status"] == "failed" and payload["retryable"], payload
        assert not _load_under_way(url, application, "cnemc-air", day, timeout=0)   # rolled back: its locks let go
        engine.dispose()
