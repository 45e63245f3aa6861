"""The warehouse's tables as analysts receive them (envmon export ... --format csv)."""
from __future__ import annotations

from datetime import timedelta, timezone

import pandas as pd

from warehouse import db


def _with_offset(instant, offset_minutes) -> str:
    if instant is None or pd.isna(instant):
        return ""
    return instant.astimezone(timezone(timedelta(minutes=int(offset_minutes)))).isoformat()


def observations(engine) -> pd.DataFrame:
    frame = db.read_observations_with_names(engine)
    if frame.empty:
        return pd.DataFrame(columns=["station_id", "station_name", "parameter", "observed_at", "value", "unit",
                                     "qc_flag", "qc_note", "averaging_period", "observed_at_utc", "source",
                                     "batch_id", "original_value"])
    frame["observed_at_utc"] = [t.astimezone(timezone.utc).isoformat() for t in frame["observed_at"]]
    # observed_at on the source's own clock, with its offset (ISO 8601)
    frame["observed_at"] = [_with_offset(t, o) for t, o in zip(frame["observed_at"], frame["utc_offset_minutes"])]
    return frame[["station_id", "station_name", "parameter", "observed_at", "value", "unit", "qc_flag", "qc_note",
                  "averaging_period", "observed_at_utc", "source", "batch_id", "original_value"]]


def _instants_iso(frame: pd.DataFrame, columns) -> pd.DataFrame:
    for column in columns:
        frame[column] = [_with_offset(t, 0) for t in frame[column]]
    return frame


def _with_target_status(frame: pd.DataFrame) -> pd.DataFrame:
    """The `target_status` column last (official, assumed, unset: what the verdict's target rests on,
    issue 23); a row from before it was stored tells the registry's status for its section and day,
    an air row none (an empty cell)."""
    from pipelines import target_status

    frame = target_status.filled(frame)
    return frame[[*[c for c in frame.columns if c != "target_status"], "target_status"]]


def export_frame(engine, table: str) -> pd.DataFrame:
    if table == "observations":
        return observations(engine)
    if table == "assessments":
        frame = db.read_table(engine, "assessments", order_by=["period_start", "station_id"])
        names = db.read_table(engine, "stations")[["station_id", "name_zh"]].rename(columns={"name_zh": "station_name"})
        frame = _with_target_status(frame.merge(names, on="station_id", how="left"))
        return frame[["station_id", "station_name", *[c for c in frame.columns if c not in ("station_id", "station_name")]]]
    if table == "quarantine":
        return _instants_iso(db.read_table(engine, "quarantine", order_by=["quarantine_id"]), ["observed_at"])
    if table == "alerts":  # every notice (a state change, or an operational event) with its deliveries
        from pipelines.alerts.report import notices_frame

        return _instants_iso(notices_frame(engine), ["created_at", "sent_at", "not_before"])
    if table == "published":  # what the publisher reported: class, AQI, primary pollutants, names
        return _instants_iso(db.read_table(engine, "published_results", order_by=["source", "station_id", "observed_at"]),
                             ["observed_at"])
    if table == "payloads":  # the ingest log
        return _instants_iso(db.read_table(engine, "payloads", order_by=["payload_id"]), ["received_at", "fetched_at"])
    if table == "history":  # values a later payload replaced
        return _instants_iso(db.read_table(engine, "observation_history", order_by=["history_id"]),
                             ["observed_at", "superseded_at"])
    if table == "assessment-history":  # results replaced by a computation under another rule version
        return _instants_iso(_with_target_status(db.read_table(engine, "assessment_history", order_by=["history_id"])),
                             ["superseded_at"])
    if table == "rollups":  # daily and monthly means; reported_mean says '< limit' below a detection limit
        return db.read_table(engine, "rollups", order_by=["period", "period_start", "station_id", "parameter"])
    if table == "air-annual":  # the HJ 663 annual statistics, per station and city (pipelines.assessment.air_annual)
        from warehouse import air_annual_store

        return air_annual_store.annual_statistics(engine)
    raise ValueError(f"unknown export {table!r}")
