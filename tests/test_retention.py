"""Retention (issue 25): the daily envmon_maintenance DAG cleans Airflow's metadata with `airflow db
clean` before now - ENVMON_AIRFLOW_RETENTION_DAYS, deletes task logs older than
ENVMON_LOG_RETENTION_DAYS and the inboxes' set-aside day folders older than ENVMON_INBOX_KEEP_DAYS;
a collected inbox file is moved to processed/ (refused/ with its reason when its content was
refused), so the next scan reads only new files."""
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pipelines.ingest import collect
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.operations import retention
from pipelines.sources import inbox
from warehouse import db

TEMPLATES = Path(__file__).resolve().parents[1] / "pipelines" / "templates"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=BUREAU_TZ)


class Recorder:
    """Stands in for subprocess.run: records the command, answers as told."""

    def __init__(self, returncode=0, stderr=""):
        self.commands, self.returncode, self.stderr = [], returncode, stderr

    def __call__(self, command, **_):
        self.commands.append(command)
        return subprocess.CompletedProcess(command, self.returncode, "", self.stderr)


def _aged(path: Path, days: float, text: str = "log line\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    moment = (NOW - timedelta(days=days)).timestamp()
    os.utime(path, (moment, moment))
    return path


def test_maintenance_cleans_the_metadata_before_its_cutoff_and_deletes_old_task_logs(tmp_path):
    logs = tmp_path / "logs"
    old = _aged(logs / "dag_id=envmon_nightly" / "run_id=scheduled__2026-10-01" / "task_id=assess" / "attempt=1.log", 31)
    recent = _aged(logs / "dag_id=envmon_nightly" / "run_id=scheduled__2026-12-01" / "task_id=assess" / "attempt=1.log", 29)
    run = Recorder()
    environ = {"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_AIRFLOW_RETENTION_DAYS": "60",
               "ENVMON_LOG_RETENTION_DAYS": "30"}
    summary = retention.run_maintenance(now=NOW, environ=environ, log_folder=logs, run=run)
    (command,) = run.commands
    assert command[1:] == ["-m", "airflow", "db", "clean", "--clean-before-timestamp", "2026-10-03T09:00:00+08:00",
                           "--yes", "--skip-archive"]
    assert not old.exists() and not old.parent.parent.exists()  # and the run's folder it left empty
    assert recent.exists()
    assert summary["logs"]["deleted"] == 1


def test_the_defaults_keep_90_days_of_metadata_and_30_of_logs(tmp_path):
    run = Recorder()
    retention.run_maintenance(now=NOW, environ={"ENVMON_HOME": str(tmp_path)}, log_folder=tmp_path / "none", run=run)
    assert run.commands[0][6] == (NOW - timedelta(days=90)).isoformat()


def test_a_bad_setting_and_a_failed_db_clean_each_say_why_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="ENVMON_LOG_RETENTION_DAYS must be a whole number of days"):
        retention.run_maintenance(now=NOW, environ={"ENVMON_LOG_RETENTION_DAYS": "0"}, log_folder=tmp_path, run=Recorder())
    failing = Recorder(returncode=1, stderr="Traceback ...\nOperationalError: no such table: dag_run\n")
    with pytest.raises(retention.MaintenanceError, match="airflow db clean exited 1: OperationalError: no such table"):
        retention.run_maintenance(now=NOW, environ={}, log_folder=tmp_path, run=failing)


def test_airflow_db_clean_really_deletes_the_rows_before_the_cutoff(tmp_path, monkeypatch):
    """The real command against a SQLite metadata database of its own."""
    home = tmp_path / "airflow"
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    migrated = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    cutoff = datetime(2026, 10, 3, 1, 0, tzinfo=BUREAU_TZ)
    with sqlite3.connect(home / "airflow.db") as connection:  # Airflow keeps naive UTC in SQLite
        connection.executemany("INSERT INTO log (dttm, event) VALUES (?, ?)", [
            ("2026-09-20 00:00:00.000000", "envmon-old"), ("2026-10-20 00:00:00.000000", "envmon-recent")])
    retention.clean_airflow_metadata(cutoff)
    with sqlite3.connect(home / "airflow.db") as connection:
        left = {event for (event,) in connection.execute("SELECT event FROM log WHERE event LIKE 'envmon-%'")}
    assert left == {"envmon-recent"}


