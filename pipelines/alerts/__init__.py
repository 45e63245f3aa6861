"""Alerts a duty officer can live with.

- episodes.py     a section out of its target as an episode (opened, worsened, resolved), rebuilt
                  from the stored assessments each time
- sections.py     the episodes in the warehouse; acknowledgement, resolution, escalation
- routing.py      who hears about what (pipelines/reference/data/alert_routing.toml)
- messages.py     the words, per language and channel
- channels.py     SMTP, WeCom, DingTalk and a signed JSON webhook, within their limits
- outbox.py       each (notice, recipient) recorded, then delivered once, with retries
- operational.py  the operators' alerts: silent sources, quarantine, failed runs, ...
- cli.py          envmon alerts list|ack|resolve|retry|health|check-channels
- health.py       the outbox's backlog by channel and age; the channels' check at deployment start
- fallback.py     the operators' second path (an Airflow connection): no warehouse, no outbox

`run()` is the alert step: the nightly DAG's `alert` task, and the ingest and collection paths
after they re-assess late days, call it. Submodules are imported when used: the command line
imports this package to build its parser.
"""
from __future__ import annotations

from datetime import date, datetime

__all__ = ["run", "deliver", "acknowledge", "resolve", "EpisodeNotFound", "load_routing"]


class EpisodeNotFound(KeyError):
    pass


def load_routing(settings):
    from pipelines.alerts import routing

    return routing.load(settings.alert_routing)


def deliver(settings, routing=None):
    """Send every delivery that is due (`envmon alerts retry`, and the end of each alert step)."""
    from pipelines.alerts import outbox
    from warehouse import db

    return outbox.deliver_pending(db.engine_for(settings.warehouse_url), settings, routing or load_routing(settings))


def run(settings, days: list[date], data_label: str, now: datetime | None = None,
        operational_checks: bool = True) -> dict:
    """The alert step for `days`: the sections' episodes brought up to date from what is stored
    (notices for new state changes only), escalations due, the operational checks of those days,
    then every delivery that is due."""
    from pipelines import clock
    from pipelines.alerts import operational, outbox, sections
    from warehouse import db

    now = now or clock.now()
    engine = db.engine_for(settings.warehouse_url)
    routing = load_routing(settings)
    changes = sections.update_episodes(engine, routing, sorted(days), data_label, now)
    escalated = sections.escalate_due(engine, routing, now)
    raised = []
    if operational_checks:
        raised += operational.check_silent_sources(engine, routing, now)
        by_day = None
        if len(days) > 1:  # many days (an archive's ingest): the published comparisons read once
            from datetime import timedelta

            usual_days = int(routing.operational.get("usual_days", 28))
            by_day = operational.published_disagreement_by_day(engine, min(days) - timedelta(days=usual_days),
                                                               max(days))
        for day in sorted(days):
            raised += operational.check_quarantine_share(engine, routing, day, now)
            raised += operational.check_published_disagreement(engine, routing, day, now, by_day=by_day)
    delivered = outbox.deliver_pending(engine, settings, routing)
    return {"days": [d.isoformat() for d in sorted(days)], **changes.as_dict(), "escalated": len(escalated),
            "operational_alerts": len(raised), "sent": delivered.sent, "held": delivered.held,
            "retrying": delivered.retrying, "failed": delivered.failed, "deferred": delivered.deferred}


def acknowledge(engine, episode_id: int, who: str, comment: str | None = None) -> dict:
    """Acknowledge an episode: who, when and the comment go to the audit trail, and the first
    acknowledgement stops its escalation. The dashboard's entry point."""
    from pipelines.alerts import sections

    return sections.acknowledge(engine, episode_id, who, comment)


def resolve(engine, routing, episode_id: int, who: str, comment: str | None = None) -> dict:
    """Resolve an open episode by hand (audit trail, and a notice to its bureaus)."""
    from pipelines.alerts import sections

    return sections.resolve(engine, routing, episode_id, who, comment)


def after_late_data(settings, days) -> dict | None:
    """The alert step for the days a payload changed (the ingest path, after it re-assessed them):
    the days before today; today waits for its nightly run, as collection does. A late payload
    that turns a day into a failure is thus alerted once, and its re-ingest tells nobody again."""
    from pipelines import clock
    from pipelines.config import data_label

    today = clock.bureau_date(clock.now())
    late = sorted({day for day in days if day < today})
    return run(settings, late, data_label(settings)) if late else None


def housekeeping(settings=None) -> dict:
    """Between nightly runs (the hourly envmon_alerts DAG in live mode, or `envmon alerts retry`
    from cron): escalations that are due, sources gone silent, and every delivery that is due."""
    from pipelines import clock
    from pipelines.alerts import operational, outbox, sections
    from pipelines.config import load_settings
    from warehouse import db

    settings = settings or load_settings()
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    routing = load_routing(settings)
    now = clock.now()
    escalated = sections.escalate_due(engine, routing, now)
    silent = operational.check_silent_sources(engine, routing, now)
    delivered = outbox.deliver_pending(engine, settings, routing)
    return {"escalated": len(escalated), "silent_sources": silent, "sent": delivered.sent, "held": delivered.held,
            "retrying": delivered.retrying, "failed": delivered.failed, "deferred": delivered.deferred}


def on_failure(context) -> None:
    """Airflow's on_failure_callback of envmon's tasks: the failed run, to the operators, once per
    run, through the outbox; through the second path (fallback.py: an Airflow connection, no
    warehouse) when the outbox could not record it or none of the operators' channels took it, and
    always for the alert DAG's backlog check, whose failure means the outbox's channels are stuck.
    Light to import (the DAG files import it when Airflow parses them); never raises."""
    from pipelines.alerts import fallback
    from pipelines.alerts.operational import dag_failed

    if type(context.get("exception")).__name__ == "DeliveryBacklog":   # health.py, not imported for a name
        fallback.tell_operators(context, "告警投递积压 / alert deliveries stuck: the outbox's channels are not "
                                         "delivering (envmon alerts health).")
        return
    import os

    from pipelines.config import source_mode

    if source_mode() == "live" and not os.environ.get("ENVMON_WAREHOUSE_URL"):
        # an Airflow component without the warehouse (the dag-processor, which runs the callbacks of
        # tasks that died outside their process): no embedded SQLite made here to hold the notice
        fallback.tell_operators(context, "此 Airflow 组件无数据仓库 / this Airflow component has no warehouse "
                                         "(ENVMON_WAREHOUSE_URL): told on the second path only.")
        return
    if not dag_failed(context):
        fallback.tell_operators(context, "告警未能经由 envmon 的发件箱送出 / the failed run's notice could not be "
                                         "recorded or sent through envmon's outbox (warehouse or channel down).")


BACKLOG_TASK_ID = "check_delivery_backlog"   # the envmon_alerts DAG's task (dags/envmon_alerts.py)
