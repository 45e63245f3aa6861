"""What a run did about alerts, for the run summary (pipelines/cli/summary.py): each failing
cross-boundary section with its class, target and items, the episodes the run opened, updated
and resolved, and how their notices' deliveries went. A person reads it without the outbox."""
from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import Engine

from pipelines.reference import registry
from warehouse import alert_store


def _name(section_id: str) -> str:
    names = registry.sections()["name_zh"]
    return names.get(section_id, section_id)


def failing_sections(engine: Engine, days: list[date]) -> list[dict]:
    """The failed cross-boundary assessments of `days` (day) and of their months (month to date)."""
    from pipelines.alerts.sections import cross_boundary_sections

    sections = cross_boundary_sections()
    rows = alert_store.assessments_of(engine, "day", days, sections)
    rows += alert_store.assessments_of(engine, "month", sorted({d.replace(day=1) for d in days}), sections)
    out = []
    for row in rows:
        if row["is_compliant"] is not False:
            continue
        items = [{"parameter": i["parameter"], "class": i["class"], "multiple_vs_target": i["multiple_vs_target"]}
                 for i in json.loads(row["failing_parameters"] or "[]")]
        out.append({"section_id": row["station_id"], "section_name": _name(row["station_id"]), "period": row["period"],
                    "period_start": row["period_start"].isoformat(), "water_class": row["water_class"],
                    "target_class": row["target_class"], "items": items})
    return out


def _episode(row: dict) -> dict:
    return {"episode_id": row["episode_id"], "section_id": row["section_id"], "section_name": _name(row["section_id"]),
            "status": row["status"], "opened_on": row["opened_on"].isoformat(),
            "resolved_on": row["resolved_on"].isoformat() if row["resolved_on"] else None,
            "worst_class": row["worst_class"], "target_class": row["target_class"], "days_failed": row["days_failed"],
            "items": [i["parameter"] for i in json.loads(row["failing_items"])]}


def run_alerts(engine: Engine, started_at: datetime) -> dict:
    """Episodes changed and notices recorded since the run started, with their deliveries."""
    changed = alert_store.episodes_changed_since(engine, started_at)
    opened = [e for e in changed if e["created_at"] >= started_at]
    resolved = [e for e in changed if e["status"] in ("resolved", "withdrawn")]
    updated = [e for e in changed if e not in opened and e not in resolved]
    notices = alert_store.notices_since(engine, started_at)
    counts = alert_store.delivery_counts(engine, [n["notice_id"] for n in notices])
    kinds: dict[str, int] = {}
    for notice in notices:
        kinds[notice["kind"]] = kinds.get(notice["kind"], 0) + 1
    return {"notices": len(notices), "notices_by_kind": kinds,
            "episodes_opened": [_episode(e) for e in opened], "episodes_updated": [_episode(e) for e in updated],
            "episodes_resolved": [_episode(e) for e in resolved],
            "deliveries": {status: counts.get(status, 0) for status in ("sent", "pending", "held", "failed")},
            # e-mails held for want of an SMTP server: the simulated default, which writes them as .eml files
            "emails_held": sum(1 for d in alert_store.deliveries(engine, ("held",), [n["notice_id"] for n in notices])
                               if d["channel"] == "email")}


def _items(items: list[dict]) -> str:
    return ", ".join(f"{i['parameter']} ×{i['multiple_vs_target']:.2f}" if i.get("multiple_vs_target") is not None
                     else i["parameter"] for i in items) or "-"


def lines(summary: dict) -> list[str]:
    """The summary's alert part as text, one fact a line."""
    out = []
    for f in summary.get("failing_sections", []):
        period = "day" if f["period"] == "day" else "month to date"
        out.append(f"  failing: {f['section_name']} ({f['section_id']}) {f['period_start']} {period}: "
                   f"{f['water_class']} / target {f['target_class']}; {_items(f['items'])}")
    alerts = summary.get("alerts", {})
    for key, label in (("episodes_opened", "opened"), ("episodes_updated", "updated"), ("episodes_resolved", "resolved")):
        for e in alerts.get(key, []):
            ended = f" … {e['resolved_on']}" if e["resolved_on"] else ""
            out.append(f"  episode {label}: #{e['episode_id']} {e['section_name']} ({e['section_id']}) "
                       f"{e['opened_on']}{ended}, {e['worst_class']} / target {e['target_class']}, "
                       f"{e['days_failed']} days failed, {', '.join(e['items']) or '-'}")
    if alerts:
        d = alerts["deliveries"]
        out.append(f"  notices: {alerts['notices']} ({', '.join(f'{k} {n}' for k, n in sorted(alerts['notices_by_kind'].items())) or 'none'})"
                   f" · deliveries sent {d['sent']}, pending {d['pending']}, held {d['held']}, failed {d['failed']}")
        if alerts.get("emails_held"):
            out.append(f"  {alerts['emails_held']} e-mails held: no SMTP server (ENVMON_SMTP_HOST), so they are written "
                       "as .eml files to ENVMON_HOME/outbox; live mode refuses to start without working channels "
                       "(envmon alerts check-channels); envmon alerts health shows the backlog")
    return out


NOTICE_COLUMNS = ["notice_id", "notice_key", "category", "kind", "episode_id", "subject_id", "is_urgent",
                  "effective_on", "created_at"]
DELIVERY_COLUMNS = ["delivery_id", "notice_id", "recipient_id", "channel", "target", "language", "status",
                    "attempts", "not_before", "sent_at", "last_error"]


def notices_frame(engine: Engine):
    """One row per delivery of every notice (a notice without recipients: one row, no delivery)."""
    from warehouse import db

    notices = db.read_table(engine, "alert_notices", order_by=["notice_id"])[NOTICE_COLUMNS]
    deliveries = db.read_table(engine, "alert_deliveries", order_by=["delivery_id"])[DELIVERY_COLUMNS]
    frame = notices.merge(deliveries, on="notice_id", how="left").sort_values(["notice_id", "delivery_id"])
    frame["delivery_id"] = frame["delivery_id"].astype("Int64")
    frame["attempts"] = frame["attempts"].astype("Int64")
    return frame.reset_index(drop=True)
