"""A steward's action on stored values and what follows it (issue 25): the action itself, audited, in
one transaction (warehouse/stewardship.py), then the days and months it touched assessed again
(pipelines/ingest/reassess.reassess_days), each result it changed kept in assessment_history with the
action that changed it, and the alert step for those days, as after late data: an episode a
withdrawn value opened ends as revised."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from pipelines.config import Settings
from warehouse import db, stewardship

RESULT_COLUMNS = ["water_class", "is_compliant", "grade", "aqi", "primary_pollutants", "status"]


def take(settings: Settings, action: str, scope: stewardship.Scope, reason: str, by: str,
         flag: str | None = None) -> dict:
    """withdraw | flag | restore the values of `scope`; returns the action, the days reassessed
    and the results that changed (before → after, in pipelines.display words)."""
    from warehouse import security_audit

    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    address = security_audit.cli_address()
    with engine.begin() as connection:
        if action == "restore":
            outcome = stewardship.restore(connection, scope, reason, by, address=address)
        else:
            outcome = stewardship.act(connection, action, scope, reason, by, flag=flag, address=address)
    changed = reassess(settings, outcome["days"], outcome["stewardship_id"])
    return {**outcome, "days": [d.isoformat() for d in outcome["days"]], "changed_results": changed}


def reassess(settings: Settings, days: list[date], action_id: int) -> list[dict]:
    """The days (and their months) assessed again after an action; each result it changed is kept in
    assessment_history, superseded by the action (a result replaced under other rules is kept there
    by the assessment itself). Then the alert step for the days, as after late data."""
    from pipelines import alerts
    from pipelines.ingest.reassess import reassess_days

    if not days:
        return []
    engine = db.engine_for(settings.warehouse_url)
    first = min(days).replace(day=1)
    last = (max(days).replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    before = db.assessments_between(engine, first, last)
    reassess_days(engine, days, settings, window=(first, last))
    after = db.assessments_between(engine, first, last)
    changed = _changed(before, after)
    _keep_in_history(engine, changed, action_id)
    alerts.after_late_data(settings, days)
    return [{"station_id": row["station_id"], "period": row["period"], "period_start": str(row["period_start"]),
             "domain": row["domain"], "before": _result_text(row, "_before"), "after": _result_text(row, "")}
            for row in changed.to_dict("records")]


def _same(new: pd.Series, old: pd.Series) -> pd.Series:
    new, old = new.astype(object), old.astype(object)
    return (new == old) | (new.isna() & old.isna())


def _changed(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """The results whose class, verdict or status the action changed (after, with `_before` columns)."""
    key = ["station_id", "period", "period_start"]
    joined = after.merge(before, on=key, how="inner", suffixes=("", "_before"))
    differs = pd.Series(False, index=joined.index)
    for column in RESULT_COLUMNS:
        differs |= ~_same(joined[column], joined[f"{column}_before"])
    return joined[differs].reset_index(drop=True)


def _keep_in_history(engine, changed: pd.DataFrame, action_id: int) -> None:
    """The results before the action, in assessment_history, unless the assessment kept them already
    (computed under another rule version or target: db.is_superseded)."""
    from sqlalchemy import insert

    from pipelines import clock
    from warehouse import schema

    columns = [c.name for c in schema.assessments.c]
    rows = []
    for row in changed.to_dict("records"):
        earlier = {c: db._normalised(row[f"{c}_before"] if f"{c}_before" in row else row[c]) for c in columns}
        current = {c: db._normalised(row[c]) for c in columns}
        if db.is_superseded(earlier, current):
            continue
        rows.append({**earlier, "superseded_at": clock.now(), "superseded_by_rule_version": current["rule_version"],
                     "superseded_by_stewardship_id": action_id})
    if rows:
        with engine.begin() as connection:
            connection.execute(insert(schema.assessment_history), rows)


def _result_text(row: dict, suffix: str) -> str:
    from pipelines import display

    def value(column):
        return row.get(f"{column}{suffix}")
    if row.get("domain") == "air":
        return display.aqi_text(value("aqi"), "en", value("status"))
    return display.class_and_verdict(value("water_class"), value("is_compliant"), "en", value("status"),
                                     value("target_status"))
