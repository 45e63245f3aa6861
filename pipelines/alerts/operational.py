"""Operational alerts, to envmon's operators (the routing file's [[operators]]), apart from the
bureaus' alerts: a source silent longer than its cadence allows, a night's quarantine share far
above its usual level, a feed whose published classes disagree with envmon's far more than usual,
a failed DAG run (Airflow's on_failure_callback), a station a feed names that the registry
does not know, and a feed outage (hours recorded as gaps in the collection ledger: one episode,
opened and ended, however many collections it lasts). Each is one notice, keyed by what it is about, so a check run again tells nobody
twice; the thresholds are in the routing file's [operational] table."""
from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine

from pipelines import clock
from pipelines.alerts import outbox
from pipelines.alerts.routing import Routing
from warehouse import alert_store

log = logging.getLogger(__name__)
URGENT = {"source_silent": True, "dag_failed": True, "source_back": False, "quarantine_share": False,
          "published_disagreement": False, "unknown_station": False,
          # a feed's missing hours are recorded and caught up by themselves: they wait out quiet hours
          "feed_outage": False, "feed_back": False}
# issue 21: a feed's header unlike its layout (feed_formats.csv); issue 20: a cross-boundary section
# without a valid day for `section_silent_after_days` (routing [operational])
URGENT.update({"format_changed": True, "section_silent": False})
SECTION_SILENT_AFTER_DAYS = 7  # default when the routing file does not set it
MINIMUM_USUAL_DAYS = 7   # fewer days before it: no "usual" level to compare with, no alert
MINIMUM_ROWS = 20        # a share of a handful of rows says nothing


def record(engine: Engine, routing: Routing, kind: str, subject_id: str, key: str, facts: dict,
           now: datetime | None = None, day: date | None = None) -> int | None:
    """One operational notice to the operators, unless one of the same key exists."""
    now = now or clock.now()
    notice = {"notice_key": f"operational/{kind}/{key}", "category": "operational", "kind": kind, "episode_id": None,
              "subject_id": subject_id, "is_urgent": URGENT[kind], "effective_on": day,
              "facts": json.dumps({"category": "operational", "kind": kind, "subject_id": subject_id, **facts},
                                  ensure_ascii=False, default=str)}
    with engine.begin() as connection:
        return outbox.record(connection, routing, notice, list(routing.operators), now)


def check_silent_sources(engine: Engine, routing: Routing, now: datetime | None = None) -> list[str]:
    """A source whose newest observation is older than its allowed silence: one notice per
    silence (keyed by that newest observation), and one when it delivers again."""
    now = now or clock.now()
    allowed = routing.operational.get("silent_after_hours", {})
    raised = []
    for source, newest in sorted(alert_store.watermarks(engine).items()):
        if source not in allowed:
            continue
        hours = (now - newest).total_seconds() / 3600
        if hours > float(allowed[source]):
            facts = {"last_observed_at": newest.isoformat(), "silent_hours": hours, "allowed_hours": float(allowed[source])}
            if record(engine, routing, "source_silent", source, f"{source}/{newest.isoformat()}", facts, now):
                raised.append(source)
            continue
        with engine.connect() as connection:
            last = alert_store.latest_notice(connection, "source_silent", source)
        if last is not None:
            silent_since = json.loads(last["facts"])["last_observed_at"]
            if silent_since < newest.isoformat():
                record(engine, routing, "source_back", source, f"{source}/{silent_since}",
                       {"last_observed_at": newest.isoformat(), "silent_since": silent_since}, now)
    return raised


def far_above(share: float, usual: float, factor: float, margin: float) -> bool:
    """Far above usual: more than `factor` times it and more than `margin` above it (a source that
    usually quarantines nothing is not alarming at 1 %)."""
    return share > usual * factor and share > usual + margin


def _unusual(frame: pd.DataFrame, day: date, count: str, total: str, routing: Routing, prefix: str) -> list[dict]:
    """Per source: the day's share of `count` in `total` if far above the median of the days before."""
    settings = routing.operational
    factor, margin = float(settings.get(f"{prefix}_share_factor", 3.0)), float(settings.get(f"{prefix}_share_margin", 0.10))
    found = []
    for source, rows in frame.groupby("source"):
        today = rows[rows["day"] == day]
        before = rows[(rows["day"] < day) & (rows[total] >= MINIMUM_ROWS)]
        if today.empty or int(today[total].sum()) < MINIMUM_ROWS or before["day"].nunique() < MINIMUM_USUAL_DAYS:
            continue
        share = today[count].sum() / today[total].sum()
        usual = float((before[count] / before[total]).median())
        if far_above(share, usual, factor, margin):
            found.append({"source": source, "day": day.isoformat(), "share": float(share), "usual": usual,
                          "count": int(today[count].sum()), "total": int(today[total].sum()),
                          "usual_days": int(before["day"].nunique())})
    return found


