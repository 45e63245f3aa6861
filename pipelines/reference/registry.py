"""The monitoring network: surface-water sections, coastal points, air stations and bureaus.

The rows live in pipelines/reference/data/*.csv so that a bureau corrects a name, a target or an
assumption in one place. Every row that is not official says so in `assumptions`.

Those files are the seed (issue 23). A process that works on a warehouse uses the registry versioned
there (warehouse.registry_store.use_warehouse_registry calls `use_registry`): the seed, plus the
sections and stations adopted from the feeds or imported from a bureau's list since, less those a
list no longer names from the day they were withdrawn, with each section's target in force
(pipelines.reference.targets). The frames are cached per registry version and per stretch of days
between two of its changes; `at` asks for the registry of a day (default today, pipelines.clock).
The `target_class` of a section row is the target in force on that day (its `target_status` beside
it); a verdict of another day takes that day's own (targets.target_in_force), never this column.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import pandas as pd

from pipelines.reference import targets

DATA_DIR = Path(__file__).parent / "data"

WATER_STATION_TYPES = ("river", "lake-reservoir")
SEA_STATION_TYPE = "sea"
AIR_STATION_TYPE = "air"

# registry_stations.registry: which of the two seed files a joined row extends
SECTIONS_REGISTRY, AIR_REGISTRY = "sections", "air"

# the joined rows in force for this process (None: the seed alone): every registry_stations row of
# every version, and the key of the version they came from
_JOINED: tuple[object, pd.DataFrame, list[date]] | None = None


def use_registry(key, joined: pd.DataFrame | None, target_rows: pd.DataFrame | None) -> None:
    """Make a registry version this process's registry: `joined`, the registry_stations rows (all
    versions; the latest version whose valid_from has come decides a station's state on a day),
    and `target_rows`, the section_targets rows in force. None, None: back to the seed."""
    global _JOINED
    if joined is None or joined.empty:
        _JOINED = None if joined is None else (key, joined, [])
    else:
        days = {d for d in joined["valid_from"] if d is not None} | {d for d in joined["withdrawn_from"] if d is not None}
        _JOINED = (key, joined, sorted(days))
    targets.use_targets(key, target_rows)


def use_seed() -> None:
    """The repository's files alone (as a process without a warehouse sees them)."""
    use_registry(None, None, None)


def has_joined_stations() -> bool:
    """Whether the registry in force holds stations beyond the seed files' (adopted, imported, withdrawn)."""
    return _JOINED is not None and not _JOINED[1].empty


def version_key():
    """The key of the registry in force for this process (None: the seed files)."""
    return (None if _JOINED is None else _JOINED[0], targets.active_key())


def _epoch(at) -> date:
    """The first day of the stretch of days `at` falls in, between two changes of the registry (a
    station joining or withdrawn, a target beginning or ending): the cache key of its frames."""
    from pipelines import clock

    day = clock.today() if at is None else (at.date() if hasattr(at, "date") and callable(at.date) else at)
    changes = sorted(set(targets.table().change_days) | set(_JOINED[2] if _JOINED else []))
    position = bisect.bisect_right(changes, day)
    return changes[position - 1] if position else date.min


@cache
def _seed_sections() -> pd.DataFrame:
    frame = pd.read_csv(DATA_DIR / "sections.csv", dtype=str, keep_default_na=False)
    frame["longitude"] = frame["longitude"].astype(float)
    frame["latitude"] = frame["latitude"].astype(float)
    frame["is_cross_boundary"] = frame["is_cross_boundary"].eq("true")
    frame["is_drinking_water_source"] = frame["is_drinking_water_source"].eq("true")
    if frame["section_id"].duplicated().any():
        raise ValueError("sections.csv has duplicate section_id values")
    return frame.set_index("section_id", drop=False)


@cache
def _seed_air_stations() -> pd.DataFrame:
    frame = pd.read_csv(DATA_DIR / "air_stations.csv", dtype=str, keep_default_na=False)
    frame["longitude"] = frame["longitude"].astype(float)
    frame["latitude"] = frame["latitude"].astype(float)
    return frame.set_index("station_id", drop=False)


def _joined_state(registry_name: str, day: date) -> tuple[dict[str, dict], set[str]]:
    """The joined rows of one registry on `day`: {station_id: row} of the stations a version set
    (the latest version whose valid_from has come), and the ids withdrawn by then."""
    if _JOINED is None or _JOINED[1].empty:
        return {}, set()
    rows = _JOINED[1]
    rows = rows[(rows["registry"] == registry_name)
                & rows["valid_from"].map(lambda d: d is None or d <= day)].sort_values("version_id")
    state: dict[str, dict] = {}
    for row in rows.to_dict("records"):
        state[row["station_id"]] = row
    withdrawn = {sid for sid, row in state.items() if row["withdrawn_from"] is not None and row["withdrawn_from"] <= day}
    return {sid: row for sid, row in state.items() if sid not in withdrawn}, withdrawn


