"""envmon's Prometheus metrics, computed from the warehouse at each scrape (the app serves them at
/metrics; README "Operating: watching it"). Ages are counted on envmon's clock (pipelines/clock.py),
in seconds, or in bureau days where the thing measured is a day. A section or source never seen
reads +Inf, so "older than" alerts fire for it too.

  envmon_warehouse_up                                  1, or 0 when the warehouse did not answer
  envmon_scrape_duration_seconds                       how long computing these took
  envmon_source_freshness_seconds{source,domain}       since the source's newest observation
  envmon_source_newest_observation_timestamp_seconds{source,domain}
  envmon_section_freshness_seconds{section_id,name}    since a cross-boundary section's newest value
  envmon_section_days_since_assessed{section_id,name}  bureau days since its latest assessed day
  envmon_latest_assessed_day_timestamp_seconds{domain} the latest assessed day (its 00:00, bureau clock)
  envmon_days_since_assessed{domain}                   bureau days since then
  envmon_collection_ledger_entries{source,status}      expected feed hours/snapshots by status (gap: never delivered)
  envmon_payloads{source,status}                       the payload log by status
  envmon_payloads_unfinished{source}                   received, stored or failed-retryable: `ingest --resume`'s work
  envmon_values_read_last_7_days{source}               values read on the last 7 bureau days (partition log)
  envmon_values_quarantined_last_7_days{source}
  envmon_quarantine_ratio_last_7_days{source}          quarantined / read on those days
  envmon_outbox_deliveries{status,channel}             the alert outbox by status
  envmon_outbox_oldest_waiting_seconds{status}         the longest an unsent delivery has waited (0: none)
"""
from __future__ import annotations

import math
import time
from datetime import date, datetime, time as day_start, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from pipelines import clock
from pipelines.observations import BUREAU_TZ, SOURCE_DOMAINS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUARANTINE_WINDOW_DAYS = 7
DOMAINS = ("surface_water", "air", "seawater")


def _gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _day_start(day: date) -> datetime:
    return datetime.combine(day, day_start(), tzinfo=BUREAU_TZ)


def _days_since(day: date | None, today: date) -> float:
    return math.inf if day is None else float((today - day).days)


def _waiting_since(delivery: dict) -> datetime:
    from pipelines.alerts.health import _waiting_since as since  # the backlog check's own rule

    return since(delivery)


