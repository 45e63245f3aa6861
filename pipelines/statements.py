"""What a laboratory's file says of itself (issue 25; the columns are in pipelines/templates/README.md):

- `report_version` (1, 2, …): the lab's version of its report. For each sample key (section or
  point, item, sampling time, layer) the highest version stands, whatever the order the files
  arrive in: a row of a lower version than the one stored (or given by an earlier file of the same
  run) is quarantined as superseded, with both versions and files named, so the payload's counts
  still reconcile (read = loaded + quarantined + out of scope). A row without a version counts as
  version 0: a versioned correction is never overridden by an unversioned workbook; between files of
  one version (or none), the later file wins, as before.
- `complete_statement` (`yes`): the file is the lab's complete statement for what it covers: every
  section or point and bureau day it lists, for the lab named in its rows. A value the lab reported
  earlier for one of those (same source, same lab, a file logged before) that the file no longer
  lists is withdrawn (warehouse/stewardship.py) with the reason "not in the lab's complete statement
  <file>", unless that value came with a higher report version than the statement's. Nothing is
  deleted; the withdrawn value is kept, out of every assessment, and told in `envmon history`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from pipelines.observations import KEY_COLUMNS

SAMPLE_SOURCES = ("lab", "coastal")
SUPERSEDED_RULE = "report_version_superseded"
KEY = list(KEY_COLUMNS)


def version_of(detail) -> int:
    """The report version a row's detail records (0: none given)."""
    try:
        value = json.loads(detail).get("report_version") if detail else None
    except (TypeError, ValueError, AttributeError):
        return 0
    try:
        return int(value) if value not in (None, "") else 0
    except (TypeError, ValueError):
        return 0


def is_statement(detail) -> bool:
    """Whether the row came with a complete statement (samples.py marks its rows)."""
    try:
        return bool(json.loads(detail).get("complete_statement")) if detail else False
    except (TypeError, ValueError, AttributeError):
        return False


def lab_of(detail) -> str:
    try:
        return str(json.loads(detail).get("lab") or "") if detail else ""
    except (TypeError, ValueError, AttributeError):
        return ""


def _keys(frame: pd.DataFrame) -> list[tuple]:
    if frame.empty:
        return []
    times = pd.to_datetime(frame["observed_at"], utc=True)
    layers = frame["layer"].fillna("").astype(str) if "layer" in frame else pd.Series("", index=frame.index)
    return list(zip(frame["station_id"], frame["parameter"], times, frame["averaging_period"], layers))


def _file_name(origin) -> str:
    from pathlib import Path

    return Path(str(origin)).name if origin else "an earlier file"


# --- report versions --------------------------------------------------------------------------

def superseded_rows(engine, source: str, payloads: list[tuple[int, str, pd.DataFrame]]) -> list[pd.DataFrame]:
    """For each payload of a batch (payload_id, file name, its QC'd rows, in order), its rows whose
    report version is lower than the one stored for their key or given by an earlier payload of
    the batch: as quarantine rows (expectation and rule SUPERSEDED_RULE, the reason naming both
    versions and files). The rows not returned are stored."""
    from warehouse import bulk, db

    empty = [frame.iloc[:0] for _, _, frame in payloads]
    if source not in SAMPLE_SOURCES or not any(len(frame) for _, _, frame in payloads):
        return empty
    days = [d for _, _, frame in payloads if len(frame) for d in frame["partition_day"]]
    stored = bulk.source_observations_between(engine, source, min(days), max(days),
                                              [*KEY, "detail", "payload_id", "partition_day"])
    origins = {}
    if len(stored):
        ids = sorted({int(i) for i in stored["payload_id"].dropna()})
        logged = db.payloads_by_id(engine, ids) if ids else None
        origins = dict(zip(logged["payload_id"], logged["origin"])) if logged is not None else {}
    best: dict[tuple, tuple[int, str]] = {}        # per key: the version that stands, and its file
    statements: dict[tuple, tuple[int, str]] = {}  # per (station, day, lab): the newest complete statement

    def note_statement(station, day, detail, shown):
        place = (station, day, lab_of(detail))
        if is_statement(detail) and version_of(detail) >= statements.get(place, (-1, ""))[0]:
            statements[place] = (version_of(detail), shown)

    for key, detail, payload_id, day in zip(_keys(stored), stored["detail"], stored["payload_id"],
                                            stored["partition_day"]):
        shown = _file_name(origins.get(int(payload_id))) if pd.notna(payload_id) else "an earlier file"
        best[key] = (version_of(detail), shown)
        note_statement(key[0], day, detail, shown)
    out = []
    for _, name, frame in payloads:
        if frame.empty:
            out.append(frame.iloc[:0])
            continue
        reasons, older = [], []
        for key, detail, day in zip(_keys(frame), frame["detail"], frame["partition_day"]):
            version, standing = version_of(detail), best.get(key)
            statement = statements.get((key[0], day, lab_of(detail)))
            if standing is not None and standing[0] > version:
                older.append(True)
                reasons.append(f"superseded: report version {version or 'none'} of {name} is older than version "
                               f"{standing[0]} of {standing[1]}, which stands for this sample (report_version decides, "
                               "not arrival order)")
            elif standing is None and statement is not None and statement[0] > version:
                older.append(True)
                reasons.append(f"superseded: report version {version or 'none'} of {name} is older than the lab's "
                               f"complete statement {statement[1]} (version {statement[0]}), which does not list this "
                               "sample")
            else:
                older.append(False)
                best[key] = (version, name)
        for key, detail, day, superseded in zip(_keys(frame), frame["detail"], frame["partition_day"], older):
            if not superseded:
                note_statement(key[0], day, detail, name)
        mask = pd.Series(older, index=frame.index)
        out.append(frame[mask].assign(expectation=SUPERSEDED_RULE, rule=SUPERSEDED_RULE,
                                      reason=[r for r in reasons]))
    return out


