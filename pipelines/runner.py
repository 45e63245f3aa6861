"""Runs the real nightly DAG in-process with Airflow's dag.test(): no scheduler, no web server.
Airflow's own metadata database is a SQLite file in ENVMON_HOME/airflow."""
from __future__ import annotations

import contextlib
import os
import sys
from datetime import date
from pathlib import Path

from pipelines.config import Settings
from pipelines.clock import nightly_run_time

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
    """Run the DAG once per day, in order; raise on the first failed run. The warehouse is checked
    first (db.check_reachable raises WarehouseUnreachable within the connect timeout): a run that
    cannot reach it fails at once with one line, not after the tasks' retries."""
    from warehouse import db

    db.check_reachable(settings.warehouse_url)
    configure_airflow(settings)
    states = []
    with output_to(log_path):
        from airflow.utils import db as airflow_db

        airflow_db.upgradedb()
        dag = load_dag()
        for day in days:
            # as the scheduler would: the 02:00 run of the next morning, whose logical date alone
            # decides the day (no `day` param handed over)
            run = dag.test(logical_date=nightly_run_time(day))
            state = str(getattr(run.state, "value", run.state))
            states.append(state)
            if state != "success":
                break
    if states and states[-1] != "success":
        raise DagRunFailed(f"the nightly run for {days[len(states) - 1]} ended {states[-1]}; see {log_path}")
    return states


def submit_backfill(first: date, last: date) -> dict:
    """Hand a range of days to the Airflow deployment this environment is configured for, as one
    backfill whose runs go one at a time (Airflow's own default is 10 at once, whatever the DAG says).
    The runs are the scheduled runs of the days: the 02:00 run of the next morning for each day, so
    the window is exactly [run of `first`, run of `last`], both inclusive."""
    import shutil
    import subprocess

    airflow = shutil.which("airflow") or str(Path(sys.executable).parent / "airflow")
    window = {"from_date": nightly_run_time(first).isoformat(), "to_date": nightly_run_time(last).isoformat()}
    command = [airflow, "backfill", "create", "--dag-id", DAG_ID, "--from-date", window["from_date"],
               "--to-date", window["to_date"], "--max-active-runs", "1", "--reprocess-behavior", "completed"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise DagRunFailed(f"airflow backfill create failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return {"dag_id": DAG_ID, **window, "days": [first.isoformat(), last.isoformat()]}
