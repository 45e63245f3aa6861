"""Ingesting one payload of a real source: archive it as received, log it, parse, validate and
merge it into the warehouse (a later value wins, the old one kept in history), keep what the
publisher reported, advance the source's watermark and recompute the days it touched.

A payload is all or nothing in effect. Its status in the payload log says how far it got:
`received` (logged; nothing of it stored), `stored` (every day of it, its published results and
the watermark committed in one transaction), `loaded` (its days assessed too), or `failed` with
the error, `retryable` unless its content was refused. A fault at any point leaves a status that
says so: `envmon ingest --resume`, and the next collection of the source, finish every payload
left `received`, `stored` or failed-retryable (resume_payloads)."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd

from pipelines import alerts, clock, nightly
from pipelines.quality import qc
from pipelines.config import Settings
from pipelines.quality.published import compare_published
from pipelines.observations import BUREAU_TZ, SOURCE_DOMAINS, bureau_day, with_partition_day
from pipelines.sources import files
from pipelines.quality.validation import validate
from warehouse import db, registry_drift

LOG = logging.getLogger(__name__)


MAX_ATTEMPTS = 5  # resume gives a failed-retryable payload this many tries; --payload-id always tries


class PayloadUnfinished(RuntimeError):
    """A fault stopped a logged payload; its status says how far it got, and resume finishes it."""


class ArchiveError(OSError):
    """The payload could not be archived (a full disk, a folder without write access): nothing
    was logged, so the next collection finds the payload new and tries again."""


def archive(settings: Settings, source: str, payload: bytes, name: str, received_at: datetime) -> tuple[str, Path]:
    """Keep the payload as received. Written to a temporary name and renamed: a full disk leaves
    no truncated file under the archive's name for a later re-ingest to read."""
    digest = hashlib.sha256(payload).hexdigest()
    folder = settings.home / "archive" / source / f"{received_at:%Y}" / f"{received_at:%m}"
    path = folder / f"{digest[:16]}-{archive_name(name)}"
    partial = path.with_name(f".{path.name}.partial")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            with open(partial, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            partial.unlink()
        failure = ArchiveError(f"cannot archive {source} payload {name!r} in {folder}: {error.strerror or error}")
        failure.errno = error.errno
        raise failure from error
    return digest, path


ARCHIVE_NAME_BYTES = 200  # with the digest and the .partial of the write, within a file name's 255 bytes


def archive_name(name: str) -> str:
    """The payload's own file name, shortened where it is too long for the archive's file system
    (80 Chinese characters are 240 bytes): the start of its stem and its suffix are kept."""
    name = Path(name).name
    if len(name.encode()) <= ARCHIVE_NAME_BYTES:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix.encode()) < 16 else ""
    stem = name[:len(name) - len(suffix)] if suffix else name
    while len(f"{stem}…{suffix}".encode()) > ARCHIVE_NAME_BYTES:
        stem = stem[:-1]
    return f"{stem}…{suffix}"


def _qc_context(engine, source: str, good: pd.DataFrame) -> pd.DataFrame | None:
    """Stored readings of the source from the day before the payload's first day to its last, less
    those the payload itself replaces: neighbours for the QC series tests."""
    if not len(good):
        return None
    days = bureau_day(good["observed_at"], good["averaging_period"])
    stored = db.series_context(engine, source, min(days) - timedelta(days=1), max(days))
    key = ["station_id", "parameter", "averaging_period", "layer", "observed_at"]
    replaced = stored[key].merge(good[key].drop_duplicates(), on=key, how="left", indicator=True)["_merge"] == "both"
    return stored[~replaced.to_numpy()]


def ingest_payload(source: str, payload: bytes, name: str, fetched_at: datetime, settings: Settings,
                   origin: str | None = None, payload_id: int | None = None, recompute: bool = True,
                   fetched_basis: str = "the fetch time") -> dict:
    """Everything that happens to one payload; the summary has the shape of `envmon run --json`
    plus out_of_scope, and read = loaded + quarantined + out_of_scope. With recompute=False the
    payload is left `stored`: the caller assesses its days and marks it loaded (mark_loaded)."""
    _prepare(settings)
    engine = db.engine_for(settings.warehouse_url)
    received = clock.now()
    digest, path = archive(settings, source, payload, name, received)
    if payload_id is None:
        payload_id = db.insert_payload(engine, {
            "source": source, "received_at": received, "fetched_at": fetched_at, "sha256": digest,
            "size_bytes": len(payload), "archive_path": str(path), "origin": origin or name, "status": "received"})
    with db.payload_lock(engine, payload_id):
        return _ingest_logged(engine, source, payload, name, fetched_at, settings, payload_id, digest, path, recompute,
                              fetched_basis)


