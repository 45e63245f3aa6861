"""Runs the real nightly DAG in-process with Airflow's dag.test(): no scheduler, no web server.
Airflow's own metadata database is a SQLite file in ENVMON_HOME/airflow."""
from __future__ import annotations

import contextlib
import os
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

from pipelines.config import Settings
from pipelines.observations import BUREAU_TZ

DAG_ID = "envmon_nightly"
DAGS_FOLDER = Path(__file__).resolve().parent.parent / "dags"


class DagRunFailed(RuntimeError):
    pass


def configure_airflow(settings: Settings) -> None:
    """Point Airflow at envmon's own home before airflow is first imported."""
    airflow_home = settings.airflow_home
    airflow_home.mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(settings.home / "logs" / "airflow"),
        "ENVMON_HOME": str(settings.home),
        "ENVMON_WAREHOUSE_URL": settings.warehouse_url,
    })


@contextlib.contextmanager
def output_to(log_path: Path):
    """Send everything Airflow prints (at the file-descriptor level) to a log file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def load_dag():
    import logging

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_FOLDER / f"{DAG_ID}.py"))
    if bag.import_errors:
        raise DagRunFailed(f"the DAG does not import: {bag.import_errors}")
    return bag.dags[DAG_ID]


def run_days(settings: Settings, days: list[date], log_path: Path) -> list[str]:
    """Run the DAG once per day, in order; raise on the first failed run."""
    configure_airflow(settings)
    states = []
    with output_to(log_path):
        from airflow.utils import db as airflow_db

        airflow_db.upgradedb()
        dag = load_dag()
        for day in days:
            # The nightly schedule runs at 02:00 the next morning for the day before.
            logical = datetime.combine(day + timedelta(days=1), time(2, 0), BUREAU_TZ)
            run = dag.test(logical_date=logical, run_conf={"day": day.isoformat()})
            state = str(getattr(run.state, "value", run.state))
            states.append(state)
            if state != "success":
                break
    if states and states[-1] != "success":
        raise DagRunFailed(f"the nightly run for {days[len(states) - 1]} ended {states[-1]}; see {log_path}")
    return states
