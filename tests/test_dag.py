"""DAG integrity: the DagBag imports the DAGs without errors (no database needed), their wiring,
their retries (configuration: short in this suite, minutes in production), and that parsing them
imports nothing heavy. Airflow's home is the session's (tests/conftest.py): Airflow reads it once
per process, so a test of its own could not change it anyway."""
import subprocess
import sys
from datetime import timedelta

import pytest

from pipelines.runner import DAGS_FOLDER


def _dagbag(monkeypatch, tmp_path, **environment):
    for name in ("ENVMON_SOURCE_MODE", "ENVMON_INBOX", "ENVMON_CNEMC_WATER_URL", "ENVMON_CNEMC_AIR_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture
def dagbag(monkeypatch, tmp_path):
    return _dagbag(monkeypatch, tmp_path)


LIVE = {"ENVMON_SOURCE_MODE": "live", "ENVMON_CNEMC_WATER_URL": "http://127.0.0.1:9/GJZ/Ajax/Publish.ashx",
        "ENVMON_CNEMC_AIR_URL": "http://127.0.0.1:9/air/{timepoint}.csv"}


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "envmon_nightly" in dagbag.dags


def test_schedule_is_nightly_on_the_bureaus_clock_without_catchup(dagbag):
    dag = dagbag.dags["envmon_nightly"]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.timetable.expression == "0 2 * * *"
    assert str(getattr(dag.timetable.timezone, "name", dag.timetable.timezone)) == "Asia/Shanghai"
    # a trigger timetable: the 02:00 run's logical date is that instant, which the day rule expects
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"


def test_every_task_has_an_owner_and_the_retries_this_suite_configures(dagbag):
    # tests/conftest.py: ENVMON_TASK_RETRIES=1, ENVMON_TASK_RETRY_DELAY_SECONDS=1
    dag = dagbag.dags["envmon_nightly"]
    for task in dag.tasks:
        assert task.owner == "envmon"
        assert (task.retries, task.retry_delay, task.retry_exponential_backoff) == (1, timedelta(seconds=1), True), \
            task.task_id


def test_without_configuration_tasks_retry_on_the_production_back_off(monkeypatch, tmp_path):
    for name in ("ENVMON_TASK_RETRIES", "ENVMON_TASK_RETRY_DELAY_SECONDS"):
        monkeypatch.delenv(name)
    bag = _dagbag(monkeypatch, tmp_path, **LIVE, ENVMON_INBOX=str(tmp_path / "inbox"))
    for task in bag.dags["envmon_nightly"].tasks:  # 2 retries, after 5 then 10 minutes
        assert (task.retries, task.retry_delay) == (2, timedelta(minutes=5)), task.task_id
    for dag_id in ("envmon_collect_cnemc_water", "envmon_collect_cnemc_air", "envmon_collect_lab"):
        (task,) = bag.dags[dag_id].tasks
        assert (task.retries, task.retry_delay, task.max_retry_delay) == (3, timedelta(minutes=2), timedelta(minutes=30))


def test_tasks_run_ingest_validate_load_then_assess_alert_dashboard(dagbag):
    dag = dagbag.dags["envmon_nightly"]
    for source in ("simulated_water", "simulated_air", "simulated_coastal"):
        assert dag.get_task(f"ingest_{source}").downstream_task_ids == {f"validate_{source}"}
        assert dag.get_task(f"validate_{source}").downstream_task_ids == {f"load_{source}"}
        assert dag.get_task(f"load_{source}").downstream_task_ids == {"assess"}
    assert dag.get_task("assess").downstream_task_ids == {"alert"}
    assert dag.get_task("alert").downstream_task_ids == {"refresh_dashboard"}


def test_live_mode_collects_each_feed_on_its_own_cadence_and_the_nightly_run_only_assesses(monkeypatch, tmp_path):
    bag = _dagbag(monkeypatch, tmp_path, **LIVE, ENVMON_INBOX=str(tmp_path / "inbox"))
    assert bag.import_errors == {}
    nightly = bag.dags["envmon_nightly"]
    assert not any(t.startswith(("ingest_", "fetch_")) for t in nightly.task_ids)
    assert nightly.get_task("prepare_warehouse").downstream_task_ids == {"assess"}
    water, air = bag.dags["envmon_collect_cnemc_water"], bag.dags["envmon_collect_cnemc_air"]
    assert water.timetable.expression == "10 */2 * * *"  # at least every 4 hours, the feed's cadence
    assert air.timetable.expression == "20 * * * *"
    for collection in (water, air):
        (task,) = collection.tasks
        assert task.pool == "cnemc" and task.retries >= 1 and task.retry_exponential_backoff
        assert task.execution_timeout is not None
        assert [o.uri for o in task.outlets] == [f"envmon://sources/{collection.dag_id.split('_collect_')[1].replace('_', '-')}"]
        assert collection.max_active_runs == 1 and collection.catchup is False
    assert {"envmon_collect_lab", "envmon_collect_coastal"} <= set(bag.dags)


def test_without_live_mode_or_an_inbox_there_is_only_the_nightly_dag_and_the_monthly_documents(dagbag):
    # envmon_monthly: tests/test_reports.py; envmon_maintenance (retention): tests/test_retention.py
    assert set(dagbag.dags) == {"envmon_nightly", "envmon_monthly", "envmon_maintenance"}


def test_files_mode_collects_every_inbox_in_the_nightly_run(monkeypatch, tmp_path):
    bag = _dagbag(monkeypatch, tmp_path, ENVMON_SOURCE_MODE="files", ENVMON_INBOX=str(tmp_path / "inbox"))
    # no second collector of the same inbox
    assert set(bag.dags) == {"envmon_nightly", "envmon_monthly", "envmon_maintenance"}
    nightly = bag.dags["envmon_nightly"]
    collectors = {f"collect_{s}" for s in ("cnemc_water", "cnemc_air", "lab", "coastal")}
    assert nightly.get_task("prepare_warehouse").downstream_task_ids == collectors
    for task_id in collectors:
        assert nightly.get_task(task_id).downstream_task_ids == {"assess"}


def test_parsing_the_dag_files_imports_nothing_heavy():
    """The dag-processor parses the files again and again: pandas, Great Expectations, pyarrow and
    SQLAlchemy belong inside the tasks."""
    probe = ("import sys, runpy\n"
             f"for name in ('envmon_nightly', 'envmon_collect'):\n    runpy.run_path(r'{DAGS_FOLDER}/' + name + '.py')\n"
             "print(','.join(m for m in ('pandas', 'great_expectations', 'pyarrow', 'numpy', 'scipy', 'plotly') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={"ENVMON_SOURCE_MODE": "live", "ENVMON_INBOX": "/tmp", **LIVE, "PATH": "/usr/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1:] in ([""], []), result.stdout
