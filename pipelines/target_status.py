"""What the target of a verdict rests on, where the stored row does not say (issue 23).

An assessment stores the status of the target it was made against (assessments.target_status:
official, assumed, unset). Rows written before that was recorded (migration 0016) hold NULL: for
them the registry's status of the section's target in force on the row's day is told
(pipelines.reference.targets.target_in_force), so that no page, document, notice or export passes
an assumed target off as official. Air rows have no target and stay empty. Where the registry
cannot say (no targets module, a station it does not know), nothing more is said.
"""
from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.display import is_missing

NO_TARGET_DOMAINS = ("air",)   # HJ 633 days: an AQI, no section target


def registry_status(section_id: str, day: date) -> str | None:
    """The registry's status ('official', 'assumed', 'unset') of the section's target in force on
    `day`, or None where the registry has no answer."""
    try:
        from pipelines.reference.targets import target_in_force
    except ImportError:  # a tree without the registry's target periods
        return None
    try:
        status = target_in_force(section_id, _as_date(day)).status
    except (KeyError, LookupError, ValueError, TypeError):
        return None
    return None if is_missing(status) else str(status)


def filled(frame: pd.DataFrame, id_column: str = "station_id", day_column: str = "period_start") -> pd.DataFrame:
    """The frame with a `target_status` column whose empty cells (rows from before it was stored)
    hold the registry's status for that station and day; air rows stay empty."""
    frame = frame.copy()
    if "target_status" not in frame.columns:
        frame["target_status"] = None
    frame["target_status"] = frame["target_status"].astype(object)
    if frame.empty:
        return frame
    empty = frame["target_status"].map(is_missing)
    if "domain" in frame.columns:
        empty &= ~frame["domain"].isin(NO_TARGET_DOMAINS)
    if not empty.any():
        return frame
    asked: dict[tuple, str | None] = {}
    statuses = []
    for station_id, day in zip(frame.loc[empty, id_column], frame.loc[empty, day_column]):
        key = (station_id, day)
        if key not in asked:
            asked[key] = registry_status(station_id, day)
        statuses.append(asked[key])
    frame.loc[empty, "target_status"] = pd.Series(statuses, index=frame.index[empty], dtype=object)
    return frame


def _as_date(day) -> date:
    if isinstance(day, pd.Timestamp):
        return day.date()
    if isinstance(day, str):
        return date.fromisoformat(day[:10])
    return day