def _ingest_logged(engine, source: str, payload: bytes, name: str, fetched_at: datetime, settings: Settings,
                   payload_id: int, digest: str, path: Path, recompute: bool,
                   fetched_basis: str = "the fetch time logged with the payload") -> dict:
    """The ingest of a logged payload whose lock the caller holds."""
    db.begin_attempt(engine, payload_id)
    try:
        summary = _store(engine, source, payload, name, fetched_at, payload_id, fetched_basis)
    except files.PayloadError:
        raise  # refused for its content: logged failed, not retryable, by _store
    except BaseException as error:  # a fault: nothing of the payload is stored (one transaction)
        _record_fault(engine, payload_id, "failed", error)
        error.add_note(unfinished_note(payload_id))
        raise
    summary.update({"payload_id": payload_id, "sha256": digest, "archive": str(path)})
    _tell_operators_of_unknown_stations(source, summary["registry_unknown_first_seen"], settings)
    if recompute:
        assess_payload_days(engine, payload_id, [date.fromisoformat(day) for day in summary["days"]], settings)
        mark_loaded(engine, [payload_id])
    return summary


def _tell_operators_of_unknown_stations(source: str, first_seen: list[str], settings: Settings) -> None:
    """One operational notice per station the registry lacks, the first time a payload names it
    (issue 11). A notice that cannot be recorded never fails the stored payload: it is logged."""
    if not first_seen:
        return
    from pipelines.alerts import operational  # submodules load when used (pipelines/alerts/__init__.py)
    try:
        operational.report_unknown_stations(source, first_seen, settings)
    except Exception as error:  # noqa: BLE001 - the payload is stored; the operators' notice is secondary
        LOG.warning("stations the registry lacks were not told to the operators: %s", db.operational_reason(error))


_PREPARED: set[str] = set()


def _prepare(settings: Settings) -> None:
    """Migrate the warehouse and sync its reference tables once per process and warehouse: a
    collection catching up a hundred hours ingests a hundred payloads."""
    if settings.warehouse_url not in _PREPARED:
        nightly.prepare_warehouse(settings)
        _PREPARED.add(settings.warehouse_url)


def unfinished_note(payload_id: int) -> str:
    """The note a fault carries once its payload is logged (BaseException.add_note): what to do."""
    return f"payload {payload_id} is logged unfinished: `envmon ingest --resume` finishes it"


def _record_fault(engine, payload_id: int, status: str, error: BaseException) -> None:
    """Log why a payload did not finish, for resume to take it up again: `failed` if nothing of it
    is stored, but a payload already `stored` stays so (its rows are in). When the warehouse itself
    is what failed, the status it has (received or stored) already says the payload is unfinished."""
    with contextlib.suppress(Exception):
        if (db.get_payload(engine, payload_id) or {}).get("status") == "stored":
            status = "stored"
        db.update_payload(engine, payload_id, status=status, retryable=True,
                          error=f"{type(error).__name__}: {db.operational_reason(error)}"
                          if not isinstance(error, KeyboardInterrupt) else "interrupted")


