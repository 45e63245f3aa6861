"""envmon's Prometheus metrics (issue 25, "Watchable"): the app serves them at /metrics without a
login, computed from the warehouse at the scrape; each family reads what a hand-made warehouse
holds, on envmon's clock. Parsed with prometheus_client's own text parser, as Prometheus would."""
import json
import math
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert, select

from pipelines import clock
from pipelines.config import load_settings
from pipelines.nightly import prepare_warehouse
from pipelines.observations import BUREAU_TZ
from pipelines.operations import metrics
from warehouse import db, schema

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2027, 1, 1, 12, 0, tzinfo=BUREAU_TZ)
TODAY = date(2027, 1, 1)
TOLERANCE = 5.0  # seconds: the clock is frozen, this only absorbs float rounding


def _samples(body: bytes) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of an exposition, through prometheus_client's parser."""
    out = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples, metric, **labels):
    return samples[(metric, tuple(sorted(labels.items())))]


def _assessment(station_id, day, domain, status="assessed", cross_boundary=True):
    return {"station_id": station_id, "period": "day", "period_start": day, "domain": domain, "standard": "GB 3838-2002",
            "indicators_assessed": "", "failing_parameters": "", "values_used": 1, "is_cross_boundary": cross_boundary,
            "status": status}


def _observation(station_id, at, value, source="cnemc-water"):
    return {"source": source, "station_id": station_id, "parameter": "nh3n", "observed_at": at,
            "averaging_period": "PT0S", "layer": "", "partition_day": at.astimezone(BUREAU_TZ).date(),
            "utc_offset_minutes": 480, "value": value, "unit": "mg/L", "qc_flag": "good" if value is not None else "missing",
            "batch_id": "b"}


def _ledger(source, hours_ago, status):
    return {"source": source, "expected_at": NOW - timedelta(hours=hours_ago), "status": status, "tries": 1,
            "fetches": 0, "unchanged_fetches": 0, "updated_at": NOW}


def _payload(source, status, retryable=None):
    return {"source": source, "received_at": NOW, "fetched_at": NOW, "sha256": "0" * 64, "size_bytes": 1,
            "archive_path": "/nowhere", "status": status, "retryable": retryable}


def _partition(source, day, read, quarantined):
    return {"source": source, "partition_day": day, "domain": "water", "batch_id": "b", "rows_read": read,
            "rows_loaded": read - quarantined, "rows_quarantined": quarantined, "suite_name": "s", "loaded_at": NOW}


def _delivery(notice_id, recipient, status, created_at, channel="email", attempts=0):
    return {"notice_id": notice_id, "recipient_id": recipient, "channel": channel, "target": "duty@bureau.invalid",
            "language": "zh", "status": status, "attempts": attempts, "created_at": created_at}


