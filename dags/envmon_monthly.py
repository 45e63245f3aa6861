"""The bureaus' documents, every morning at 06:00 (Asia/Shanghai), after the nightly run: last
month's bulletin (月报) as soon as the month is over, and again whenever late data change what it
read (up to three months back; an older issue is told out of date, once); last year's assessment
(年度考核) likewise. A document is issued when the fingerprint of what it reads (its rows, the rule
and registry rows of its months, the QC flags assessed) differs from its last issue's, and built
again only when one of its months was loaded or revised since: a quiet day costs a few queries.
Wiring only: the work lives in pipelines.reports.publish, imported inside the tasks."""
from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, get_current_context, task

from pipelines.alerts import on_failure
from pipelines.clock import bureau_date

MONTHLY_CRON = "0 6 * * *"


def _today():
    """The bureau day of the run: its logical date (the 06:00 tick), else, for a manual run
    without one, the time it was triggered."""
    context = get_current_context()
    moment = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
    return bureau_date(moment)


@dag(
    dag_id="envmon_monthly",
    schedule=CronTriggerTimetable(MONTHLY_CRON, timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "envmon", "retries": 2, "retry_delay": timedelta(minutes=10),
                  "execution_timeout": timedelta(minutes=60), "on_failure_callback": on_failure},
    tags=["envmon", "reports"],
    doc_md=__doc__,
)
def envmon_monthly():
    @task
    def bulletins() -> dict:
        from pipelines.reports import publish

        return publish.refresh_bulletins(_today())

    @task
    def assessment_report() -> dict:
        from pipelines.reports import publish

        return publish.refresh_assessment(_today())

    bulletins() >> assessment_report()


envmon_monthly()