def _store(engine, source: str, payload: bytes, name: str, fetched_at: datetime, payload_id: int,
           fetched_basis: str = "the fetch time") -> dict:
    try:
        parsed = files.parse_payload(source, payload, name, fetched_at, fetched_basis)
    except files.PayloadError as error:  # cannot be read at all: one line naming the source and the reason
        refused = files.PayloadError(f"refused as a {source} payload: {error}", kind=getattr(error, "kind", "format"))
        db.update_payload(engine, payload_id, status="failed", error=f"{name}: {refused}", retryable=False)
        raise refused from error
    except Exception as error:  # a parser fault on input it did not foresee: refused, logged, not a crash
        reason = f"refused as a {source} payload: unreadable ({type(error).__name__}: {error})"
        db.update_payload(engine, payload_id, status="failed", error=f"{name}: {reason}", retryable=False)
        raise files.PayloadError(reason) from error
    outcome = validate(parsed.observations, SOURCE_DOMAINS[source])
    batch = parsed.observations["batch_id"].iloc[0] if len(parsed.observations) else (
        parsed.rejected["batch_id"].iloc[0] if len(parsed.rejected) else f"{source}/empty")
    good = with_partition_day(qc.apply(outcome.good, context=_qc_context(engine, source, outcome.good)))
    bad = quarantine_days(pd.concat([outcome.quarantined, parsed.rejected], ignore_index=True),
                          fetched_at.astimezone(BUREAU_TZ).date())
    # Quarantined rows are stored on their days (a row without a valid time on the payload's day,
    # for the record), but only the days of good rows are assessed: a quarantined row never
    # creates an assessment day, nor moves the dashboard's latest day.
    days = sorted(set(good["partition_day"]) | set(bad["partition_day"]))
    assessed_days = sorted(set(good["partition_day"]))
    checked = compare_published(parsed.published, outcome.good)  # envmon's own class from the values it keeps
    disagreements = 0 if checked is None or checked.empty else int((checked["agrees"] == False).sum())  # noqa: E712
    read, quarantined = parsed.read, len(outcome.quarantined) + len(parsed.rejected)
    newest = good["observed_at"].max().to_pydatetime() if len(good) else None
    partitions = [(day, good[good["partition_day"] == day], bad[bad["partition_day"] == day]) for day in days]
    notes = parsed.notes + [f"warning: {w}" for w in parsed.warnings]
    counts = db.store_payload(engine, source, payload_id, partitions, batch, outcome.suite_name,
                              SOURCE_DOMAINS[source], checked, newest,
                              {"rows_read": read, "rows_loaded": len(outcome.good),
                               "rows_quarantined": quarantined, "rows_out_of_scope": parsed.out_of_scope,
                               "encoding": parsed.encoding, "notes": "\n".join(notes) or None})
    try:  # a secondary record: the payload is stored whatever becomes of it
        first_seen = registry_drift.record_unknowns(engine, parsed.unknown_stations, payload_id, clock.now())
    except Exception as error:  # noqa: BLE001 - said in the summary, not raised
        first_seen, parsed.warnings = [], parsed.warnings + [f"stations the registry lacks were not recorded: "
                                                             f"{db.operational_reason(error)}"]
    entry = {"domain": SOURCE_DOMAINS[source], "read": read, "loaded": len(outcome.good), "quarantined": quarantined,
             "out_of_scope": parsed.out_of_scope, "revised": counts["revised"],
             "published_disagreements": disagreements,
             "reconciled": read == len(outcome.good) + quarantined + parsed.out_of_scope,
             "registry_unknown": [f"{u['name_zh']} ({u['city']})" for u in parsed.unknown_stations]}
    return {"sources": {source: entry}, "days": [d.isoformat() for d in assessed_days],
            "quarantine_days": [d.isoformat() for d in days if d not in assessed_days],
            "encoding": parsed.encoding, "notes": parsed.notes, "warnings": parsed.warnings,
            "registry_unknown_first_seen": [f"{u['name_zh']} ({u['city']})" for u in first_seen]}


def quarantine_days(bad: pd.DataFrame, payload_day: date) -> pd.DataFrame:
    """The partition day of each quarantined row: its bureau day where it has a valid time, else
    the payload's day, only for the record."""
    bad = bad.copy()
    bad["partition_day"] = payload_day
    valid_time = bad["observed_at"].notna() if len(bad) else pd.Series(dtype=bool)
    if valid_time.any():
        bad.loc[valid_time, "partition_day"] = bureau_day(bad.loc[valid_time, "observed_at"],
                                                          bad.loc[valid_time, "averaging_period"])
    return bad


def assess_payload_days(engine, payload_id: int, days, settings: Settings) -> None:
    """Recompute the days a stored payload touched (late or revised data). A failure leaves the
    payload `stored`, with the error, for resume."""
    try:
        for day in days:
            nightly.assess(day, settings)
        alerts.after_late_data(settings, days)  # a late failure is alerted once (issue 13)
    except BaseException as error:
        _record_fault(engine, payload_id, "stored", error)
        error.add_note(unfinished_note(payload_id))
        raise