def check_quarantine_share(engine: Engine, routing: Routing, day: date, now: datetime | None = None) -> list[str]:
    usual_days = int(routing.operational.get("usual_days", 28))
    shares = alert_store.partition_shares(engine, day - timedelta(days=usual_days), day).rename(
        columns={"partition_day": "day"})
    raised = []
    for finding in _unusual(shares, day, "rows_quarantined", "rows_read", routing, "quarantine"):
        if record(engine, routing, "quarantine_share", finding["source"], f"{finding['source']}/{day.isoformat()}",
                  finding, now, day):
            raised.append(finding["source"])
    return raised


def published_disagreement_by_day(engine: Engine, first: date, last: date) -> pd.DataFrame:
    """Published readings compared and disagreeing per source and bureau day, days first..last."""
    from pipelines.observations import bureau_day_bounds

    start, _ = bureau_day_bounds(first)
    _, end = bureau_day_bounds(last)
    rows = alert_store.published_agreement(engine, start, end)
    if rows.empty:
        return pd.DataFrame(columns=["source", "day", "disagrees", "compared"])
    local = pd.to_datetime(rows["observed_at"], utc=True).dt.tz_convert(clock.BUREAU_TZ)
    rows["day"] = [date(t.year, t.month, t.day) for t in local]  # clock.bureau_date of each time
    rows["disagrees"] = (~rows["agrees"].astype(bool)).astype(int)
    return rows.groupby(["source", "day"]).agg(disagrees=("disagrees", "sum"), compared=("agrees", "size")).reset_index()


def check_published_disagreement(engine: Engine, routing: Routing, day: date, now: datetime | None = None,
                                 by_day: pd.DataFrame | None = None) -> list[str]:
    """`by_day`: published_disagreement_by_day over a span holding this day's window, read once
    for a run of many days (an archive's ingest) instead of once per day."""
    usual_days = int(routing.operational.get("usual_days", 28))
    if by_day is None:
        by_day = published_disagreement_by_day(engine, day - timedelta(days=usual_days), day)
    daily = by_day[(by_day["day"] >= day - timedelta(days=usual_days)) & (by_day["day"] <= day)] if len(by_day) \
        else by_day
    if daily.empty:
        return []
    raised = []
    for finding in _unusual(daily, day, "disagrees", "compared", routing, "disagreement"):
        if record(engine, routing, "published_disagreement", finding["source"],
                  f"{finding['source']}/{day.isoformat()}", finding, now, day):
            raised.append(finding["source"])
    return raised


def report_unknown_stations(source: str, stations, settings=None, now: datetime | None = None) -> int:
    """The hook for the parsers: stations a payload of `source` named that the registry does not
    know (ids or names). Each (source, station) is told to the operators once, ever; returns how
    many were new. Delivery is attempted at once."""
    from pipelines.alerts import deliver
    from pipelines.config import load_settings
    from pipelines.alerts import routing as routing_module
    from warehouse import db

    settings = settings or load_settings()
    routing = routing_module.load(settings.alert_routing)
    engine = db.engine_for(settings.warehouse_url)
    new = 0
    for station in sorted({str(s) for s in stations if str(s).strip()}):
        if record(engine, routing, "unknown_station", f"{source}/{station}", f"{source}/{station}",
                  {"source": source, "station": station}, now):
            new += 1
    if new:
        deliver(settings, routing)
    return new


def feed_outage_state(engine: Engine, source: str) -> dict | None:
    """The feed's open outage episode (its opening notice's facts and time), or None."""
    with engine.connect() as connection:
        opened = alert_store.latest_notice(connection, "feed_outage", source)
        ended = alert_store.latest_notice(connection, "feed_back", source)
    if opened is None or (ended is not None and ended["notice_id"] > opened["notice_id"]):
        return None
    return {**json.loads(opened["facts"]), "opened_at": opened["created_at"], "notice_key": opened["notice_key"]}


def feed_outage(engine: Engine, routing: Routing, source: str, new_gaps: list[datetime], delivering: bool,
                now: datetime | None = None) -> str | None:
    """A feed outage as one episode, as for sections: `opened` (one notice) at the first gap a
    collection records, `continuing` (no notice) while gaps keep coming or older hours are still
    missing, `ended` (one notice) at the first collection that records no new gap while the feed
    is `delivering` (nothing unfinished before its newest hour). None: no outage."""
    now = now or clock.now()
    episode = feed_outage_state(engine, source)
    if episode is None:
        if not new_gaps:
            return None
        first = min(new_gaps)
        facts = {"source": source, "first_gap": first.isoformat(), "gaps": len(new_gaps),
                 "gap_hours": [g.isoformat() for g in sorted(new_gaps)[:24]]}
        record(engine, routing, "feed_outage", source, f"{source}/{first.isoformat()}", facts, now)
        return "opened"
    if new_gaps or not delivering:
        return "continuing"
    from warehouse import collection_ledger

    gaps = collection_ledger.gaps(engine, datetime.fromisoformat(episode["first_gap"]))
    facts = {"source": source, "first_gap": episode["first_gap"], "opened_at": episode["opened_at"].isoformat(),
             "gaps": int((gaps["source"] == source).sum())}
    record(engine, routing, "feed_back", source, episode["notice_key"].removeprefix("operational/feed_outage/"),
           facts, now)
    return "ended"


