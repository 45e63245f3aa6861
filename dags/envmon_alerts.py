"""Alerts between nightly runs, in live mode: every hour, the escalations that are due, the sources
that have gone silent, and every delivery of the outbox whose time has come (retries after their
back-off, notices held through quiet hours); then the outbox's backlog: a delivery held or failing
longer than the routing's backlog_alert_minutes fails `check_delivery_backlog`, whose failure
callback tells the operators through the second path (an Airflow connection, not the outbox).
Wiring only: the work is pipelines.alerts.housekeeping and pipelines.alerts.health.check_backlog."""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from pipelines.alerts import BACKLOG_TASK_ID, on_failure
from pipelines.config import source_mode


@dag(
    dag_id="envmon_alerts",
    schedule=CronTriggerTimetable("40 * * * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "envmon", "retries": 1, "retry_delay": timedelta(minutes=5),
                  "execution_timeout": timedelta(minutes=20), "on_failure_callback": on_failure},
    tags=["envmon", "alerts"],
    doc_md=__doc__,
)
def envmon_alerts():
    @task
    def housekeeping() -> dict:
        from pipelines import alerts

        return alerts.housekeeping()

    # after the housekeeping whatever its outcome; no retry: the operators hear of the backlog at once
    @task(task_id=BACKLOG_TASK_ID, trigger_rule="all_done", retries=0)
    def check_delivery_backlog() -> dict:
        from pipelines.alerts import health

        return health.check_backlog()

    housekeeping() >> check_delivery_backlog()


if source_mode() == "live":   # elsewhere the nightly run's alert step and `envmon alerts retry` suffice
    envmon_alerts()
