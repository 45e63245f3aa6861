"""Retention, every day at 04:30 (Asia/Shanghai), after the nightly run: Airflow's metadata rows
older than ENVMON_AIRFLOW_RETENTION_DAYS (`airflow db clean`), task log files older than
ENVMON_LOG_RETENTION_DAYS, and the inboxes' processed/ and refused/ day folders older than
ENVMON_INBOX_KEEP_DAYS (their files are in the payload archive). A failure alerts the operators
like any failed task. Wiring only: the work lives in pipelines.operations.retention."""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from pipelines.alerts import on_failure
from pipelines.config import task_retries

MAINTENANCE_CRON = "30 4 * * *"


@dag(
    dag_id="envmon_maintenance",
    schedule=CronTriggerTimetable(MAINTENANCE_CRON, timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "envmon", **task_retries(1, timedelta(minutes=30)),
                  "execution_timeout": timedelta(hours=1), "on_failure_callback": on_failure},
    tags=["envmon", "operations"],
    doc_md=__doc__,
)
def envmon_maintenance():
    @task
    def retention() -> dict:
        from pipelines.operations.retention import run_maintenance

        return run_maintenance()

    retention()


envmon_maintenance()