def _merged(seed: pd.DataFrame, id_column: str, registry_name: str, day: date) -> pd.DataFrame:
    joined, withdrawn = _joined_state(registry_name, day)
    frame = seed[~seed.index.isin(withdrawn | set(joined))]
    if joined:
        extra = pd.DataFrame([{**row, id_column: sid} for sid, row in joined.items()])
        for column in seed.columns:
            if column not in extra.columns:
                extra[column] = None
        extra = extra[list(seed.columns) + ["version_id"]].rename(columns={"version_id": "joined_in_version"})
        for column in seed.columns:
            if pd.api.types.is_bool_dtype(seed[column]):
                extra[column] = extra[column].map(lambda v: bool(v) if v is not None and v == v else False)
            elif pd.api.types.is_float_dtype(seed[column]):
                extra[column] = extra[column].astype(float)
            else:  # text, as the seed files are read: '' where the row has nothing
                extra[column] = extra[column].map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else v)
        frame = pd.concat([frame.assign(joined_in_version=None), extra.set_index(id_column, drop=False)])
    else:
        frame = frame.assign(joined_in_version=None)
    frame.index.name = None
    return frame


@cache
def _sections(key, day: date) -> pd.DataFrame:
    frame = _merged(_seed_sections(), "section_id", SECTIONS_REGISTRY, day)
    in_force = [targets.target_in_force(section_id, day) for section_id in frame.index]
    return frame.assign(target_class=[t.target_class or "" for t in in_force],
                        target_status=[t.status for t in in_force],
                        target_basis=[t.basis for t in in_force])


def sections(at=None) -> pd.DataFrame:
    """Surface-water sections and coastal points in the registry on `at` (default today), one row
    each, indexed by section_id, with the target in force that day (target_class '' when unset,
    target_status, target_basis) and joined_in_version (None for the seed's rows)."""
    return _sections(version_key(), _epoch(at))


@cache
def _air_stations(key, day: date) -> pd.DataFrame:
    return _merged(_seed_air_stations(), "station_id", AIR_REGISTRY, day)


def air_stations(at=None) -> pd.DataFrame:
    """The air stations in the registry on `at` (default today), indexed by station_id."""
    return _air_stations(version_key(), _epoch(at))


def section_row(section_id: str, at=None) -> pd.Series:
    """A section's row on `at`, or, for one no longer in the registry (withdrawn), its last state:
    a past day's reports still name it."""
    frame = sections(at)
    if section_id in frame.index:
        return frame.loc[section_id]
    if section_id in _seed_sections().index:
        return _seed_sections().loc[section_id]
    if _JOINED is not None:
        rows = _JOINED[1][_JOINED[1]["station_id"] == section_id]
        if len(rows):
            return pd.Series({**rows.sort_values("version_id").iloc[-1].to_dict(), "section_id": section_id})
    raise KeyError(section_id)


@cache
def bureaus() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "bureaus.csv", dtype=str, keep_default_na=False).set_index(
        "bureau_id", drop=False
    )


def water_sections(at=None) -> pd.DataFrame:
    frame = sections(at)
    return frame[frame["station_type"].isin(WATER_STATION_TYPES)]


def cnemc_water_sections(at=None) -> pd.DataFrame:
    """Sections published by the CNEMC surface-water feed, matched there by province, basin and name."""
    frame = water_sections(at)
    return frame[frame["name_basis"].str.startswith("CNEMC feed name")]


def sea_points(at=None) -> pd.DataFrame:
    frame = sections(at)
    return frame[frame["station_type"] == SEA_STATION_TYPE]


def water_body_type(section_id: str) -> str:
    """'lake' for lakes and reservoirs (their own TP limits in GB 3838), else 'river'."""
    return "lake" if section_row(section_id)["station_type"] == "lake-reservoir" else "river"


@dataclass(frozen=True)
class Recipient:
    bureau_id: str
    name_zh: str
    email: str


def responsible_bureaus(section_id: str) -> list[Recipient]:
    ids = [b for b in (section_row(section_id)["responsible_bureaus"] or "").split(";") if b]
    table = bureaus()
    unknown = [b for b in ids if b not in table.index]
    if unknown:
        raise KeyError(f"section {section_id} names unknown bureaus {unknown}")
    return [Recipient(b, table.loc[b, "name_zh"], table.loc[b, "email"]) for b in ids]


def all_stations(at=None) -> pd.DataFrame:
    """One table of every station the registry holds on `at` (default today), the columns they share."""
    water = sections(at)[
        ["section_id", "name_zh", "water_body", "city", "county", "station_type", "longitude",
         "latitude", "target_class", "is_cross_boundary", "boundary_kind", "upstream_jurisdiction",
         "downstream_jurisdiction", "responsible_bureaus", "assumptions"]
    ].rename(columns={"section_id": "station_id"})
    air = air_stations(at)[
        ["station_id", "name_zh", "city", "county", "station_type", "longitude", "latitude", "assumptions"]
    ].copy()
    air["water_body"] = ""
    air["target_class"] = ""
    air["is_cross_boundary"] = False
    for column in ("boundary_kind", "upstream_jurisdiction", "downstream_jurisdiction", "responsible_bureaus"):
        air[column] = ""
    return pd.concat([water, air[water.columns]], ignore_index=True)
