"""`envmon reassess --from --to`: the stored assessments of a range of days recomputed from the
stored observations, after a change of the rule tables (a corrected limit, a value that was
UNVERIFIED, a new version of a standard).

Each day that holds assessments is assessed again as the nightly assessment step assesses it (the
same rules, the same month lock, the day's rollups and the month-to-date cross-boundary rows), under
the rules in force at the day, but set-based, a month at a time (pipelines/ingest/batches.assess_days,
as `envmon ingest` of an archive assesses the days it touched): one read and one write per month,
not per day. Every result records the rule version it was computed under; a stored
result that a computation under another version replaces is kept in assessment_history
(db.replace_assessments), so a bureau can show what it reported then and what the rules in force
say now. Alerts are not raised again: a reassessment revisits the past, it does not page anyone.
"""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from pipelines.ingest import batches
from pipelines.config import Settings, load_settings
from warehouse import db

# a result changes with its class or verdict, and with the target it was judged against (issue 23)
RESULT_COLUMNS = ["water_class", "is_compliant", "grade", "aqi", "primary_pollutants", "status", "target_class",
                  "target_status"]


def days_with_assessments(engine, first: date, last: date) -> list[date]:
    """The days of the range whose assessments are stored (a month row counts for its month's days
    that hold day rows; months without any stored day are left alone)."""
    return sorted({start for _, period, start in db.assessment_partitions(engine, first, last) if period == "day"})


def reassess(first: date, last: date, settings: Settings | None = None) -> dict:
    """Recompute the stored assessments of `first`..`last`; returns what changed."""
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    settings = settings or load_settings()
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    days = days_with_assessments(engine, first, last)
    return {"from": first.isoformat(), "to": last.isoformat(),
            **reassess_days(engine, days, settings, window=(first.replace(day=1), last))}


def reassess_days(engine, days, settings: Settings, window: tuple[date, date] | None = None) -> dict:
    """Recompute the stored assessments of `days` (and of their months) under the rules and the
    registry in force for each (a registry version's changed periods: warehouse.registry_store);
    returns what changed within `window` (default: the months of `days`). Days outside `days` are
    not touched."""
    days = sorted(set(days))
    if not days:
        return {"days_reassessed": 0, **_changes(pd.DataFrame(columns=db.ASSESSMENT_COLUMNS),
                                                 pd.DataFrame(columns=db.ASSESSMENT_COLUMNS)), "kept_in_history": 0}
    month_first, last = days[0].replace(day=1), days[-1]
    month_last = (last.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    month_first, month_last = window or (month_first, month_last)
    before = db.assessments_between(engine, month_first, month_last)
    history_before = len(db.read_table(engine, "assessment_history"))
    batches.assess_days(engine, days, settings)
    after = db.assessments_between(engine, month_first, month_last)
    return {"days_reassessed": len(days), **_changes(before, after),
            "kept_in_history": len(db.read_table(engine, "assessment_history")) - history_before}


def _changes(before: pd.DataFrame, after: pd.DataFrame) -> dict:
    key = ["station_id", "period", "period_start"]
    joined = after.merge(before, on=key, how="left", suffixes=("", "_before"), indicator=True)
    stored = joined[joined["_merge"] == "both"]
    moved = stored[stored["rule_version"].astype(object).fillna("") != stored["rule_version_before"].astype(object).fillna("")]
    differs = pd.Series(False, index=stored.index)
    for column in RESULT_COLUMNS:
        new, old = stored[column].astype(object), stored[f"{column}_before"].astype(object)
        differs |= ~((new == old) | (new.isna() & old.isna()))
    transitions = (moved["rule_version_before"].astype(object).fillna("(not recorded)") + " → " + moved["rule_version"])
    return {"assessments": len(after), "new_rule_version": len(moved), "result_changed": int(differs.sum()),
            "rule_versions": {t: int(n) for t, n in transitions.value_counts().sort_index().items()},
            "changed_results": [
                {"station_id": row.station_id, "period": row.period, "period_start": str(row.period_start),
                 "domain": row.domain,
                 "before": _result_text(row, "_before"), "after": _result_text(row, "")}
                for row in stored[differs].itertuples(index=False)][:200]}


def _result_text(row, suffix: str) -> str:
    values = {column: getattr(row, f"{column}{suffix}") for column in ("water_class", "aqi", "is_compliant", "grade")}
    shown = [f"{k}={v}" for k, v in values.items() if v is not None and not (isinstance(v, float) and pd.isna(v))]
    return ", ".join(shown)