def test_the_maintenance_dag_runs_the_retention_daily_after_the_nightly_run(monkeypatch, tmp_path):
    from tests.test_dag import _dagbag

    dag = _dagbag(monkeypatch, tmp_path).dags["envmon_maintenance"]
    assert dag.timetable.expression == "30 4 * * *" and dag.catchup is False and dag.max_active_runs == 1
    (task,) = dag.tasks
    assert task.task_id == "retention" and task.owner == "envmon" and task.on_failure_callback


# ---- the inbox: files set aside once collected ---------------------------------------------------

@pytest.fixture
def settings(tmp_path):
    (tmp_path / "inbox" / "lab").mkdir(parents=True)
    return load_settings({"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_INBOX": str(tmp_path / "inbox")})


def test_collected_files_are_moved_aside_and_a_second_scan_reads_nothing(settings, monkeypatch):
    lab = settings.inbox / "lab"
    shutil.copy(TEMPLATES / "lab-results-example.csv", lab / "results-1103.csv")
    shutil.copy(TEMPLATES / "lab-results-example.csv", lab / "results-1103-again.csv")  # the same content twice
    (lab / "empty.csv").write_bytes(b"")
    first = collect.collect_inbox("lab", settings, NOW)
    assert len(first["payloads"]) == 1 and len(first["failed"]) == 1
    day = lab / "processed" / "2026-12-02"
    assert sorted(p.name for p in day.iterdir()) == ["results-1103-again.csv", "results-1103.csv"]
    assert (day / "results-1103.csv").read_bytes() == (TEMPLATES / "lab-results-example.csv").read_bytes()
    refused = lab / "refused" / "2026-12-02"
    assert (refused / "empty.csv").read_bytes() == b""
    assert (refused / "empty.csv.reason.txt").read_text(encoding="utf-8") == \
        "empty.csv: refused as a lab payload: empty: the file has no content\n"  # the payload log's words
    assert [p for p in lab.iterdir() if p.is_file()] == []
    # the archive holds every one of them
    archived = {row["archive_path"] for row in db.read_table(db.engine_for(settings.warehouse_url), "payloads").to_dict("records")}
    assert all((settings.home / key).is_file() for key in archived) and len(archived) == 2   # storage keys

    read = []
    monkeypatch.setattr(Path, "read_bytes", lambda self, _real=Path.read_bytes: read.append(self) or _real(self))
    second = collect.collect_inbox("lab", settings, NOW)
    assert second["payloads"] == [] and second["set_aside"] == {"processed": [], "refused": []}
    assert not [p for p in read if p.is_relative_to(lab)], "the second scan read inbox files again"


def test_a_file_whose_archived_copy_is_not_there_stays_in_the_inbox(tmp_path):
    dropped = tmp_path / "lab" / "results.csv"
    dropped.parent.mkdir()
    dropped.write_text("x")
    row = {"status": "loaded", "retryable": None, "error": None, "archive_path": str(tmp_path / "elsewhere.csv")}
    assert inbox.set_aside(dropped.parent, {dropped: "ab" * 32}, lambda digest: row, NOW) == {"processed": [], "refused": []}
    assert dropped.exists()


def test_maintenance_deletes_set_aside_day_folders_past_their_keep(tmp_path):
    root = tmp_path / "inbox"
    old = _aged(root / "lab" / "processed" / "2026-10-31" / "a.csv", 0)
    kept = _aged(root / "coastal" / "refused" / "2026-11-02" / "b.csv", 0)
    environ = {"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_INBOX": str(root), "ENVMON_INBOX_KEEP_DAYS": "30"}
    summary = retention.run_maintenance(now=NOW, environ=environ, log_folder=tmp_path / "logs", run=Recorder())
    assert summary["inbox"]["deleted"] == ["lab/processed/2026-10-31"]
    assert not old.parent.exists() and kept.exists()