@pytest.fixture
def watched(warehouse_url, tmp_path, set_clock):
    """A warehouse in a known state at 2027-01-01 12:00 (bureau clock, frozen)."""
    set_clock(NOW)
    settings = load_settings({"ENVMON_HOME": str(tmp_path / "home"), "ENVMON_WAREHOUSE_URL": warehouse_url})
    prepare_warehouse(settings)
    engine = db.engine_for(warehouse_url)
    s = schema.stations
    with engine.connect() as connection:
        sections = list(connection.execute(select(s.c.station_id).where(s.c.is_cross_boundary.is_(True))
                                           .order_by(s.c.station_id)).scalars())
        air_station = connection.execute(select(s.c.station_id).where(s.c.station_type == "air")).scalars().first()
    stale, silent = sections[0], sections[1]
    db.ensure_observation_partitions(engine, [date(2026, 12, 27), TODAY])  # PostgreSQL's monthly partitions
    with engine.begin() as connection:
        # the stale section: its newest value 3 days old; a later row without a value does not count
        connection.execute(insert(schema.observations), [
            _observation(stale, NOW - timedelta(days=5), 0.4),
            _observation(stale, NOW - timedelta(days=3), 0.5),
            _observation(stale, NOW - timedelta(hours=1), None)])
        connection.execute(insert(schema.watermarks), [
            {"source": "cnemc-air", "last_observed_at": NOW - timedelta(hours=2), "updated_at": NOW}])
        connection.execute(insert(schema.assessments), [
            _assessment(stale, date(2026, 12, 29), "surface_water"),
            _assessment(stale, date(2026, 12, 31), "surface_water", status="insufficient data"),
            _assessment(air_station, date(2026, 12, 31), "air", cross_boundary=False)])
        connection.execute(insert(schema.collection_ledger), [
            _ledger("cnemc-air", 3, "fetched"), _ledger("cnemc-air", 2, "fetched"), _ledger("cnemc-air", 1, "gap")])
        connection.execute(insert(schema.payloads), [
            _payload("cnemc-air", "loaded"), _payload("cnemc-air", "loaded"), _payload("cnemc-air", "loaded"),
            _payload("lab", "failed", retryable=False), _payload("lab", "failed", retryable=True),
            _payload("lab", "stored")])
        connection.execute(insert(schema.partition_log), [
            _partition("lab", TODAY - timedelta(days=2), 100, 25),
            _partition("lab", TODAY - timedelta(days=10), 100, 100)])   # outside the 7 days
        notice = connection.execute(insert(schema.alert_notices).values(
            notice_key="n1", category="section", kind="opened", subject_id=stale, is_urgent=True,
            facts="{}", created_at=NOW - timedelta(hours=3))).inserted_primary_key[0]
        connection.execute(insert(schema.alert_deliveries), [
            _delivery(notice, "a", "pending", NOW - timedelta(hours=2)),
            _delivery(notice, "b", "failed", NOW - timedelta(minutes=30), attempts=3),
            _delivery(notice, "c", "sent", NOW - timedelta(hours=3), attempts=1),
            _delivery(notice, "d", "sent", NOW - timedelta(hours=3), channel="wecom", attempts=1)])
    return {"settings": settings, "engine": engine, "stale": stale, "silent": silent}


def _scrape(watched) -> tuple[int, str, bytes]:
    from dashboards.app import create_app

    settings = watched["settings"]
    app = create_app(settings.warehouse_url, settings.home / "users.json", settings.home, secret_key="test",
                     cache_seconds=0)
    response = app.server.test_client().get("/metrics")  # no session: /metrics needs no login
    return response.status_code, response.headers["Content-Type"], response.data


def test_the_app_serves_each_family_with_the_warehouse_state_without_a_login(watched):
    status, content_type, body = _scrape(watched)
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    samples = _samples(body)
    assert _value(samples, "envmon_warehouse_up") == 1
    # freshness per source (the watermark, 2 h) and per cross-boundary section (its newest value, 3 days)
    assert _value(samples, "envmon_source_freshness_seconds", source="cnemc-air", domain="air") == \
        pytest.approx(2 * 3600, abs=TOLERANCE)
    assert _value(samples, "envmon_source_newest_observation_timestamp_seconds", source="cnemc-air", domain="air") == \
        (NOW - timedelta(hours=2)).timestamp()
    names = {dict(labels)["section_id"]: dict(labels)["name"] for (name, labels) in samples
             if name == "envmon_section_freshness_seconds"}
    stale, silent = watched["stale"], watched["silent"]
    assert _value(samples, "envmon_section_freshness_seconds", section_id=stale, name=names[stale]) == \
        pytest.approx(3 * 86400, abs=TOLERANCE)
    assert _value(samples, "envmon_section_freshness_seconds", section_id=silent, name=names[silent]) == math.inf
    # the latest assessed day: 12-29 for the section (12-31 was insufficient data), 3 bureau days back
    assert _value(samples, "envmon_section_days_since_assessed", section_id=stale, name=names[stale]) == 3
    assert _value(samples, "envmon_section_days_since_assessed", section_id=silent, name=names[silent]) == math.inf
    assert _value(samples, "envmon_latest_assessed_day_timestamp_seconds", domain="surface_water") == \
        datetime(2026, 12, 29, tzinfo=BUREAU_TZ).timestamp()
    assert _value(samples, "envmon_days_since_assessed", domain="air") == 1
    assert _value(samples, "envmon_days_since_assessed", domain="seawater") == math.inf
    # collection gaps and the payload log
    assert _value(samples, "envmon_collection_ledger_entries", source="cnemc-air", status="gap") == 1
    assert _value(samples, "envmon_collection_ledger_entries", source="cnemc-air", status="fetched") == 2
    assert _value(samples, "envmon_payloads", source="cnemc-air", status="loaded") == 3
    assert _value(samples, "envmon_payloads", source="lab", status="failed") == 2
    assert _value(samples, "envmon_payloads_unfinished", source="lab") == 2   # stored, failed retryable
    assert _value(samples, "envmon_payloads_unfinished", source="cnemc-air") == 0
    # the quarantine rate of the last 7 days: 25 of 100 (the 100 of 100 ten days ago is outside)
    assert _value(samples, "envmon_quarantine_ratio_last_7_days", source="lab") == 0.25
    assert _value(samples, "envmon_values_read_last_7_days", source="lab") == 100
    # the outbox by status and age: pending for 2 h, failed for 30 min, nothing held
    assert _value(samples, "envmon_outbox_deliveries", status="sent", channel="email") == 1
    assert _value(samples, "envmon_outbox_deliveries", status="pending", channel="email") == 1
    assert _value(samples, "envmon_outbox_oldest_waiting_seconds", status="pending") == \
        pytest.approx(2 * 3600, abs=TOLERANCE)
    assert _value(samples, "envmon_outbox_oldest_waiting_seconds", status="failed") == \
        pytest.approx(30 * 60, abs=TOLERANCE)
    assert _value(samples, "envmon_outbox_oldest_waiting_seconds", status="held") == 0


