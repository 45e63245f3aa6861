"""Stewardship of stored values (issue 25): a value withdrawn or re-flagged with a reason, by hand
(`envmon observations invalidate|flag|restore`) or by a lab's complete statement
(pipelines/statements.py), kept in observation_stewardship with who, when and why.

A value is never deleted. Withdrawing it sets its qc_flag to `withdrawn` (outside every
ENVMON_ASSESSABLE_FLAGS, so no assessment, rollup or report uses it) and keeps the flag QC gave it
in qc_flag_tested; the version it replaces goes to observation_history, superseded by the action.
Every writer of observations applies the actions in force to the rows it writes (`applied`: the
nightly load, the archive path, the backfill), under the partition locks it holds, so a re-ingest of
the same payload, or a later payload with the same value, never brings a withdrawn value back; a
later payload with another value is a revision, kept in history, and stays withdrawn. A restore
ends actions (lifted_by_id) and gives each value back the flag QC gave it, or that of another
action still in force on it. The latest action on a value wins.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from warehouse import db, schema

WITHDRAWN = "withdrawn"
ACTIONS = ("withdraw", "flag", "restore")
ORIGINS = ("manual", "complete_statement")
AUDIT_EVENTS = {"withdraw": "observation_withdrawn", "flag": "observation_flagged", "restore": "observation_restored"}
HISTORY_SOURCE_COLUMNS = ["source", "station_id", "parameter", "observed_at", "averaging_period", "layer", "value",
                          "original_value", "qc_flag", "batch_id", "payload_id", "stewardship_id"]


class StewardshipError(ValueError):
    """An action that cannot be taken (no value in its scope, nothing in force to restore): one line."""


def steward_flags() -> tuple[str, ...]:
    """The flags a steward may set: QC's own, and withdrawn."""
    from pipelines.observations import QC_FLAGS

    return (*QC_FLAGS, WITHDRAWN)


@dataclass(frozen=True)
class Scope:
    """The values an action covers: one station's parameter observed from `first` to `last` (both
    included, UTC-aware), of one source and layer or of all."""
    station_id: str
    parameter: str
    first: datetime
    last: datetime
    source: str | None = None
    layer: str | None = None

    def condition(self, table):
        clauses = [table.c.station_id == self.station_id, table.c.parameter == self.parameter,
                   table.c.observed_at >= self.first, table.c.observed_at <= self.last]
        if self.source:
            clauses.append(table.c.source == self.source)
        if self.layer is not None:
            clauses.append(table.c.layer == self.layer)
        return and_(*clauses)

    def shown(self) -> str:
        from pipelines.clock import BUREAU_TZ

        def at(t):
            return t.astimezone(BUREAU_TZ).strftime("%Y-%m-%d %H:%M")
        extra = "".join(f" {name} {value}" for name, value in (("source", self.source), ("layer", self.layer)) if value)
        return f"{self.parameter} of {self.station_id}{extra} observed {at(self.first)} … {at(self.last)} (UTC+8)"


def describe(record) -> str:
    """The action in words, as `envmon history` shows it: 'withdrawn by X on D: reason'."""
    from pipelines.clock import BUREAU_TZ

    if record is None:
        return ""
    record = dict(record)
    when = record["acted_at"].astimezone(BUREAU_TZ).strftime("%Y-%m-%d %H:%M")
    done = {"withdraw": "withdrawn", "restore": "restored"}.get(record["action"]) or f"flagged {record['flag']}"
    return f"{done} by {record['acted_by']} on {when} (UTC+8): {record['reason']}"


def _record_scope(record) -> Scope:
    return Scope(record["station_id"], record["parameter"], record["observed_from"], record["observed_to"],
                 record["source"], record["layer"])


def _in_force(connection: Connection, source: str | None = None, station_id: str | None = None,
              parameter: str | None = None):
    s = schema.observation_stewardship
    query = select(s).where(s.c.action.in_(("withdraw", "flag")), s.c.lifted_by_id.is_(None))
    if source is not None:
        query = query.where(or_(s.c.source.is_(None), s.c.source == source))
    if station_id is not None:
        query = query.where(s.c.station_id == station_id, s.c.parameter == parameter)
    return [dict(r) for r in connection.execute(query.order_by(s.c.stewardship_id)).mappings().all()]


# --- the writers: the actions in force on the rows they write ---------------------------------

