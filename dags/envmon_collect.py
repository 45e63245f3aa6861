"""Collection on the feeds' own cadence, one DAG per source, each updating its source's Asset:
the CNEMC surface-water snapshot every 2 hours (it is republished every 4; an unchanged snapshot is
skipped by content), the CNEMC hourly air files every hour (each expected hour is kept in the collection ledger: a missed
hour is asked again until it is recorded as a gap, recent hours are fetched again for late stations
and revisions, and a run that records a gap succeeds), and the laboratory and coastal inboxes every 15 minutes. The CNEMC DAGs exist in live
mode only; the inbox DAGs wherever ENVMON_INBOX is set, except in files mode, where the nightly run
collects every inbox itself. Calls to the CNEMC endpoints share the
pool `cnemc` (deploy/airflow-pools.json), so catch-up and retries never hammer the feed.
Wiring only: the work lives in pipelines.ingest.collect."""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, dag, task

from pipelines.alerts import on_failure
from pipelines.config import INBOX_SOURCES, LIVE_SOURCES, source_mode, task_retries

CNEMC_POOL = "cnemc"
SCHEDULES = {  # cron on the bureaus' clock
    "cnemc-water": "10 */2 * * *",
    "cnemc-air": "20 * * * *",   # the national hourly file is complete some minutes after the hour
    "lab": "*/15 * * * *",
    "coastal": "*/15 * * * *",
}
SOURCE_ASSETS = {source: Asset(f"envmon://sources/{source}") for source in SCHEDULES}


def _collection_dag(source: str, collect_task):
    slug = source.replace("-", "_")

    @dag(
        dag_id=f"envmon_collect_{slug}",
        schedule=CronTriggerTimetable(SCHEDULES[source], timezone="Asia/Shanghai"),
        start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
        catchup=False,      # the collection ledger, not the scheduler, decides what is caught up
        max_active_runs=1,  # one collection of a source at a time
        default_args={"owner": "envmon", **task_retries(3, timedelta(minutes=2)),
                      "max_retry_delay": timedelta(minutes=30),
                      "execution_timeout": timedelta(minutes=20), "on_failure_callback": on_failure},
        tags=["envmon", "collection", source],
        doc_md=__doc__,
    )
    def collection():
        collect_task()

    return collection()


def _live_task(source: str):
    @task(task_id=f"collect_{source.replace('-', '_')}", pool=CNEMC_POOL, outlets=[SOURCE_ASSETS[source]])
    def collect() -> dict:
        from pipelines.ingest import collect as collection

        return collection.collect_live(source)

    return collect


def _inbox_task(source: str):
    @task(task_id=f"collect_{source}", outlets=[SOURCE_ASSETS[source]])
    def collect() -> dict:
        from pipelines.ingest import collect as collection

        return collection.collect_inbox(source)

    return collect


if source_mode() == "live":
    for _source in LIVE_SOURCES:
        _collection_dag(_source, _live_task(_source))
if os.environ.get("ENVMON_INBOX") and source_mode() != "files":  # in files mode the nightly run collects
    for _source in INBOX_SOURCES:
        _collection_dag(_source, _inbox_task(_source))
