"""DAG integrity: the DagBag imports the nightly DAG without errors (no database needed)."""
import os

import pytest

from pipelines.runner import DAGS_FOLDER


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "envmon_nightly" in dagbag.dags


def test_schedule_is_nightly_on_the_bureaus_clock_without_catchup(dagbag):
    dag = dagbag.dags["envmon_nightly"]
    assert dag.catchup is False
    assert dag.timetable.expression == "0 2 * * *"
    assert str(getattr(dag.timetable.timezone, "name", dag.timetable.timezone)) == "Asia/Shanghai"


def test_every_task_retries_and_has_an_owner(dagbag):
    dag = dagbag.dags["envmon_nightly"]
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.owner == "envmon"


def test_tasks_run_ingest_validate_load_then_assess_alert_dashboard(dagbag):
    dag = dagbag.dags["envmon_nightly"]
    for source in ("simulated_water", "simulated_air", "simulated_coastal"):
        assert dag.get_task(f"ingest_{source}").downstream_task_ids == {f"validate_{source}"}
        assert dag.get_task(f"validate_{source}").downstream_task_ids == {f"load_{source}"}
        assert dag.get_task(f"load_{source}").downstream_task_ids == {"assess"}
    assert dag.get_task("assess").downstream_task_ids == {"alert"}
    assert dag.get_task("alert").downstream_task_ids == {"refresh_dashboard"}


def test_live_mode_wires_the_live_clients(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVMON_SOURCE_MODE", "live")
    monkeypatch.setenv("ENVMON_CNEMC_WATER_URL", "http://127.0.0.1:9/GJZ/Ajax/Publish.ashx")
    monkeypatch.setenv("ENVMON_CNEMC_AIR_URL", "http://127.0.0.1:9/air/{timepoint}.csv")
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags["envmon_nightly"]
    assert {"fetch_cnemc_water", "fetch_cnemc_air"} <= set(dag.task_ids)
    assert not any(task_id.startswith("ingest_simulated") for task_id in dag.task_ids)
    assert dag.get_task("fetch_cnemc_air").downstream_task_ids == {"assess"}
