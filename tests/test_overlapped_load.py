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


def _partition_lock_seen(url: str, application: str, source: str, day, granted: bool, timeout: float) -> bool:
    """Whether a session of `application` (the ingest's, not another test's on the same server) holds
    (granted) or waits for (not granted) the partition lock of (source, day) a load takes first."""
    import time

    key = db.lock_key("observations", source, day) & 0xFFFFFFFFFFFFFFFF
    engine = create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as connection:
                if connection.execute(text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted = :granted AND l.classid = :high "
                        "AND l.objid = :low AND a.application_name = :application"),
                        {"granted": granted, "high": key >> 32, "low": key & 0xFFFFFFFF,
                         "application": application}).scalar():
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
    finally:
        engine.dispose()


def _load_under_way(url: str, application: str, source: str, day, timeout: float = 30) -> bool:
    """Whether the ingest of `application` holds the partition lock of (source, day)."""
    return _partition_lock_seen(url, application, source, day, True, timeout)


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


def _load_waiting(url: str, application: str, source: str, day, timeout: float = 30) -> bool:
    """Whether the ingest of `application` waits for the partition lock of (source, day)."""
    return _partition_lock_seen(url, application, source, day, False, timeout)


def test_an_interrupt_cancels_a_load_waiting_for_a_partitions_lock(monkeypatch, capsys, tmp_path):
    """Ctrl-C while the load waits for a partition another load holds (tests/test_concurrent_loads.py):
    the wait is cancelled on the server, the load rolls back and the ingest ends at once, nothing
    stored and the payload failed, to be retried. Without the cancel it waits as long as the lock
    is held (here: GRACE, then the lock is let go so the thread ends)."""
    import threading
    import time

    from pipelines.quality import published

    GRACE = 30   # seconds: ample for a rollback on a busy machine; the lock is held for ever without the cancel

    day = FIRST_DAY + timedelta(days=1)
    path = tmp_path / "air.csv"
    path.write_bytes(air_payload(day, range(1, 25)))
    application = f"envmon_cancel_{uuid.uuid4().hex[:8]}"
    seen, outcome, interrupting = [], [], threading.Event()

    def interrupted(*args, **kwargs):
        seen.append(_load_waiting(url, application, "cnemc-air", day))
        interrupting.set()
        raise KeyboardInterrupt   # as Ctrl-C in the caller's thread while the load waits

    with fresh_postgres_schema() as schema_url:
        url = f"{schema_url}&application_name={application}"
        monkeypatch.setattr(published, "compare_published", interrupted)
        holder = create_engine(schema_url)
        with holder.connect() as other:   # another load holds the partition's lock
            other.execute(text("SELECT pg_advisory_lock(:key)"),
                          {"key": db.lock_key("observations", "cnemc-air", day)})
            run = threading.Thread(target=lambda: outcome.append(
                ingest(monkeypatch, capsys, tmp_path, url, "cnemc-air", "--file", str(path))), daemon=True)
            run.start()
            assert interrupting.wait(600), "the ingest never reached its published comparison"
            started = time.monotonic()
            run.join(GRACE)
            took = time.monotonic() - started
            hung = run.is_alive()
            other.execute(text("SELECT pg_advisory_unlock_all()"))
            run.join(60)
        holder.dispose()
        assert not hung, f"the interrupted ingest still waited for the lock after {took:.0f} s"
        assert seen == [True]   # the load was waiting for the lock when the interrupt came
        [(code, _, err)] = outcome
        assert code == 130 and "interrupted" in err, err
        engine = db.engine_for(url)
        with engine.connect() as connection:
            for table in ("observations", "quarantine", "partition_log", "published_results", "watermarks"):
                assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
        [payload] = db.read_table(engine, "payloads").to_dict("records")
        assert payload["status"] == "failed" and payload["retryable"] and payload["error"] == "interrupted", payload
        assert not _load_under_way(url, application, "cnemc-air", day, timeout=0)
        engine.dispose()