def mark_loaded(engine, payload_ids) -> None:
    """The payloads are done: stored, and their days assessed (or left, by the caller's choice,
    to the nightly run of a day not yet complete)."""
    for payload_id in payload_ids:
        db.update_payload(engine, payload_id, status="loaded", error=None, retryable=None)


def resume_payloads(settings: Settings, source: str | None = None, recompute: bool = True) -> dict:
    """Finish every payload a fault left unfinished (of one source, or all), oldest first, each
    under its lock: one that another process is ingesting right now is left to it. `received` and
    failed-retryable payloads are ingested again from the archive (nothing of them is stored);
    `stored` ones have their days assessed (their rows are not merged again: a newer payload may
    have revised them since). A failed-retryable payload is tried MAX_ATTEMPTS times. With
    recompute=False the days are returned for the caller to assess, and the payloads left stored."""
    _prepare(settings)
    engine = db.engine_for(settings.warehouse_url)
    finished, failed, busy, given_up, days, summaries = [], [], [], [], set(), []
    for row in db.unfinished_payloads(engine, source):
        if row["status"] == "failed" and (row["attempts"] or 0) >= MAX_ATTEMPTS:
            given_up.append(row["payload_id"])
            continue
        with db.payload_lock(engine, row["payload_id"], wait=False) as held:
            if not held:
                busy.append(row["payload_id"])  # being ingested by another process right now
                continue
            current = db.get_payload(engine, row["payload_id"])
            if current["status"] not in (*db.UNFINISHED, "failed"):
                continue  # finished by another process between the listing and the lock
            try:
                if current["status"] == "stored":
                    touched = [date.fromisoformat(d) for d in (current["days"] or "").split(",") if d]
                    summary = None
                    if recompute:
                        assess_payload_days(engine, current["payload_id"], touched, settings)
                else:
                    summary = _resume_from_archive(engine, current, settings)
                    touched = [date.fromisoformat(d) for d in summary["days"]]
                    if recompute:
                        assess_payload_days(engine, current["payload_id"], touched, settings)
                if recompute:
                    mark_loaded(engine, [current["payload_id"]])
            except Exception as error:  # noqa: BLE001 - recorded on the payload; the others go on
                failed.append({"payload_id": current["payload_id"], "error": db.operational_reason(error)})
                continue
            finished.append(current["payload_id"])
            days |= {d.isoformat() for d in touched}
            if summary is not None:
                summaries.append(summary)
    return {"resumed": finished, "failed": failed, "busy": busy, "given_up": given_up, "days": sorted(days),
            "summaries": summaries}


def _resume_from_archive(engine, row: dict, settings: Settings) -> dict:
    archived = Path(row["archive_path"])
    try:
        payload = archived.read_bytes()
    except OSError as error:
        db.update_payload(engine, row["payload_id"], status="failed", retryable=False,
                          error=f"the archived payload cannot be read: {error}")
        raise
    return _ingest_logged(engine, row["source"], payload, _archived_name(archived), row["fetched_at"], settings,
                          row["payload_id"], row["sha256"], archived, recompute=False)


def _archived_name(archived: Path) -> str:
    return archived.name.split("-", 1)[1] if "-" in archived.name else archived.name


def ingest_file(source: str, path: Path, fetched_at: datetime, settings: Settings,
                fetched_basis: str = "the fetch time") -> dict:
    """`fetched_basis` says where `fetched_at` came from (--fetched-at, the file's modification
    time): the CNEMC water times have no year, and the payload log says which was taken from what."""
    path = Path(path)
    return ingest_payload(source, path.read_bytes(), path.name, fetched_at, settings, origin=str(path),
                          fetched_basis=fetched_basis)


def reingest(payload_id: int, settings: Settings) -> dict:
    """Run a logged payload again from the archive, as received."""
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    row = db.get_payload(engine, payload_id)
    if row is None:
        raise KeyError(f"no payload {payload_id} in the ingest log")
    archived = Path(row["archive_path"])
    return ingest_payload(row["source"], archived.read_bytes(), _archived_name(archived), row["fetched_at"], settings,
                          origin=row["origin"], payload_id=payload_id)
