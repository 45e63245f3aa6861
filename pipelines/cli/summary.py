"""The run summary, read back from the warehouse so that it reports what was stored."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine

from warehouse import db, registry_drift

# a period with a class: judged against its target, or classed where the registry sets no target yet
# (issue 23: 'target unset', e.g. the two unnamed boundary sections); neither lacks data
CLASSED = ("assessed", "target unset")


def run_summary(engine: Engine, days: list[date], started_at: datetime, dashboard: str, data_label: str) -> dict:
    log = db.partition_log_for_days(engine, days)
    sources = {}
    for row in log:
        entry = sources.setdefault(row["source"], {"domain": row["domain"], "read": 0, "loaded": 0, "quarantined": 0})
        entry["read"] += row["rows_read"]
        entry["loaded"] += row["rows_loaded"]
        entry["quarantined"] += row["rows_quarantined"]
    flags = db.counts_for_days(engine, "observations", "qc_flag", days)
    rules = db.counts_for_days(engine, "quarantine", "expectation", days)
    for name, entry in sources.items():
        entry["reconciled"] = entry["read"] == entry["loaded"] + entry["quarantined"]
        entry["qc_flags"] = flags.get(name, {})               # of the loaded observations
        entry["quarantined_by_rule"] = rules.get(name, {})    # GX expectation or qc_duplicate
    assessments = db.assessments_for_days(engine, days)
    surface = [a for a in assessments if a["domain"] == "surface_water"]
    sea = [a for a in assessments if a["domain"] == "seawater"]
    air = [a for a in assessments if a["domain"] == "air"]
    failures = [a for a in assessments if a["is_cross_boundary"] and a["is_compliant"] is False]
    from pipelines.alerts import report

    alerts = report.run_alerts(engine, started_at)
    return {
        "sources": sources,
        "sections_assessed": len({a["station_id"] for a in surface if a["status"] in CLASSED}),
        "cross_boundary_failures": len(failures),
        "alerts_raised": alerts["notices"],   # notices recorded by this run (a state change each)
        "dashboard": dashboard,
        "days": [d.isoformat() for d in days],
        "data": data_label,
        "section_days_assessed": sum(a["status"] in CLASSED for a in surface),
        "section_days_target_unset": sum(a["status"] == "target unset" for a in surface),
        "section_days_insufficient_data": sum(a["status"] not in CLASSED for a in surface),
        "coastal_points_assessed": len({a["station_id"] for a in sea if a["status"] in CLASSED}),
        "air_stations_assessed": len({a["station_id"] for a in air if a["status"] == "assessed"}),
        "air_station_days_over_aqi_100": sum(a["is_compliant"] is False for a in air),
        "cross_boundary_sections_failed": sorted({a["station_id"] for a in failures}),
        # each failing section with class, target and items; the episodes opened, updated, resolved
        "failing_sections": report.failing_sections(engine, days),
        "alerts": alerts,
        "reconciled": all(entry["reconciled"] for entry in sources.values()),
        "published_disagreements": db.published_disagreements_for_days(engine, days),
        # stations the payloads named in the registry's cities that it lacks (`envmon registry unknown`):
        # all of them, those seen by this run's payloads, and those seen for the first time
        "registry_unknown": registry_drift.seen_since(engine, started_at),
    }