def warehouse_families(engine, now: datetime) -> list[GaugeMetricFamily]:
    """Every family read from the warehouse, as of `now`."""
    from warehouse import collection_ledger, metrics_store

    today = clock.bureau_date(now)
    families = []

    freshness = _gauge("envmon_source_freshness_seconds", "Seconds since the source's newest observation",
                       ("source", "domain"))
    newest_at = _gauge("envmon_source_newest_observation_timestamp_seconds",
                       "Unix time of the source's newest observation", ("source", "domain"))
    for source, newest in sorted(metrics_store.newest_observation_by_source(engine).items()):
        labels = [source, SOURCE_DOMAINS.get(source, "")]
        freshness.add_metric(labels, (now - newest).total_seconds())
        newest_at.add_metric(labels, newest.timestamp())
    families += [freshness, newest_at]

    section_fresh = _gauge("envmon_section_freshness_seconds",
                           "Seconds since the cross-boundary section's newest observation with a value",
                           ("section_id", "name"))
    section_assessed = _gauge("envmon_section_days_since_assessed",
                              "Bureau days since the cross-boundary section's latest assessed day",
                              ("section_id", "name"))
    for section in metrics_store.cross_boundary_sections(engine):
        labels = [section["section_id"], section["name"]]
        newest = section["newest_observation"]
        section_fresh.add_metric(labels, math.inf if newest is None else (now - newest).total_seconds())
        section_assessed.add_metric(labels, _days_since(section["latest_assessed_day"], today))
    families += [section_fresh, section_assessed]

    latest_day = _gauge("envmon_latest_assessed_day_timestamp_seconds",
                        "Unix time of 00:00 (bureau clock) of the domain's latest assessed day", ("domain",))
    days_since = _gauge("envmon_days_since_assessed", "Bureau days since the domain's latest assessed day",
                        ("domain",))
    latest = metrics_store.latest_assessed_day_by_domain(engine)
    for domain in sorted(set(DOMAINS) | set(latest)):
        if domain in latest:
            latest_day.add_metric([domain], _day_start(latest[domain]).timestamp())
        days_since.add_metric([domain], _days_since(latest.get(domain), today))
    families += [latest_day, days_since]

    ledger = _gauge("envmon_collection_ledger_entries",
                    "Expected feed hours and snapshots of the collection ledger by status", ("source", "status"))
    for source, counts in sorted(collection_ledger.totals(engine).items()):
        for status, count in counts.items():
            ledger.add_metric([source, status], count)
    families.append(ledger)

    payloads = _gauge("envmon_payloads", "Payloads in the payload log by status", ("source", "status"))
    unfinished = _gauge("envmon_payloads_unfinished",
                        "Payloads a fault left unfinished (received, stored, failed retryable)", ("source",))
    left: dict[str, int] = {}
    for row in metrics_store.payload_counts(engine):
        payloads.add_metric([row["source"], row["status"]], row["payloads"])
        left[row["source"]] = left.get(row["source"], 0) + row["unfinished"]
    for source, count in sorted(left.items()):
        unfinished.add_metric([source], count)
    families += [payloads, unfinished]

    first = today - timedelta(days=QUARANTINE_WINDOW_DAYS - 1)
    read = _gauge("envmon_values_read_last_7_days", "Values read on the last 7 bureau days", ("source",))
    held = _gauge("envmon_values_quarantined_last_7_days", "Values quarantined on the last 7 bureau days",
                  ("source",))
    ratio = _gauge("envmon_quarantine_ratio_last_7_days",
                   "Share of the values read on the last 7 bureau days that were quarantined", ("source",))
    for source, (rows_read, rows_held) in sorted(metrics_store.rows_read_and_quarantined(engine, first).items()):
        read.add_metric([source], rows_read)
        held.add_metric([source], rows_held)
        if rows_read:
            ratio.add_metric([source], rows_held / rows_read)
    families += [read, held, ratio]

    outbox = _gauge("envmon_outbox_deliveries", "Alert deliveries in the outbox by status and channel",
                    ("status", "channel"))
    for row in metrics_store.delivery_counts(engine):
        outbox.add_metric([row["status"], row["channel"]], row["deliveries"])
    oldest = {status: 0.0 for status in metrics_store.UNSENT}
    for delivery in metrics_store.unsent_deliveries(engine):
        waited = max((now - _waiting_since(delivery)).total_seconds(), 0.0)
        oldest[delivery["status"]] = max(oldest[delivery["status"]], waited)
    waiting = _gauge("envmon_outbox_oldest_waiting_seconds",
                     "Seconds the longest-waiting unsent delivery of each status has waited", ("status",))
    for status, seconds in oldest.items():
        waiting.add_metric([status], seconds)
    families += [outbox, waiting]
    return families


class _Snapshot:
    """A prometheus_client collector of families computed once, for one scrape."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return iter(self.families)


def exposition(engine, now: datetime | None = None) -> bytes:
    """The metrics in Prometheus' text format. A warehouse that does not answer gives
    envmon_warehouse_up 0 (and nothing read from it), not an error: that is what to alert on."""
    started = time.perf_counter()
    now = now or clock.now()
    up = _gauge("envmon_warehouse_up", "1 when the warehouse answered this scrape, else 0")
    try:
        families = warehouse_families(engine, now)
        up.add_metric([], 1)
    except Exception:  # noqa: BLE001 - any failure of the database is "down" to the watcher
        import logging

        logging.getLogger(__name__).warning("envmon metrics: the warehouse did not answer", exc_info=True)
        families = []
        up.add_metric([], 0)
    took = _gauge("envmon_scrape_duration_seconds", "Seconds envmon took to compute these metrics")
    took.add_metric([], time.perf_counter() - started)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([up, took, *families]))
    return generate_latest(registry)
