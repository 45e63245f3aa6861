"""The daily backup, at 05:00 (Asia/Shanghai): after the nightly run (02:00) has assessed the day,
before the documents (06:00). Each run writes a new folder in ENVMON_BACKUP_DIR (the warehouse,
the payload archive, the issued documents, the users file, manifest.json) and removes the oldest
beyond ENVMON_BACKUP_KEEP; a failed backup alerts the operators like any failed task. The DAG
exists only where ENVMON_BACKUP_DIR is set. Wiring only: the work lives in
pipelines.operations.backup, imported inside the task."""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from pipelines.alerts import on_failure
from pipelines.config import backup_schedule, task_retries

BACKUP_CRON = "0 5 * * *"
BACKUP_FOLDER, _ = backup_schedule()

if BACKUP_FOLDER is not None:
    @dag(
        dag_id="envmon_backup",
        schedule=CronTriggerTimetable(BACKUP_CRON, timezone="Asia/Shanghai"),
        start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
        catchup=False,
        max_active_runs=1,
        default_args={"owner": "envmon", **task_retries(2, timedelta(minutes=10)),
                      "execution_timeout": timedelta(hours=3), "on_failure_callback": on_failure},
        tags=["envmon", "operations"],
        doc_md=__doc__,
    )
    def envmon_backup():
        @task
        def backup() -> dict:
            from pipelines.config import load_settings
            from pipelines.operations.backup import scheduled_backup

            folder, keep = backup_schedule()
            return scheduled_backup(folder, keep, load_settings())

        backup()

    envmon_backup()