# --- complete statements ----------------------------------------------------------------------

@dataclass
class Statement:
    payload_id: int
    name: str                 # the file's name, as the reason says it
    version: int              # its report version (0: none)
    listed: set               # every key the file lists (stored, superseded or quarantined)
    covered: set              # (station, bureau day, lab) it states completely
    withdrawn: int = 0


@dataclass
class CompleteStatements:
    """The complete statements of a batch, applied in the batch's store transaction
    (warehouse/bulk.store_batch's after_merge), after its rows are merged, in payload order."""
    source: str
    statements: list[Statement] = field(default_factory=list)

    def add(self, payload_id: int, name: str, parsed, stored_rows: pd.DataFrame) -> None:
        if not getattr(parsed, "complete_statement", False) or stored_rows.empty:
            return  # a statement whose every row was superseded (an older version) covers nothing
        listed = set(_keys(parsed.observations))
        rejected = parsed.rejected[parsed.rejected["observed_at"].notna()] if len(parsed.rejected) else parsed.rejected
        if len(rejected):
            listed |= set(_keys(rejected.assign(layer=rejected.get("layer", ""))))
        covered = {(station, day, lab_of(detail)) for station, day, detail in
                   zip(stored_rows["station_id"], stored_rows["partition_day"], stored_rows["detail"])}
        self.statements.append(Statement(payload_id, name, parsed.report_version or 0, listed, covered))

    def __call__(self, connection) -> None:
        for statement in self.statements:
            statement.withdrawn = _withdraw_unlisted(connection, self.source, statement)

    def withdrawn(self, payload_id: int) -> int | None:
        """Values the payload's statement withdrew (None: the payload is no complete statement)."""
        return next((s.withdrawn for s in self.statements if s.payload_id == payload_id), None)


def _withdraw_unlisted(connection, source: str, statement: Statement) -> int:
    from sqlalchemy import select

    from warehouse import bulk, schema, security_audit, stewardship

    o = schema.observations
    stations = sorted({station for station, _, _ in statement.covered})
    days = sorted({day for _, day, _ in statement.covered})
    columns = [*KEY, "detail", "payload_id", "qc_flag", "partition_day"]
    query = select(*(bulk._as_text(o, c, {"observed_at", "partition_day"}) for c in columns)).where(
        o.c.source == source, o.c.station_id.in_(stations), o.c.partition_day.in_(days),
        o.c.payload_id < statement.payload_id)
    stored = bulk.read(connection, query, columns, times=["observed_at"], days=["partition_day"])
    lab = next(iter({lab for _, _, lab in statement.covered}), "")
    count = 0
    for row, key in zip(stored.itertuples(index=False), _keys(stored)):
        if ((row.station_id, row.partition_day, lab_of(row.detail)) not in statement.covered or key in statement.listed
                or row.qc_flag == stewardship.WITHDRAWN or version_of(row.detail) > statement.version):
            continue
        instant = key[2].to_pydatetime()
        scope = stewardship.Scope(row.station_id, row.parameter, instant, instant, source, row.layer or "")
        stewardship.act(connection, "withdraw", scope, f"not in the lab's complete statement {statement.name}",
                        lab_of(row.detail) or "the lab", origin="complete_statement",
                        payload_id=statement.payload_id, audit=False)
        count += 1
    if count:
        security_audit.record(connection, "observation_withdrawn", lab or "the lab", security_audit.cli_address(),
                              f"{count} values not in the lab's complete statement {statement.name} "
                              f"(payload {statement.payload_id}) withdrawn")
    return count