def format_change_key(source: str, changes: list[dict]) -> str:
    """The same differences of the same layout give the same key: a change is told once, however
    many payloads carry it; a further change (another column) is a new notice."""
    import hashlib

    layouts = sorted({f"{c.get('feed', source)}/{c.get('format', '')}" for c in changes})
    content = json.dumps(sorted((c["kind"], c["column"], c.get("expected", "")) for c in changes), ensure_ascii=False)
    return f"{source}/{';'.join(layouts)}/{hashlib.sha256(content.encode()).hexdigest()[:16]}"


def tell_format_changes(source: str, changes: list[dict], settings=None, now: datetime | None = None) -> int | None:
    """The hook for the ingest path: a payload whose header differs from its layout (refused or
    quarantined by column). One "format changed" notice per distinct change; delivery attempted at
    once. Never raises: the payload's own outcome is already recorded (logged when this fails)."""
    if not changes:
        return None
    try:
        from pipelines.alerts import deliver
        from pipelines.alerts import routing as routing_module
        from pipelines.config import load_settings
        from warehouse import db

        settings = settings or load_settings()
        routing = routing_module.load(settings.alert_routing)
        engine = db.engine_for(settings.warehouse_url)
        facts = {"source": source, "format": changes[0].get("format", ""),
                 "changes": [{k: c.get(k, "") for k in ("kind", "column", "expected", "parameter", "unit",
                                                          "expected_unit", "role", "said")} for c in changes]}
        notice_id = record(engine, routing, "format_changed", source, format_change_key(source, changes), facts, now)
        if notice_id is not None:
            deliver(settings, routing)
        return notice_id
    except Exception:  # noqa: BLE001 - logged, never raised (see above)
        log.exception("envmon: the format-changed notice could not be recorded")
        return None


def check_silent_sections(connection_engine: Engine, routing: Routing, sections: list[str],
                          now: datetime | None = None) -> list[str]:
    """Cross-boundary sections without a valid (assessed) day for `section_silent_after_days`
    (routing [operational]), counted back from the newest day stored for them: one "no valid data
    for N days" notice per silence, keyed by its last valid day; a silence is never an episode."""
    from warehouse import alert_store as store

    after = int(routing.operational.get("section_silent_after_days", SECTION_SILENT_AFTER_DAYS))
    raised = []
    with connection_engine.connect() as connection:
        rows = store.section_assessments(connection, sections, None)
    newest: dict[str, date] = {}
    valid: dict[str, date] = {}
    first: dict[str, date] = {}
    for row in rows:
        section, day = row["station_id"], row["period_start"]
        newest[section] = max(newest.get(section, day), day)
        first[section] = min(first.get(section, day), day)
        if row["status"] == "assessed":
            valid[section] = max(valid.get(section, day), day)
    for section in sorted(newest):
        last_valid = valid.get(section)
        since = last_valid or first[section] - timedelta(days=1)
        silent_days = (newest[section] - since).days
        if silent_days < after:
            continue
        facts = {"section_id": section, "last_valid_day": last_valid.isoformat() if last_valid else None,
                 "newest_day": newest[section].isoformat(), "silent_days": silent_days, "after_days": after}
        if record(connection_engine, routing, "section_silent", section,
                  f"{section}/{last_valid.isoformat() if last_valid else 'never'}", facts, now, newest[section]):
            raised.append(section)
    return raised


def dag_failed(context) -> bool:
    """Airflow's on_failure_callback: the failed run, to the operators, once per DAG run. True when
    an operators' channel took it (or an earlier task's notice of the run exists); False sends it
    through the second path (pipelines.alerts.on_failure). Never raises: a callback that fails
    would hide the failure it reports."""
    try:
        from pipelines.alerts import deliver
        from pipelines.alerts import routing as routing_module
        from pipelines.config import load_settings
        from warehouse import db

        settings = load_settings()
        routing = routing_module.load(settings.alert_routing)
        task_instance = context.get("task_instance") or context.get("ti")
        dag_run = context.get("dag_run")
        dag_id = getattr(task_instance, "dag_id", None) or getattr(dag_run, "dag_id", "?")
        run_id = getattr(task_instance, "run_id", None) or getattr(dag_run, "run_id", "?")
        error = context.get("exception")
        facts = {"dag_id": dag_id, "run_id": run_id, "task_id": getattr(task_instance, "task_id", "?"),
                 "error": f"{type(error).__name__}: {str(error)[:500]}" if error else None,
                 "log_url": getattr(task_instance, "log_url", None)}
        engine = db.engine_for(settings.warehouse_url)
        db.migrate(engine)
        notice_id = record(engine, routing, "dag_failed", dag_id, f"{dag_id}/{run_id}", facts)
        if notice_id is None:
            return True   # the run's notice exists: told (or sent through the second path) once already
        deliver(settings, routing)
        return alert_store.delivery_counts(engine, [notice_id]).get("sent", 0) > 0
    except Exception:  # noqa: BLE001 - logged, never raised (see above)
        log.exception("envmon: the failed-run alert could not be recorded")
        return False
