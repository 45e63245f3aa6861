"""The nightly envmon run: ingest → validate → load for each source, then assess → alert →
refresh the dashboard. Wiring only: the work lives in pipelines.nightly."""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipelines import nightly
from pipelines.config import load_settings

WAREHOUSE_ASSET = Asset("envmon://warehouse/observations")
ASSESSMENTS_ASSET = Asset("envmon://warehouse/assessments")
DASHBOARD_ASSET = Asset("envmon://dashboards/index.html")


def _day():
    context = get_current_context()
    return nightly.partition_day(context.get("logical_date"), context["params"].get("day"))


@dag(
    dag_id="envmon_nightly",
    schedule="0 2 * * *",  # 02:00 on the bureaus' clock, for the day before
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "envmon", "retries": 2, "retry_delay": timedelta(minutes=5)},
    params={"day": Param(None, type=["null", "string"], description="YYYY-MM-DD; default: the day before the run")},
    tags=["envmon", "water", "air", "coastal"],
    doc_md=__doc__,
)
def envmon_nightly():
    @task
    def prepare_warehouse() -> dict:
        return nightly.prepare_warehouse()

    @task(outlets=[ASSESSMENTS_ASSET])
    def assess() -> dict:
        return nightly.assess(_day())

    @task
    def alert() -> dict:
        return nightly.alert(_day())

    @task(outlets=[DASHBOARD_ASSET])
    def refresh_dashboard() -> dict:
        return nightly.refresh_dashboard()

    prepared = prepare_warehouse()
    assessed = assess()
    settings = load_settings()
    if settings.source_mode == "live":  # production: the live CNEMC clients, from each watermark on
        for source in nightly.FILE_SOURCES:
            @task(task_id=f"fetch_{source.replace('-', '_')}", outlets=[WAREHOUSE_ASSET])
            def fetch(source: str = source) -> dict:
                return nightly.fetch_live(source)

            prepared >> fetch() >> assessed
    for source in nightly.sources_for(settings) if settings.source_mode != "live" else ():
        slug = source.replace("-", "_")

        @task(task_id=f"ingest_{slug}")
        def ingest(source: str = source) -> dict:
            return nightly.ingest(source, _day())

        @task(task_id=f"validate_{slug}")
        def validate(source: str = source) -> dict:
            return nightly.validate(source, _day())

        @task(task_id=f"load_{slug}", outlets=[WAREHOUSE_ASSET])
        def load(source: str = source) -> dict:
            return nightly.load(source, _day())

        prepared >> ingest() >> validate() >> load() >> assessed
    assessed >> alert() >> refresh_dashboard()


envmon_nightly()
