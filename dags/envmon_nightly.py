"""The nightly envmon assessment: at 02:00 (Asia/Shanghai) for the bureau day before. In
simulated mode it first ingests → validates → loads each simulated source's day; in files mode it
first collects every new payload of the inbox (ENVMON_INBOX/<source>/); in live mode the
collection DAGs (envmon_collect.py) have already gathered the day. Then assess → alert →
refresh the dashboard. Wiring only: the work lives in pipelines.nightly, imported inside the
tasks so that parsing this file costs no more than Airflow itself."""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, get_current_context, task

from pipelines.alerts import on_failure
from pipelines.clock import NIGHTLY_CRON, processed_day
from pipelines.config import NIGHTLY_INBOX_SOURCES, NIGHTLY_SOURCES, source_mode, task_retries

WAREHOUSE_ASSET = Asset("envmon://warehouse/observations")
ASSESSMENTS_ASSET = Asset("envmon://warehouse/assessments")
DASHBOARD_ASSET = Asset("envmon://dashboards/index.html")


def _day():
    """The run's day: `day` from its params, else the bureau day before its logical date or, for a
    manual run triggered without one, before the time it was triggered."""
    context = get_current_context()
    dag_run = context.get("dag_run")
    return processed_day(context["params"].get("day"), context.get("logical_date"),
                         getattr(dag_run, "run_after", None))


@dag(
    dag_id="envmon_nightly",
    # a trigger timetable: the run at 02:00 has that instant as its logical date (Airflow 3's own
    # default for a cron string, written out so that the day rule in pipelines.clock holds)
    schedule=CronTriggerTimetable(NIGHTLY_CRON, timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,  # one day at a time: a day's assessment reads the day before's rollups
    # retries: 2 after 5 min, then 10, unless ENVMON_TASK_RETRIES / _RETRY_DELAY_SECONDS say otherwise
    default_args={"owner": "envmon", **task_retries(2, timedelta(minutes=5)),
                  "execution_timeout": timedelta(minutes=30), "on_failure_callback": on_failure},
    params={"day": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: the day before the run")},
    tags=["envmon", "water", "air", "coastal"],
    doc_md=__doc__,
)
def envmon_nightly():
    @task
    def prepare_warehouse() -> dict:
        from pipelines import nightly

        return nightly.prepare_warehouse()

    @task(outlets=[ASSESSMENTS_ASSET])
    def assess() -> dict:
        from pipelines import nightly

        return nightly.assess(_day())

    @task
    def alert() -> dict:
        from pipelines import nightly

        return nightly.alert(_day())

    @task(outlets=[DASHBOARD_ASSET])
    def refresh_dashboard() -> dict:
        from pipelines import nightly

        return nightly.refresh_dashboard()

    prepared = prepare_warehouse()
    assessed = assess()
    mode = source_mode()
    if not NIGHTLY_SOURCES[mode] and not NIGHTLY_INBOX_SOURCES[mode]:
        prepared >> assessed
    for source in NIGHTLY_INBOX_SOURCES[mode]:  # files mode: every new payload, the one payload path

        @task(task_id=f"collect_{source.replace('-', '_')}", outlets=[WAREHOUSE_ASSET])
        def collect(source: str = source) -> dict:
            from pipelines.ingest import collect as collection

            return collection.collect_inbox(source, run_day=_day())

        prepared >> collect() >> assessed
    for source in NIGHTLY_SOURCES[mode]:  # simulated mode: the simulator's day of each source
        slug = source.replace("-", "_")

        @task(task_id=f"ingest_{slug}")
        def ingest(source: str = source) -> dict:
            from pipelines import nightly

            return nightly.ingest(source, _day())

        @task(task_id=f"validate_{slug}")
        def validate(source: str = source) -> dict:
            from pipelines import nightly

            return nightly.validate(source, _day())

        @task(task_id=f"load_{slug}", outlets=[WAREHOUSE_ASSET])
        def load(source: str = source) -> dict:
            from pipelines import nightly

            return nightly.load(source, _day())

        prepared >> ingest() >> validate() >> load() >> assessed
    assessed >> alert() >> refresh_dashboard()


envmon_nightly()
