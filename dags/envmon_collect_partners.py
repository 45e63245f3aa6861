"""The partners' shared sections (source partner-edr, issue 26): every hour, each partner of the
partners file (ENVMON_PARTNERS, pipelines/partners.py) is asked for the values stored there since
its watermark, through its OGC API – EDR, and what is new or revised is ingested through the one
payload path (pipelines/partner_pull.py). One task per partner, so one partner that does not answer
neither stops nor delays the others. The DAG exists only where ENVMON_PARTNERS is set. Wiring
only: the work lives in pipelines.partner_pull, imported inside the task."""
from __future__ import annotations

import re
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, dag, task

from pipelines.alerts import on_failure
from pipelines.config import task_retries
from pipelines.partners import partners

PARTNER_CRON = "40 * * * *"  # hourly, off the CNEMC collections' minutes
PARTNER_ASSET = Asset("envmon://sources/partner-edr")
PARTNERS = partners()


def _task_id(url: str) -> str:
    """pull_<host and path>, as Airflow allows task ids."""
    return "pull_" + re.sub(r"[^A-Za-z0-9_]+", "_", url.split("://", 1)[-1]).strip("_")[:200]


if PARTNERS:
    @dag(
        dag_id="envmon_collect_partner_edr",
        schedule=CronTriggerTimetable(PARTNER_CRON, timezone="Asia/Shanghai"),
        start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
        catchup=False,      # the watermark, not the scheduler, decides what is caught up
        max_active_runs=1,  # one pull of a partner at a time
        default_args={"owner": "envmon", **task_retries(3, timedelta(minutes=2)),
                      "max_retry_delay": timedelta(minutes=30),
                      "execution_timeout": timedelta(minutes=30), "on_failure_callback": on_failure},
        tags=["envmon", "collection", "partner-edr"],
        doc_md=__doc__,
    )
    def partner_collection():
        for partner in PARTNERS:
            @task(task_id=_task_id(partner["url"]), outlets=[PARTNER_ASSET])
            def pull(url: str = partner["url"], key_file: str = str(partner["key_file"])) -> dict:
                from pipelines import partner_pull

                summary = partner_pull.pull(url, key_file)
                if summary["failed"]:  # what came is stored; the watermark stays, the retry asks again
                    raise RuntimeError("; ".join(f["error"] for f in summary["failed"]))
                return summary

            pull()

    partner_collection()