def test_a_warehouse_that_does_not_answer_reads_down_not_an_error(tmp_path):
    engine = db.engine_for(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    samples = _samples(metrics.exposition(engine, NOW))
    assert _value(samples, "envmon_warehouse_up") == 0
    assert not [name for name, _ in samples if name.startswith("envmon_source_")]


def test_the_proxy_never_serves_metrics_to_the_world():
    conf = (ROOT / "deploy" / "proxy" / "envmon.conf").read_text(encoding="utf-8")
    public = conf.split("listen 443 ssl", 1)[1].split("server {", 1)[0]
    assert re.search(r"location = /metrics \{\s*return 404;\s*\}", public), "the :443 server must refuse /metrics"


# ---- the Grafana dashboard reads only metrics that exist ------------------------------------------

GRAFANA = ROOT / "deploy" / "grafana" / "envmon.json"
METRIC_NAME = re.compile(r"\b((?:envmon|airflow)_[a-z0-9_]+)\b")


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(GRAFANA.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _envmon_families() -> set[str]:
    return set(re.findall(r"^  (envmon_\w+)", metrics.__doc__, re.M))


def _airflow_metrics() -> set[str]:
    """What Airflow 3.3 emits (its own registry of metrics), as the statsd-exporter names them: the
    prefix `airflow`, dots as underscores; timers become histograms (deploy/statsd/mapping.yml)."""
    import airflow._shared.observability.metrics as registry

    template = yaml.safe_load((Path(registry.__file__).parent / "metrics_template.yaml").read_text(encoding="utf-8"))
    names = set()
    for metric in template["metrics"]:
        name = "airflow_" + re.sub(r"[.\-]", "_", metric["name"])
        names.add(name)
        if metric["type"] == "timer":
            names |= {name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names


def test_the_grafana_dashboard_is_valid_json_and_queries_only_exported_metrics(watched):
    queries = _dashboard_queries()
    assert len(queries) >= 8
    named = {name for query in queries for name in METRIC_NAME.findall(query)}
    exported = {name for (name, _) in _samples(metrics.exposition(watched["engine"]))}
    assert exported == _envmon_families()
    envmon, airflow = {n for n in named if n.startswith("envmon_")}, {n for n in named if n.startswith("airflow_")}
    assert envmon <= exported, sorted(envmon - exported)
    assert airflow and airflow <= _airflow_metrics(), sorted(airflow - _airflow_metrics())
    # each family envmon exports has a panel
    assert _envmon_families() - {"envmon_source_newest_observation_timestamp_seconds",
                                 "envmon_values_read_last_7_days", "envmon_values_quarantined_last_7_days"} <= envmon
