"""The registry versioned in the warehouse (issue 23; tables of migration 0016): each version applied
(the repository's seed, a bureau's official list imported, sections adopted from the feeds), who
applied it, when and from which document; the targets in force by period; the stations and sections
that joined after the seed or were withdrawn from it.

Version 1 is the repository's seed, taken on the first migration (`ensure_seeded`, called by
db.migrate). What happens when the repository's files change later: while the warehouse holds no
version but seeds, the changed seed file is taken as a new `seed` version (the repository is then
still the only source of the registry). Once a list has been imported or a section adopted, a changed
seed is NOT applied: a repository edit must never silently overwrite what a bureau loaded. It is
logged, once per process, and the bureau applies it as a list of its own if it wants it.

Every process that works on the warehouse makes its registry the warehouse's (`use_warehouse_registry`:
db.migrate calls it, and the assessment steps call it before each computation, so that a version
applied by another process is the one in force); pipelines.reference.registry and .targets then read
it, cached per version.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, inspect, select, update

from pipelines.reference import registry, targets
from warehouse import schema

log = logging.getLogger(__name__)

KINDS = ("seed", "import", "adopt")
SEED_DOCUMENT = "pipelines/reference/data/section_targets.csv and sections.csv (the repository's seed)"
SEED_APPLIED_BY = "envmon migrate (repository seed)"
STATION_COLUMNS = [c.name for c in schema.registry_stations.c
                   if c.name not in ("version_id", "withdrawn_in_version", "withdrawn_from")]
TARGET_COLUMNS = [c.name for c in schema.section_targets.c]


@dataclass
class AppliedVersion:
    version_id: int
    # (section_id, first_day, last_day or None: open) whose target in force (class or status), or
    # whose presence in the registry, the version changed: the periods to reassess
    changed_periods: list[tuple[str, date, date | None]] = field(default_factory=list)
    valid_from: date | None = None
    kind: str = "import"


# --- the seed --------------------------------------------------------------------------------------

def seed_sha256() -> str:
    """The digest of the seed file of the targets, recorded with each seed version."""
    return hashlib.sha256(targets.SEED_FILE.read_bytes()).hexdigest()


def ensure_seeded(connection: Connection) -> int | None:
    """Take the repository's seed as version 1 on a warehouse without a registry version (run under
    the migration's lock, in its transaction). A later change of the seed file: see the module's
    docstring. Returns the version written, if any. A warehouse at a revision before 0016: nothing."""
    if "registry_versions" not in inspect(connection).get_table_names():
        return None
    versions = schema.registry_versions
    rows = connection.execute(select(versions.c.version_id, versions.c.kind, versions.c.file_sha256)
                              .order_by(versions.c.version_id)).all()
    sha = seed_sha256()
    if not rows:
        return _write_seed(connection, sha, "the repository's seed, taken on the warehouse's first migration")
    seeds = [row for row in rows if row.kind == "seed"]
    if seeds and seeds[-1].file_sha256 == sha:
        return None
    if all(row.kind == "seed" for row in rows):
        targets_table = schema.section_targets
        connection.execute(update(targets_table).where(targets_table.c.superseded_in_version.is_(None))
                           .values(superseded_in_version=rows[-1].version_id + 1))
        return _write_seed(connection, sha, "the repository's seed file changed; no list imported or section adopted "
                                            "yet, so the new seed replaces the old (run `envmon reassess` for the days "
                                            "it concerns)")
    _warn_seed_changed()
    return None


_WARNED: set[str] = set()


def _warn_seed_changed() -> None:
    if "seed" not in _WARNED:
        _WARNED.add("seed")
        log.warning("the repository's section_targets.csv differs from the seed the warehouse took, and the warehouse "
                    "holds imported or adopted registry versions: the repository's change is not applied (load it as "
                    "a list with `envmon registry import` if it should be)")


def _write_seed(connection: Connection, sha: str, note: str) -> int:
    seed = targets.seed_targets()
    version_id = _insert_version(connection, kind="seed", applied_by=SEED_APPLIED_BY, source_document=SEED_DOCUMENT,
                                 valid_from=None, file_sha256=sha, summary={
                                     "note": note, "targets": len(seed),
                                     "by_status": {s: int((seed["status"] == s).sum()) for s in targets.STATUSES}})
    connection.execute(insert(schema.section_targets), [
        {**row, "version_id": version_id, "closed_in_version": None, "superseded_in_version": None}
        for row in seed.to_dict("records")])
    return version_id


def _insert_version(connection: Connection, *, kind: str, applied_by: str, source_document: str, valid_from,
                    file_sha256, summary: dict) -> int:
    from pipelines.clock import now

    result = connection.execute(insert(schema.registry_versions).values(
        applied_at=now(), applied_by=applied_by, kind=kind, source_document=source_document, valid_from=valid_from,
        file_sha256=file_sha256, summary=json.dumps(summary, ensure_ascii=False, default=str, sort_keys=True)))
    return int(result.inserted_primary_key[0])


# --- the registry in force for this process ---------------------------------------------------------

def current_version(engine: Engine) -> int | None:
    with engine.connect() as connection:
        return connection.execute(select(func.max(schema.registry_versions.c.version_id))).scalar()


def _target_rows(connection: Connection, in_force_only: bool = True) -> pd.DataFrame:
    table = schema.section_targets
    query = select(table).order_by(table.c.section_id, table.c.valid_from, table.c.id)
    if in_force_only:
        query = query.where(table.c.superseded_in_version.is_(None))
    return pd.DataFrame(connection.execute(query).mappings().all(), columns=TARGET_COLUMNS)


def _station_rows(connection: Connection) -> pd.DataFrame:
    table = schema.registry_stations
    rows = connection.execute(select(table).order_by(table.c.version_id, table.c.station_id)).mappings().all()
    frame = pd.DataFrame(rows, columns=[c.name for c in table.c])
    for column in ("valid_from", "withdrawn_from"):
        frame[column] = [targets._date(v) for v in frame[column]]
    return frame.astype(object).where(frame.notna(), None)


def use_warehouse_registry(engine: Engine) -> object:
    """Make the warehouse's registry in force this process's registry (registry.sections() and
    friends, targets.target_in_force). A warehouse before migration 0016, or without a version yet:
    the seed files. Two small reads; the frames derived from it are cached per version."""
    with engine.connect() as connection:
        if "registry_versions" not in inspect(connection).get_table_names():
            registry.use_seed()
            return None
        version = connection.execute(select(func.max(schema.registry_versions.c.version_id))).scalar()
        if version is None:
            registry.use_seed()
            return None
        target_rows = _target_rows(connection)
        station_rows = _station_rows(connection)
    digest = hashlib.sha256(target_rows.to_csv(index=False).encode() + station_rows.to_csv(index=False).encode())
    key = (version, digest.hexdigest()[:16])
    if registry.version_key()[0] != key:
        registry.use_registry(key, station_rows, targets.normalised(target_rows[targets.COLUMNS]))
    return key


# --- applying a version -----------------------------------------------------------------------------

def apply_registry_version(engine: Engine, *, kind: str, applied_by: str, source_document: str, valid_from: date,
                           stations: pd.DataFrame | None = None, withdrawn: list[str] | None = None,
                           targets: pd.DataFrame | None = None, file_sha256: str | None = None,
                           summary: dict | None = None) -> AppliedVersion:
    """Write one registry version, in one transaction: the stations and sections that join or change
    from `valid_from` (`stations`: registry columns, station_id or section_id; a column left out keeps
    the station's current value), those withdrawn from `valid_from`, and the targets that change from
    `valid_from` (`targets`: section_id, target_class (empty/None when unset), status, basis,
    source_document): each closes the target in force on valid_from-1 and opens the new one, open-ended.
    A section joining without a target row gets an explicit `unset` one. Days before valid_from keep
    their targets. Returns the version and the periods whose target (class or status) or whose
    membership changed: reassess_changed reassesses them."""
    target_frame = targets
    if kind not in KINDS:
        raise ValueError(f"registry version kind {kind!r} is not one of {KINDS}")
    if not isinstance(valid_from, date):
        raise ValueError("a registry version needs the day it is valid from")
    if not str(applied_by or "").strip():
        raise ValueError("a registry version needs who applied it")
    use_warehouse_registry(engine)
    stations = _station_frame(stations)
    withdrawn = sorted(set(withdrawn or []))
    new_targets = _target_frame(target_frame)
    from warehouse.db import partition_lock

    with engine.begin() as connection:
        partition_lock(connection, "registry")
        version_id = _insert_version(connection, kind=kind, applied_by=applied_by, source_document=source_document,
                                     valid_from=valid_from, file_sha256=file_sha256, summary={})
        joined, changed_stations = _write_stations(connection, version_id, valid_from, stations)
        _write_withdrawals(connection, version_id, valid_from, withdrawn)
        # the sections joining without a target get an unset one, all at once (a national adoption joins
        # ~1,900 sections: no per-section scan of the stations or growing concat)
        with_target = set(new_targets["section_id"])
        registry_of = dict(zip(stations["station_id"][::-1], stations["registry"][::-1]))   # a station's first row
        unset = []
        for section_id in joined:
            if section_id not in with_target and registry_of.get(section_id) == registry.SECTIONS_REGISTRY:
                with_target.add(section_id)
                unset.append({
                    "section_id": section_id, "target_class": None, "status": "unset",
                    "basis": f"joined the registry without a target (version {version_id}): classes are computed, "
                             "compliance reads 目标未定 until a target is set", "source_document": source_document})
        if unset:
            new_targets = pd.concat([new_targets, pd.DataFrame(unset)], ignore_index=True)
        periods = []
        targets_changed = []
        # the live target rows of every section named, read once; the new rows inserted together
        live = _live_targets(connection, list(new_targets["section_id"]))
        inserts: list[dict] = []
        for row in new_targets.to_dict("records"):
            changed = _write_target(connection, version_id, valid_from, row, live.get(row["section_id"], []), inserts)
            if changed is not None:
                targets_changed.append({"section_id": row["section_id"], "target_class": row["target_class"],
                                        "status": row["status"], "was": changed["was"]})
                periods += [(row["section_id"], first, last) for first, last in changed["periods"]]
        if inserts:
            connection.execute(insert(schema.section_targets), inserts)
        periods += [(sid, valid_from, None) for sid in joined + withdrawn]
        record = {"joined": joined, "changed": changed_stations, "withdrawn": withdrawn,
                  "targets_changed": targets_changed, **(summary or {})}
        connection.execute(update(schema.registry_versions).where(schema.registry_versions.c.version_id == version_id)
                           .values(summary=json.dumps(record, ensure_ascii=False, default=str, sort_keys=True)))
    use_warehouse_registry(engine)
    _sync_stations(engine)
    return AppliedVersion(version_id, _merged_periods(periods), valid_from, kind)


def _sync_stations(engine: Engine) -> None:
    """The warehouse's stations table (for joins and exports) as the registry in force today."""
    from pipelines.reference import standards
    from warehouse.db import sync_reference_tables

    with engine.begin() as connection:
        sync_reference_tables(connection, registry.all_stations(), standards.parameters())


def _station_frame(stations: pd.DataFrame | None) -> pd.DataFrame:
    if stations is None or len(stations) == 0:
        return pd.DataFrame(columns=STATION_COLUMNS)
    frame = stations.copy()
    if "station_id" not in frame.columns and "section_id" in frame.columns:
        frame = frame.rename(columns={"section_id": "station_id"})
    if "station_id" not in frame.columns:
        raise ValueError("stations need a station_id (or section_id) column")
    if "registry" not in frame.columns:
        frame["registry"] = [registry.AIR_REGISTRY if t == registry.AIR_STATION_TYPE else registry.SECTIONS_REGISTRY
                             for t in frame.get("station_type", pd.Series([""] * len(frame)))]
    unknown = sorted(set(frame.columns) - set(STATION_COLUMNS) - {"target_class", "target_basis", "target_status"})
    if unknown:
        raise ValueError(f"stations have columns the registry does not keep: {unknown}")
    return frame


def _target_frame(frame: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["section_id", "target_class", "status", "basis", "source_document"]
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=columns)
    missing = [c for c in ("section_id", "status") if c not in frame.columns]
    if missing:
        raise ValueError(f"targets lack the columns {missing}")
    frame = frame.reindex(columns=columns).copy()
    frame["target_class"] = [None if targets._blank(v) else str(v) for v in frame["target_class"]]
    for column in ("basis", "source_document"):
        frame[column] = ["" if targets._blank(v) else str(v) for v in frame[column]]
    for row in frame.itertuples(index=False):
        if row.status not in targets.STATUSES:
            raise ValueError(f"section {row.section_id}: target status {row.status!r} is not one of {targets.STATUSES}")
        if (row.status == "unset") != (row.target_class is None):
            raise ValueError(f"section {row.section_id}: status {row.status} with target class {row.target_class!r}")
    if frame["section_id"].duplicated().any():
        raise ValueError(f"targets name a section twice: {sorted(set(frame['section_id'][frame['section_id'].duplicated()]))}")
    return frame


def _current_state(station_id: str, registry_name: str, day: date) -> dict | None:
    frame = registry.air_stations(day) if registry_name == registry.AIR_REGISTRY else registry.sections(day)
    if station_id not in frame.index:
        return None
    row = frame.loc[station_id].to_dict()
    row["station_id"] = station_id
    return row


def _write_stations(connection: Connection, version_id: int, valid_from: date,
                    stations: pd.DataFrame) -> tuple[list[str], list[str]]:
    joined, changed, rows = [], [], []
    for given in stations.to_dict("records"):
        given = {k: v for k, v in given.items() if not targets._blank(v) or isinstance(v, bool)}
        current = _current_state(given["station_id"], given["registry"], valid_from)
        state = {**(current or {}), **given}
        (changed if current else joined).append(given["station_id"])
        row = {column: state.get(column) for column in STATION_COLUMNS}
        for column in ("is_cross_boundary", "is_drinking_water_source", "is_background"):
            value = row[column]
            row[column] = value if isinstance(value, bool) else (str(value).strip().lower() in ("true", "y", "yes", "1")
                                                                 if value is not None else None)
        row["is_cross_boundary"] = bool(row["is_cross_boundary"])
        for column in ("longitude", "latitude"):
            row[column] = None if targets._blank(row[column]) else float(row[column])
        if not row.get("name_zh") or not row.get("station_type"):
            raise ValueError(f"station {given['station_id']}: a registry row needs name_zh and station_type")
        rows.append({**row, "version_id": version_id, "valid_from": valid_from, "withdrawn_in_version": None,
                     "withdrawn_from": None})
    if rows:
        connection.execute(insert(schema.registry_stations), [{k: _plain(v) for k, v in r.items()} for r in rows])
    return joined, changed


def _plain(value):
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _write_withdrawals(connection: Connection, version_id: int, valid_from: date, withdrawn: list[str]) -> None:
    rows = []
    for station_id in withdrawn:
        current = (_current_state(station_id, registry.SECTIONS_REGISTRY, valid_from)
                   or _current_state(station_id, registry.AIR_REGISTRY, valid_from))
        if current is None:
            raise ValueError(f"{station_id} is not in the registry on {valid_from}: it cannot be withdrawn")
        name = registry.AIR_REGISTRY if current.get("station_type") == registry.AIR_STATION_TYPE else registry.SECTIONS_REGISTRY
        row = {column: current.get(column) for column in STATION_COLUMNS}
        row["registry"] = name
        row["is_cross_boundary"] = bool(row.get("is_cross_boundary") or False)
        for column in ("is_drinking_water_source", "is_background"):
            if not isinstance(row[column], bool):
                row[column] = None if row[column] in (None, "") else str(row[column]).upper() in ("Y", "TRUE")
        rows.append({**row, "version_id": version_id, "valid_from": valid_from, "withdrawn_in_version": version_id,
                     "withdrawn_from": valid_from})
    if rows:
        connection.execute(insert(schema.registry_stations), [{k: _plain(v) for k, v in r.items()} for r in rows])


def _live_targets(connection: Connection, section_ids: list[str]) -> dict[str, list]:
    """section_id → its target rows not superseded, by valid_from (one read for many sections)."""
    table = schema.section_targets
    found: dict[str, list] = {}
    for start in range(0, len(section_ids), 900):     # under any SQLite's bound-parameter limit
        chunk = section_ids[start:start + 900]
        for row in connection.execute(select(table).where(table.c.section_id.in_(chunk),
                                                          table.c.superseded_in_version.is_(None))
                                      .order_by(table.c.section_id, table.c.valid_from, table.c.id)).mappings():
            found.setdefault(row["section_id"], []).append(row)
    return found


def _write_target(connection: Connection, version_id: int, valid_from: date, row: dict, live: list,
                  inserts: list[dict]) -> dict | None:
    """Close the section's target in force on valid_from-1, supersede its rows that begin on or after
    valid_from, open `row` from valid_from (appended to `inserts`, written by the caller). `live`: the
    section's rows not superseded (_live_targets). None when the section's targets from valid_from
    already are exactly `row` (nothing written); else what changed: the periods whose class or status
    differ, and what the target was on valid_from."""
    table = schema.section_targets
    later = [r for r in live if r["valid_from"] >= valid_from]
    spanning = [r for r in live if r["valid_from"] < valid_from and (r["valid_to"] is None or r["valid_to"] >= valid_from)]
    pieces = _with_gaps(_coverage([*spanning, *later], valid_from), valid_from)
    wanted = (row["target_class"], row["status"], row["basis"], row["source_document"])
    if all(not p.get("gap") and (p["target_class"], p["status"], p["basis"], p["source_document"]) == wanted
           for p in pieces):
        return None
    if later:
        connection.execute(update(table).where(table.c.id.in_([r["id"] for r in later]))
                           .values(superseded_in_version=version_id))
    if spanning:
        connection.execute(update(table).where(table.c.id.in_([r["id"] for r in spanning]))
                           .values(valid_to=valid_from - timedelta(days=1), closed_in_version=version_id))
    inserts.append({"section_id": row["section_id"], "target_class": row["target_class"], "valid_from": valid_from,
                    "valid_to": None, "basis": row["basis"], "source_document": row["source_document"],
                    "status": row["status"], "version_id": version_id})
    changed = [(p["first"], p["last"]) for p in pieces
               if (p["target_class"], p["status"]) != (row["target_class"], row["status"])]
    return {"periods": changed, "was": {"target_class": pieces[0]["target_class"], "status": pieces[0]["status"]}}


def _coverage(rows, valid_from: date) -> list[dict]:
    """The stored rows as pieces of [valid_from, ∞): first, last (None: open), class, status, basis."""
    pieces = []
    for r in sorted(rows, key=lambda r: r["valid_from"]):
        pieces.append({"first": max(r["valid_from"], valid_from), "last": r["valid_to"],
                       "target_class": r["target_class"], "status": r["status"], "basis": r["basis"],
                       "source_document": r["source_document"]})
    return pieces


def _with_gaps(pieces: list[dict], valid_from: date) -> list[dict]:
    """The pieces with the days no row covers as unset pieces (a section without a target then)."""
    out, day = [], valid_from
    for piece in pieces:
        if piece["first"] > day:
            out.append({"first": day, "last": piece["first"] - timedelta(days=1), "target_class": None,
                        "status": "unset", "gap": True})
        out.append(piece)
        if piece["last"] is None:
            return out
        day = piece["last"] + timedelta(days=1)
    out.append({"first": day, "last": None, "target_class": None, "status": "unset", "gap": True})
    return out


def _merged_periods(periods) -> list[tuple[str, date, date | None]]:
    """One period per section where its pieces touch or overlap, in order."""
    merged: list[tuple[str, date, date | None]] = []
    for section_id, first, last in sorted(periods, key=lambda p: (p[0], p[1])):
        if merged and merged[-1][0] == section_id:
            _, previous_first, previous_last = merged[-1]
            if previous_last is None or first <= previous_last + timedelta(days=1):
                end = None if previous_last is None or last is None else max(previous_last, last)
                merged[-1] = (section_id, previous_first, end)
                continue
        merged.append((section_id, first, last))
    return merged


# --- reassessing what a version changed --------------------------------------------------------------

def days_to_reassess(engine: Engine, applied: AppliedVersion) -> list[date]:
    """The stored assessment days inside the changed periods (their months follow: the month rows
    are recomputed with their days)."""
    from warehouse import db

    if not applied.changed_periods:
        return []
    first = min(p[1] for p in applied.changed_periods)
    last = max((p[2] or date.max) for p in applied.changed_periods)
    stored = sorted({start for _, period, start in db.assessment_partitions(engine, first, min(last, date(9999, 1, 1)))
                     if period == "day"})
    return [day for day in stored
            if any(p_first <= day and (p_last is None or day <= p_last) for _, p_first, p_last in applied.changed_periods)]


def reassess_changed(engine: Engine, applied: AppliedVersion, settings=None) -> dict:
    """Reassess exactly the stored days (and their months) whose target or registry changed with
    `applied` (pipelines.ingest.reassess.reassess_days: results replaced are kept in assessment_history).
    Days before the version's valid_from are not touched."""
    from pipelines.ingest import reassess
    from pipelines.config import load_settings

    days = days_to_reassess(engine, applied)
    summary = reassess.reassess_days(engine, days, settings or load_settings())
    return {"version_id": applied.version_id, **summary}


# --- reading the registry's history (the Registry page, `envmon registry history`) -----------------

def registry_history(engine: Engine) -> pd.DataFrame:
    """Every registry version, newest first: version_id, applied_at, applied_by, kind, source_document,
    valid_from, file_sha256, summary (parsed JSON)."""
    table = schema.registry_versions
    with engine.connect() as connection:
        rows = connection.execute(select(table).order_by(table.c.version_id.desc())).mappings().all()
    frame = pd.DataFrame(rows, columns=[c.name for c in table.c])
    frame["summary"] = [json.loads(s) if s else {} for s in frame["summary"]]
    return frame


def targets_in_force(engine: Engine, day: date) -> pd.DataFrame:
    """Each section's target in force on `day` in the warehouse: section_id, name_zh, target_class
    (None when unset), status, basis, source_document, valid_from, valid_to, version_id. A section of
    the registry without a row that day is listed as unset."""
    table = schema.section_targets
    with engine.connect() as connection:
        rows = connection.execute(select(table).where(
            table.c.superseded_in_version.is_(None), table.c.valid_from <= day,
            (table.c.valid_to.is_(None)) | (table.c.valid_to >= day))).mappings().all()
    found = pd.DataFrame(rows, columns=TARGET_COLUMNS).set_index("section_id", drop=False)
    use_warehouse_registry(engine)
    sections = registry.sections(day)
    out = []
    for section_id, section in sections.iterrows():
        if section_id in found.index:
            row = found.loc[section_id]
            out.append({"section_id": section_id, "name_zh": section["name_zh"], "target_class": row["target_class"],
                        "status": row["status"], "basis": row["basis"], "source_document": row["source_document"],
                        "valid_from": row["valid_from"], "valid_to": row["valid_to"], "version_id": row["version_id"]})
        else:
            out.append({"section_id": section_id, "name_zh": section["name_zh"], "target_class": None, "status": "unset",
                        "basis": "no target row on this day", "source_document": "", "valid_from": None,
                        "valid_to": None, "version_id": None})
    return pd.DataFrame(out, columns=["section_id", "name_zh", "target_class", "status", "basis", "source_document",
                                      "valid_from", "valid_to", "version_id"])


def assumed_targets(engine: Engine, day: date) -> pd.DataFrame:
    """The sections whose target on `day` is not official (assumed or unset): what a bureau still
    has to load. The columns of targets_in_force."""
    frame = targets_in_force(engine, day)
    return frame[frame["status"] != "official"].reset_index(drop=True)


def use_registry_version(engine: Engine, version: int | None) -> None:
    """Make the registry as it stood when `version` was the newest this process's registry (an
    issued document rebuilt, pipelines/reports/issues.py): the stations of versions up to it, the
    target rows it had, with the ends later versions gave them taken off. None: the seed files."""
    if version is None:
        registry.use_seed()
        return
    with engine.connect() as connection:
        target_rows = _target_rows(connection, in_force_only=False)
        station_rows = _station_rows(connection)
    opened, superseded, closed = (pd.to_numeric(target_rows[c]) for c in ("version_id", "superseded_in_version",
                                                                          "closed_in_version"))
    kept = (opened <= version) & ~(superseded <= version)
    later = closed.gt(version)   # a later version ended it: as of `version` it was open-ended
    target_rows = target_rows.assign(valid_to=target_rows["valid_to"].astype(object).where(~later, None))[kept]
    station_rows = station_rows[pd.to_numeric(station_rows["version_id"]) <= version]
    key = ("as of", version)
    registry.use_registry(key, station_rows, targets.normalised(target_rows[targets.COLUMNS]))
