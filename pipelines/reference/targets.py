"""Each section's water-quality target by period (issue 23): the class in force on a day, what it rests
on (basis, source document) and its status: `official` (a bureau's list, an official document),
`assumed` (envmon's placeholder, said so wherever a verdict against it appears) or `unset` (no target:
the classes are computed, compliance reads 目标未定). There is no silent default: a section without a
row on a day has its target unset.

The rows are kept as the rule tables keep theirs (standards.md §4.0 style): effective periods, the
source beside each row. The repository's pipelines/reference/data/section_targets.csv is the seed.
A process that works on a warehouse uses the warehouse's versioned registry instead
(warehouse.registry_store.use_warehouse_registry sets it here with `use_targets`): the seed as the
warehouse took it (version 1), then every list imported and every section adopted since.

This module reads no warehouse (no import cycle): it holds the table in force for the process.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).parent / "data"
SEED_FILE = DATA_DIR / "section_targets.csv"

STATUSES = ("official", "assumed", "unset")
COLUMNS = ["section_id", "target_class", "valid_from", "valid_to", "basis", "source_document", "status"]


@dataclass(frozen=True)
class Target:
    target_class: str | None       # None when unset
    status: str                    # official | assumed | unset
    basis: str
    source_document: str
    valid_from: date | None
    valid_to: date | None          # None: open-ended

    @property
    def is_set(self) -> bool:
        return self.target_class is not None


def unset_target(reason: str = "no target row for this section on this day") -> Target:
    return Target(None, "unset", reason, "", None, None)


@cache
def seed_targets() -> pd.DataFrame:
    """The seed rows (section_targets.csv), dates as dates, target_class None where unset."""
    frame = pd.read_csv(SEED_FILE, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"section_targets.csv lacks the columns {missing}")
    return normalised(frame)


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Target rows in one form: dates as datetime.date (valid_to None when open), target_class None
    when empty, the status checked against its vocabulary and against the class (unset ⇔ no class)."""
    frame = frame.reindex(columns=COLUMNS).astype(object)
    frame["valid_from"] = pd.Series([_date(v) for v in frame["valid_from"]], index=frame.index, dtype=object)
    frame["valid_to"] = pd.Series([_date(v) for v in frame["valid_to"]], index=frame.index, dtype=object)
    frame["target_class"] = pd.Series([None if _blank(v) else str(v) for v in frame["target_class"]],
                                      index=frame.index, dtype=object)
    for column in ("basis", "source_document"):
        frame[column] = ["" if _blank(v) else str(v) for v in frame[column]]
    for row in frame.itertuples(index=False):
        if row.status not in STATUSES:
            raise ValueError(f"section {row.section_id}: target status {row.status!r} is not one of {STATUSES}")
        if (row.status == "unset") != (row.target_class is None):
            raise ValueError(f"section {row.section_id}: status {row.status} with target class {row.target_class!r} "
                             "(a target is unset exactly when it has no class)")
        if row.valid_from is None:
            raise ValueError(f"section {row.section_id}: a target row without valid_from")
    return frame.reset_index(drop=True)


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == "" \
        or str(value) in ("NaT", "None", "nan")


def _date(value) -> date | None:
    if _blank(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


class TargetTable:
    """Periods per section, for a lookup per (section, day) in the bulk assessment's loops."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self._periods: dict[str, list[tuple[date, date | None, Target]]] = {}
        for row in frame.sort_values("valid_from", kind="stable").itertuples(index=False):
            self._periods.setdefault(row.section_id, []).append(
                (row.valid_from, row.valid_to, Target(row.target_class, row.status, row.basis, row.source_document,
                                                      row.valid_from, row.valid_to)))
        self._starts = {sid: [p[0] for p in periods] for sid, periods in self._periods.items()}
        # the days a target begins or ends: a registry frame's targets are the same between two of them
        days = set(frame["valid_from"]) | {d.fromordinal(d.toordinal() + 1) for d in frame["valid_to"] if d is not None}
        self.change_days = sorted(days)

    def at(self, section_id: str, day: date) -> Target:
        periods = self._periods.get(section_id)
        if not periods:
            return unset_target("no target row for this section")
        position = bisect.bisect_right(self._starts[section_id], day) - 1
        while position >= 0:
            valid_from, valid_to, target = periods[position]
            if valid_to is None or day <= valid_to:
                return target
            position -= 1
            break  # periods do not overlap: the latest one begun has ended
        return unset_target(f"no target in force on {day.isoformat()}")


# --- the table in force for this process -----------------------------------------------------------
# None: the seed. warehouse.registry_store sets the warehouse's (key: its version and content).
_ACTIVE: tuple[object, TargetTable] | None = None


@cache
def _seed_table() -> TargetTable:
    return TargetTable(seed_targets())


def use_targets(key, frame: pd.DataFrame | None) -> None:
    """Make `frame` (normalised target rows in force, any number of periods) this process's targets;
    None goes back to the seed. `key` names the registry version it came from."""
    global _ACTIVE
    _ACTIVE = None if frame is None else (key, TargetTable(frame))


def active_key():
    """The key of the targets in force for this process (None: the seed): caches of registry frames
    keep theirs under it."""
    return None if _ACTIVE is None else _ACTIVE[0]


def table() -> TargetTable:
    return _seed_table() if _ACTIVE is None else _ACTIVE[1]


def target_in_force(section_id: str, day: date) -> Target:
    """The target of `section_id` in force on `day`: class (None when unset), status, basis,
    source document and its period. A day before any row of the section: unset."""
    return table().at(section_id, day)