def applied(connection: Connection, source: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows a writer is about to store (one source), each under the latest action in force on it:
    its flag in qc_flag, QC's own in qc_flag_tested, the action in stewardship_id. Call it under the
    partition locks the write holds, so an action committed before the write is seen by it."""
    if frame.empty:
        return frame
    records = _in_force(connection, source)
    if not records:
        return frame
    out = frame.copy()
    for column in ("stewardship_id", "qc_flag_tested"):
        out[column] = out[column].astype(object) if column in out else pd.Series(None, index=out.index, dtype=object)
    times = pd.to_datetime(out["observed_at"], utc=True)
    layers = out["layer"].fillna("").astype(str) if "layer" in out else pd.Series("", index=out.index)
    for record in records:  # in order: the latest action on a value wins
        hit = ((out["station_id"] == record["station_id"]) & (out["parameter"] == record["parameter"])
               & (times >= pd.Timestamp(record["observed_from"])) & (times <= pd.Timestamp(record["observed_to"])))
        if record["layer"] is not None:
            hit &= layers == record["layer"]
        if not hit.any():
            continue
        tested = out.loc[hit, "qc_flag_tested"]
        out.loc[hit, "qc_flag_tested"] = tested.where(tested.notna(), out.loc[hit, "qc_flag"])
        out.loc[hit, "qc_flag"] = record["flag"]
        out.loc[hit, "stewardship_id"] = int(record["stewardship_id"])
    return out


# --- actions ------------------------------------------------------------------------------------

def _rows(connection: Connection, condition) -> pd.DataFrame:
    o = schema.observations
    columns = [*HISTORY_SOURCE_COLUMNS, "partition_day", "qc_flag_tested"]
    rows = connection.execute(select(*(o.c[c] for c in columns)).where(condition)).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=columns)


def _lock(connection: Connection, rows: pd.DataFrame) -> None:
    for source, day in sorted({(s, d) for s, d in zip(rows["source"], rows["partition_day"])}, key=str):
        db.partition_lock(connection, "observations", source, day)


def _keep_versions(connection: Connection, rows: pd.DataFrame, action_id: int, now: datetime) -> None:
    """The versions an action replaces, in observation_history (superseded by the action, not a payload)."""
    if rows.empty:
        return
    history = [{**{c: db._normalised(row[c]) for c in HISTORY_SOURCE_COLUMNS}, "superseded_at": now,
                "superseded_by_payload_id": None, "superseded_by_stewardship_id": action_id}
               for row in rows.to_dict("records")]
    connection.execute(insert(schema.observation_history), history)


def _days(rows: pd.DataFrame) -> list:
    from datetime import date

    return sorted({d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for d in rows["partition_day"]})


def act(connection: Connection, action: str, scope: Scope, reason: str, by: str, flag: str | None = None,
        origin: str = "manual", payload_id: int | None = None, address: str | None = None,
        audit: bool = True, now: datetime | None = None) -> dict:
    """Withdraw (flag `withdrawn`) or re-flag the stored values of `scope`, in the caller's
    transaction: the action recorded, the versions it replaces kept in history, the values
    flagged, and (with `audit`) one row in the security audit log. Returns the action's id, the
    values and the bureau days it touched."""
    from pipelines import clock

    if action not in ("withdraw", "flag"):
        raise ValueError(f"unknown action {action!r}")
    flag = WITHDRAWN if action == "withdraw" else flag
    if flag not in steward_flags():
        raise StewardshipError(f"unknown flag {flag!r}: one of {', '.join(steward_flags())}")
    if not reason or not reason.strip():
        raise StewardshipError("a reason is needed: say why")
    o, s = schema.observations, schema.observation_stewardship
    found = _rows(connection, scope.condition(o))
    if found.empty:
        raise StewardshipError(f"no stored values of {scope.shown()}")
    _lock(connection, found)
    rows = _rows(connection, scope.condition(o))  # again, under the locks: what a concurrent load left
    now = now or clock.now()
    record = {"action": action, "flag": flag, "source": scope.source, "station_id": scope.station_id,
              "parameter": scope.parameter, "layer": scope.layer, "observed_from": scope.first,
              "observed_to": scope.last, "reason": reason.strip(), "acted_by": by, "acted_at": now, "origin": origin,
              "payload_id": payload_id, "values_affected": len(rows), "lifted_by_id": None}
    action_id = connection.execute(insert(s).values(**record).returning(s.c.stewardship_id)).scalar_one()
    _keep_versions(connection, rows, action_id, now)
    connection.execute(update(o).where(scope.condition(o)).values(
        qc_flag_tested=func.coalesce(o.c.qc_flag_tested, o.c.qc_flag), qc_flag=flag, stewardship_id=action_id))
    text = describe({**record, "stewardship_id": action_id})
    if audit:
        _audit(connection, action, by, address, f"{scope.shown()}: {len(rows)} values {text}; action {action_id}", now)
    return {"stewardship_id": action_id, "action": action, "flag": flag, "values": len(rows), "days": _days(rows),
            "said": text}


def restore(connection: Connection, scope: Scope, reason: str, by: str, address: str | None = None,
            now: datetime | None = None) -> dict:
    """End every action in force on values of `scope` (each whole: a value of such an action outside
    the scope is restored too), in the caller's transaction: each value gets back the flag QC gave
    it, or that of another action still in force on it (the latest). Recorded and audited as a
    `restore` action; the versions it replaces kept in history."""
    from pipelines import clock

    if not reason or not reason.strip():
        raise StewardshipError("a reason is needed: say why")
    o, s = schema.observations, schema.observation_stewardship
    candidates = _in_force(connection, scope.source, scope.station_id, scope.parameter)
    ended = [r for r in candidates if r["observed_from"] <= scope.last and r["observed_to"] >= scope.first
             and (scope.layer is None or r["layer"] in (None, scope.layer))
             and (scope.source is None or r["source"] in (None, scope.source))]
    if not ended:
        raise StewardshipError(f"no withdrawal or flag in force on {scope.shown()}")
    ids = [r["stewardship_id"] for r in ended]
    found = _rows(connection, o.c.stewardship_id.in_(ids))
    if len(found):
        _lock(connection, found)
    rows = _rows(connection, o.c.stewardship_id.in_(ids))
    now = now or clock.now()
    record = {"action": "restore", "flag": None, "source": scope.source, "station_id": scope.station_id,
              "parameter": scope.parameter, "layer": scope.layer, "observed_from": scope.first,
              "observed_to": scope.last, "reason": reason.strip(), "acted_by": by, "acted_at": now,
              "origin": "manual", "payload_id": None, "values_affected": len(rows), "lifted_by_id": None}
    action_id = connection.execute(insert(s).values(**record).returning(s.c.stewardship_id)).scalar_one()
    connection.execute(update(s).where(s.c.stewardship_id.in_(ids)).values(lifted_by_id=action_id))
    _keep_versions(connection, rows, action_id, now)
    connection.execute(update(o).where(o.c.stewardship_id.in_(ids)).values(
        qc_flag=func.coalesce(o.c.qc_flag_tested, o.c.qc_flag), qc_flag_tested=None, stewardship_id=None))
    for other in _in_force(connection, None, scope.station_id, scope.parameter):  # still in force: latest wins
        other_scope = _record_scope(other)
        connection.execute(update(o).where(
            other_scope.condition(o), or_(o.c.stewardship_id.is_(None), o.c.stewardship_id < other["stewardship_id"])
        ).values(qc_flag_tested=func.coalesce(o.c.qc_flag_tested, o.c.qc_flag), qc_flag=other["flag"],
                 stewardship_id=other["stewardship_id"]))
    text = describe(record)
    _audit(connection, "restore", by, address,
           f"{scope.shown()}: {len(rows)} values {text}; actions {', '.join(map(str, ids))} ended by action {action_id}",
           now)
    return {"stewardship_id": action_id, "action": "restore", "ended": ids, "values": len(rows), "days": _days(rows),
            "said": text}


def _audit(connection: Connection, action: str, by: str, address: str | None, detail: str, now: datetime) -> None:
    from warehouse import security_audit

    security_audit.record(connection, AUDIT_EVENTS[action], by, address, detail, now=now)


# --- reading ----------------------------------------------------------------------------------

def actions(engine: Engine, ids=None) -> dict[int, dict]:
    """The recorded actions (of `ids`, or all), by id."""
    s = schema.observation_stewardship
    query = select(s)
    if ids is not None:
        ids = sorted({int(i) for i in ids if i is not None and not pd.isna(i)})
        if not ids:
            return {}
        query = query.where(s.c.stewardship_id.in_(ids))
    with engine.connect() as connection:
        return {r["stewardship_id"]: dict(r) for r in connection.execute(query).mappings().all()}


def described(engine: Engine, ids: pd.Series) -> pd.Series:
    """Each id's action in words ('' for none)."""
    found = actions(engine, ids.tolist())
    return ids.map(lambda i: "" if i is None or pd.isna(i) else describe(found.get(int(i)))).astype(object)


def applied_by_source(connection: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    """`applied` to a frame of several sources (a `source` column): the backfill's first load."""
    if frame.empty or not _in_force(connection):
        return frame
    return pd.concat([applied(connection, source, rows) for source, rows in frame.groupby("source", sort=False)]
                     ).loc[frame.index]
