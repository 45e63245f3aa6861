"""Payloads ingested many at a time: `envmon ingest` of several files, a folder or a glob, the
collection tasks, `envmon ingest --resume`, and one payload at a time too (pipelines/ingest/payloads.py,
which builds on this module; nothing here imports it).

Each payload is still archived as received and logged on its own (the payload log), so a payload
that cannot be read is refused alone, with its reason, while the others load. What is batched is
everything after that: the payloads of a batch (up to `batch_size` observations) are validated as
one frame (Great Expectations; the duplicate test stays within each payload), quality-controlled
each against what the warehouse and the batch's earlier payloads hold before it (exactly the
neighbours it would have had, ingested alone), and stored in ONE transaction
(warehouse/bulk.store_batch: one COPY per table, the merge of every touched partition done
set-based, the payloads all `stored` at its commit, or none of them; on PostgreSQL that transaction
runs in a thread of its own, waiting on the server's COPY, while this one writes the Data Docs and
compares the published results, which it waits for before it commits: _Loading). The days the run touched are
assessed once, at the end, set-based and a month at a time (assess_days), then the payloads are
marked `loaded`. Memory follows the batch, not the archive: a payload is read when its batch is
made, and let go when it is stored.

A payload whose content the log already holds as `loaded` (same source, same sha256) is not
ingested again (`again=True` does): re-running an unchanged archive costs a read and a hash per
file.

The warehouse ends as it would after ingesting the payloads one after the other (the same
observations, revisions, quarantine, partition log, published results and assessments;
tests/test_archive_ingest.py); what differs is that the alert step runs once, for every day the run
touched, after the last payload, and not after each.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd
from sqlalchemy import event as sa_event

from pipelines import clock, nightly, scope, storage
from pipelines.config import Settings
from pipelines.ingest.archive import archive
from pipelines.observations import BUREAU_TZ, SOURCE_DOMAINS, bureau_day, with_partition_day
from warehouse import db

LOG = logging.getLogger(__name__)

BATCH_OBSERVATIONS = 250_000   # observations validated and stored together: memory follows this
BATCH_PAYLOADS = 400           # and at most this many payloads (their locks, their log rows)
STAGES = ("archive", "parse", "validate", "data_docs", "qc", "published", "load", "assess", "alerts")
PAYLOAD_TAG = "\x1f"           # between a row's layer and its payload's number while validating


class Stopwatch:
    """Wall-clock seconds per stage."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started


@dataclass
class Payload:
    """One payload to ingest: a file (`path`), bytes in hand (`content`), or a logged payload
    taken up again from the archive (`payload_id`, its storage key `archive_path` and the `sha256`
    logged when it was received, which the re-read is checked against: pipelines/storage.py)."""
    source: str
    name: str
    fetched_at: datetime
    origin: str | None = None
    fetched_basis: str = "the fetch time"
    path: Path | None = None
    content: bytes | None = None
    payload_id: int | None = None
    archive_path: str | None = None   # a storage key (an older row: an absolute path)
    wait_for_lock: bool = True     # a logged payload another process holds: wait, or leave it (resume)
    sha256: str | None = None      # of the payload as received (the log's), for an archived one
    size_bytes: int | None = None  # as received (the log's), for an archived one

    @property
    def size(self) -> int:
        if self.content is not None:
            return len(self.content)
        if self.path is None:
            return self.size_bytes or 0
        try:
            return self.path.stat().st_size
        except (OSError, AttributeError):
            return 0

    def read(self, settings: Settings | None = None) -> bytes:
        """The payload's bytes; an archived one read from the shared storage, its sha256 checked
        (storage.ArchiveDamaged where it differs)."""
        if self.content is not None:
            return self.content
        if self.path is None and self.archive_path is not None:
            return storage.read_archived(settings, self.archive_path, self.sha256)
        return Path(self.path).read_bytes()


@dataclass
class _Logged:
    """A payload received and logged, parsed (or refused), waiting for its batch."""
    item: Payload
    payload_id: int
    sha256: str
    archive: str                   # its storage key
    parsed: object = None          # files.Parsed
    order: int = 0
    content: bytes | None = None   # until parsed


@dataclass
class Outcome:
    """What a run did, payload by payload."""
    summaries: list[dict] = field(default_factory=list)    # loaded (or stored), in order: ingest_payload's shape
    refused: list[dict] = field(default_factory=list)      # {"file", "payload_id", "error", "kind"}
    failed: list[dict] = field(default_factory=list)       # a fault: {"file", "payload_id", "error"}
    unchanged: list[dict] = field(default_factory=list)    # content already loaded: {"file", "payload_id", "sha256"}
    busy: list[int] = field(default_factory=list)          # logged payloads another process holds
    assessed_days: list[date] = field(default_factory=list)
    observations: int = 0                                   # values read (the payloads' `read`)
    clock: Stopwatch = field(default_factory=Stopwatch)

    @property
    def stored_ids(self) -> list[int]:
        return [s["payload_id"] for s in self.summaries]


def tell_operators_of_unknown_stations(source: str, first_seen: list[str], settings: Settings) -> None:
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


def prepare(settings: Settings) -> None:
    """Migrate the warehouse and sync its reference tables once per process and warehouse: a
    collection catching up a hundred hours ingests a hundred payloads."""
    if settings.warehouse_url not in _PREPARED:
        nightly.prepare_warehouse(settings)
        _PREPARED.add(settings.warehouse_url)
    scope.bind(settings)  # at national scope, the stations a payload publishes join this warehouse's registry


def record_fault(engine, payload_id: int, status: str, error: BaseException) -> None:
    """Log why a payload did not finish, for resume to take it up again: `failed` if nothing of it
    is stored, but a payload already `stored` stays so (its rows are in). When the warehouse itself
    is what failed, the status it has (received or stored) already says the payload is unfinished."""
    with contextlib.suppress(Exception):
        if (db.get_payload(engine, payload_id) or {}).get("status") == "stored":
            status = "stored"
        db.update_payload(engine, payload_id, status=status, retryable=True,
                          error=f"{type(error).__name__}: {db.operational_reason(error)}"
                          if not isinstance(error, KeyboardInterrupt) else "interrupted")


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


def _sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def ingest(payloads: Iterable[Payload], settings: Settings, *, batch_size: int = BATCH_OBSERVATIONS,
           again: bool = False, assess: bool = True, on_fault: str = "raise",
           progress: Callable[[Outcome, int, int], None] | None = None) -> Outcome:
    """Ingest the payloads (of any sources), in order, batch by batch, then (with `assess`) assess
    every day they touched once and mark them `loaded`; without it they are left `stored`, and the
    caller assesses their days (assess_days) and marks them (db.mark_loaded).

    A payload that cannot be read is refused alone (logged failed, not retryable; in
    `refused`). A fault (the warehouse, the disk) leaves the payloads of its batch failed and
    retryable, or `stored` if it came after their commit, and is raised with a note saying what
    to do (`on_fault="raise"`), or recorded in `failed` and the run goes on with the next batch
    (`on_fault="record"`, as resume does). `progress(outcome, payloads_done, bytes_done)` is called
    after each payload is received and after each batch is stored."""

    engine = db.engine_for(settings.warehouse_url)
    outcome = Outcome()
    touched: set[date] = set()
    done = {"payloads": 0, "bytes": 0}
    pending: dict[str, list[_Logged]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    locks = db.PayloadLocks(engine)

    def report() -> None:
        if progress is not None:
            progress(outcome, done["payloads"], done["bytes"])

    def flush(source: str) -> None:
        batch = pending.pop(source, [])
        counts.pop(source, None)
        if not batch:
            return
        try:
            touched.update(_store(engine, source, batch, settings, outcome))
        except BaseException as error:  # noqa: BLE001 - recorded on each payload of the batch
            for logged in batch:
                record_fault(engine, logged.payload_id, "failed", error)
            ids = [logged.payload_id for logged in batch]
            if on_fault == "raise" or not isinstance(error, Exception):
                error.add_note(_unfinished_note(ids + outcome.stored_ids))
                raise
            outcome.failed += [{"file": str(logged.item.path or logged.item.name), "payload_id": logged.payload_id,
                                "error": db.operational_reason(error)} for logged in batch]
        finally:
            locks.release([logged.payload_id for logged in batch])
        done["bytes"] += sum(logged.item.size for logged in batch)  # the bar moves as batches are stored
        report()

    try:
        for number, item in enumerate(payloads):
            logged = _receive(engine, item, settings, again, locks, outcome)
            done["payloads"] += 1
            if logged is None:
                done["bytes"] += item.size
                report()
                continue
            logged.order = number
            with outcome.clock.stage("parse"):
                refusal = _parse(engine, logged)
            if refusal is not None:
                outcome.refused.append(refusal)
                if refusal.get("format_changes"):  # a changed header refused: told once (operational.py)
                    from pipelines.alerts.operational import tell_format_changes
                    tell_format_changes(item.source, refusal["format_changes"], settings)
                locks.release([logged.payload_id])
                done["bytes"] += item.size
                report()
                continue
            outcome.observations += logged.parsed.read
            pending[item.source].append(logged)
            counts[item.source] += len(logged.parsed.observations) + len(logged.parsed.rejected)
            report()
            if counts[item.source] >= batch_size or len(pending[item.source]) >= BATCH_PAYLOADS:
                flush(item.source)
        for source in list(pending):
            flush(source)
    except BaseException as error:
        # a fault outside a batch's store (the archive's disk, the log): the payloads stored before it
        # wait for their days' assessment, which --resume does
        if outcome.stored_ids and not any("--resume" in note for note in getattr(error, "__notes__", ())):
            error.add_note(_unfinished_note(outcome.stored_ids))
        raise
    finally:
        locks.release()
    if assess and outcome.summaries:
        days = sorted(touched)
        try:
            with outcome.clock.stage("assess"):
                assess_days(engine, days, settings)
            with outcome.clock.stage("alerts"):
                from pipelines import alerts

                alerts.after_late_data(settings, days)  # a late failure is alerted once (issue 13)
        except BaseException as error:
            for payload_id in outcome.stored_ids:
                record_fault(engine, payload_id, "stored", error)
            error.add_note(_unfinished_note(outcome.stored_ids))
            raise
        db.mark_loaded(engine, outcome.stored_ids)
    outcome.assessed_days = sorted(touched)
    return outcome


def _unfinished_note(payload_ids: list[int]) -> str:
    ids = sorted(set(payload_ids))
    if len(ids) == 1:
        return f"payload {ids[0]} is logged unfinished: `envmon ingest --resume` finishes it"
    shown = ", ".join(map(str, ids[:10])) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    return f"payloads {shown} are logged unfinished: `envmon ingest --resume` finishes them"


def _receive(engine, item: Payload, settings: Settings, again: bool, locks, outcome: Outcome) -> _Logged | None:
    """Read, hash, archive and log the payload (or find it logged), under its lock. None: its
    content is loaded already (unchanged), or another process holds the logged payload (busy)."""

    with outcome.clock.stage("archive"):
        if item.payload_id is None and not again:
            payload = item.read()
            digest = _sha(payload)
            try:  # before the warehouse is prepared: an unchanged archive is only read and hashed
                earlier = db.payload_ids_loaded_with(engine, item.source, [digest]).get(digest)
            except Exception:  # noqa: BLE001 - a warehouse not migrated yet: prepared below, then asked
                prepare(settings)
                earlier = db.payload_ids_loaded_with(engine, item.source, [digest]).get(digest)
            if earlier is not None:
                outcome.unchanged.append({"file": str(item.path or item.name), "payload_id": earlier["payload_id"],
                                          "sha256": digest, "source": item.source})
                return None
            item = _with_content(item, payload)
        prepare(settings)  # migrated and its reference tables synced, once per process
        if item.payload_id is not None:  # logged already: taken up again from the archive
            if not locks.add(item.payload_id, wait=item.wait_for_lock):
                outcome.busy.append(item.payload_id)
                return None
            try:
                payload = item.read(settings)
            except (OSError, storage.ArchiveDamaged) as error:
                # never ingested. Damaged (its sha256 is not the one logged): final, an operator restores
                # it. Unreadable (the store down, a 5xx): retryable, resume tries it again. A payload
                # already stored or loaded keeps its status (its rows are in): only the error is told
                reason = _unreadable(engine, item.payload_id, error)
                locks.release([item.payload_id])
                outcome.failed.append({"file": str(item.archive_path), "payload_id": item.payload_id,
                                       "error": reason})
                return None
            digest, path = archive(settings, item.source, payload, item.name, clock.now()) \
                if item.archive_path is None else (_sha(payload), item.archive_path)
            db.begin_attempt(engine, item.payload_id)
            return _Logged(item, item.payload_id, digest, path, content=payload)
        payload = item.read()
        received = clock.now()
        digest, path = archive(settings, item.source, payload, item.name, received)
        payload_id = db.insert_payload(engine, {
            "source": item.source, "received_at": received, "fetched_at": item.fetched_at, "sha256": digest,
            "size_bytes": len(payload), "archive_path": path, "origin": item.origin or item.name,
            "status": "received"})
        locks.add(payload_id)
        db.begin_attempt(engine, payload_id)
    return _Logged(item, payload_id, digest, path, content=payload)


def _unreadable(engine, payload_id: int, error: BaseException) -> str:
    """Log a logged payload whose archived copy could not be read, and say why in one line."""
    damaged = isinstance(error, storage.ArchiveDamaged)
    reason = " ".join((str(error) if damaged else f"the archived payload cannot be read: {error}").split())
    if (db.get_payload(engine, payload_id) or {}).get("status") in ("stored", "loaded"):
        return reason  # its rows are in: a re-run that could not read it changes nothing
    if not damaged:
        db.begin_attempt(engine, payload_id)  # resume gives it MAX_ATTEMPTS tries, as any fault
    db.update_payload(engine, payload_id, status="failed", retryable=not damaged, error=reason)
    return reason


def _with_content(item: Payload, content: bytes) -> Payload:
    """The item with its bytes in hand (read once)."""
    from dataclasses import replace

    return replace(item, content=content)


def _parse(engine, logged: _Logged) -> dict | None:
    """Parse the payload; a refusal is logged (failed, not retryable) and returned."""
    from pipelines.sources import files

    item = logged.item
    payload, logged.content = logged.content, None
    try:
        logged.parsed = files.parse_payload(item.source, payload, item.name, item.fetched_at, item.fetched_basis)
        return None
    except files.PayloadError as error:  # cannot be read at all: one line naming the source and the reason
        reason, kind = f"refused as a {item.source} payload: {error}", getattr(error, "kind", "format")
        changes = getattr(error, "format_changes", [])  # a changed header (feed_formats.csv)
    except Exception as error:  # noqa: BLE001 - a parser fault on input it did not foresee: refused, not a crash
        reason, kind = f"refused as a {item.source} payload: unreadable ({type(error).__name__}: {error})", "format"
        changes = []
    db.update_payload(engine, logged.payload_id, status="failed", error=f"{item.name}: {reason}", retryable=False)
    return {"file": str(item.path or item.name), "payload_id": logged.payload_id, "error": reason, "kind": kind,
            "format_changes": changes}


def _validate(source: str, batch: list[_Logged]):
    """Every payload's observations validated as one frame: each row tagged with its payload (in
    the layer, part of the duplicate test's key), so repeats are settled within a payload only."""
    from pipelines.quality.validation import validate

    frames = []
    for number, logged in enumerate(batch):
        frame = logged.parsed.observations
        frames.append(frame.assign(_payload=number, _layer=frame["layer"],
                                   layer=frame["layer"].astype(str) + PAYLOAD_TAG + str(number)))
    outcome = validate(pd.concat(frames, ignore_index=True), SOURCE_DOMAINS[source])
    good = outcome.good.assign(layer=outcome.good["_layer"])
    held = outcome.quarantined.assign(layer=outcome.quarantined["_layer"])
    goods = dict(tuple(good.groupby("_payload", sort=False))) if len(good) else {}
    helds = dict(tuple(held.groupby("_payload", sort=False))) if len(held) else {}
    empty_good, empty_held = good.iloc[:0], held.iloc[:0]
    split = [(goods.get(n, empty_good).drop(columns=["_payload", "_layer"]).reset_index(drop=True),
              helds.get(n, empty_held).drop(columns=["_payload", "_layer"]).reset_index(drop=True))
             for n in range(len(batch))]
    return split, outcome.suite_name


CONTEXT_COLUMNS = ["station_id", "parameter", "averaging_period", "layer", "observed_at", "value", "censoring",
                   "partition_day", "payload_id"]


class _Neighbours:
    """What the warehouse holds of a source, as the QC series tests' neighbours, kept current
    while the batch's payloads are merged one after the other in memory: payload k's context is
    exactly what it would have read, stored alone after payloads 0..k-1. The days are read once per
    batch and coded once (qc.Neighbourhood): each payload then gets its own series' readings, and
    its rows replace those of their keys, without joining or concatenating the batch's frame."""

    def __init__(self, engine, source: str, first: date, last: date):
        from pipelines.quality import qc
        from warehouse import bulk

        self.coded = qc.Neighbourhood(bulk.source_observations_between(engine, source, first, last, CONTEXT_COLUMNS))

    def context(self, good: pd.DataFrame, first: date, last: date):
        """The rows of days first..last, less those the payload itself replaces (ingest._qc_context),
        coded for qc.apply."""
        return self.coded.context(good, first, last)

    def merge(self, good: pd.DataFrame, payload_id: int) -> None:
        """The payload's rows become neighbours, replacing the rows of their keys (a stored row of a
        payload logged later stays, as the merge keeps it)."""
        self.coded.merge(good, payload_id)


def _store(engine, source: str, batch: list[_Logged], settings: Settings, outcome: Outcome) -> set[date]:
    """Validate, QC, compare and store one batch of one source's payloads; returns the days with
    good rows (the days to assess). Each payload's summary goes to outcome.summaries."""
    from pipelines import statements
    from pipelines.alerts.operational import tell_format_changes as operational_format_changes
    from pipelines.quality import data_docs, qc
    from pipelines.quality.published import compare_published
    from warehouse import bulk, registry_drift

    domain = SOURCE_DOMAINS[source]
    with outcome.clock.stage("validate"):
        split, suite_name = _validate(source, batch)
    rows, entries = [], []
    with outcome.clock.stage("qc"):
        spans = []
        for good, _ in split:
            days = bureau_day(good["observed_at"], good["averaging_period"]) if len(good) else pd.Series(dtype=object)
            spans.append((min(days), max(days)) if len(days) else None)
        known = [span for span in spans if span]
        neighbours = _Neighbours(engine, source, min(s[0] for s in known) - timedelta(days=1),
                                 max(s[1] for s in known)) if known else None
        checked = []
        for logged, (good, _), span in zip(batch, split, spans):
            if span is None:
                checked.append(with_partition_day(qc.apply(good)))
                continue
            context = neighbours.context(good, span[0] - timedelta(days=1), span[1])
            done = with_partition_day(qc.apply(good, context=context if len(context) else None))
            neighbours.merge(done, logged.payload_id)
            checked.append(done)
        # a lab's report version decides which file's value stands, not arrival order (issue 25)
        superseded = statements.superseded_rows(engine, source, [(logged.payload_id, _shown_name(logged), done)
                                                                 for logged, done in zip(batch, checked)])
    complete = statements.CompleteStatements(source)
    compared = [Future() for _ in batch]   # the published comparisons, made while the batch loads
    for logged, (good, quarantined), done, older, published in zip(batch, split, checked, superseded, compared):
        parsed = logged.parsed
        done = done.drop(index=older.index)
        complete.add(logged.payload_id, _shown_name(logged), parsed, done)
        fetched_day = logged.item.fetched_at.astimezone(BUREAU_TZ).date()
        bad = quarantine_days(pd.concat([quarantined, parsed.rejected, older], ignore_index=True), fetched_day)
        batch_id = parsed.observations["batch_id"].iloc[0] if len(parsed.observations) else (
            parsed.rejected["batch_id"].iloc[0] if len(parsed.rejected) else f"{source}/empty")
        assessed = sorted(set(done["partition_day"]))
        days = sorted(set(assessed) | set(bad["partition_day"]))
        held = len(quarantined) + len(parsed.rejected) + len(older)
        notes = parsed.notes + [f"warning: {w}" for w in parsed.warnings]
        rows.append(bulk.PayloadRows(
            logged.payload_id, batch_id, done, bad, published,
            {"rows_read": parsed.read, "rows_loaded": len(good) - len(older), "rows_quarantined": held,
             "rows_out_of_scope": parsed.out_of_scope, "encoding": parsed.encoding, "notes": "\n".join(notes) or None,
             "days": ",".join(d.isoformat() for d in assessed)},
            days=days))
        entries.append((logged, assessed, days, held))
    # The load (one transaction) runs in a thread of its own on PostgreSQL, where it mostly waits on
    # the server's COPY and index upkeep, while this thread writes the Data Docs and compares the
    # published results, which the load waits for before it writes them and commits.
    with outcome.clock.stage("load"):
        loading = _Loading(engine, lambda: bulk.store_batch(engine, source, domain, suite_name, rows,
                                                            after_merge=complete if complete.statements else None))
    try:
        with outcome.clock.stage("data_docs"):   # every validation path writes its Data Docs (issue 25)
            data_docs.build_payload_docs(settings, data_docs.payload_site(settings, source))
        for logged, (good, _), published in zip(batch, split, compared):
            with outcome.clock.stage("published"):  # envmon's own from the values it keeps
                published.set_result(compare_published(logged.parsed.published, good))
    except BaseException as error:
        loading.abandon(compared, error)
        raise
    with outcome.clock.stage("load"):
        loading.result(compared)
    touched = set()
    for (logged, assessed, days, held), stored, published in zip(entries, rows, compared):
        parsed = logged.parsed
        published = published.result()
        disagreements = 0 if published is None or published.empty else int((published["agrees"] == False).sum())  # noqa: E712
        try:  # a secondary record: the payload is stored whatever becomes of it
            first_seen = registry_drift.record_unknowns(engine, parsed.unknown_stations, logged.payload_id, clock.now())
        except Exception as error:  # noqa: BLE001 - said in the summary, not raised
            first_seen, parsed.warnings = [], parsed.warnings + [f"stations the registry lacks were not recorded: "
                                                                 f"{db.operational_reason(error)}"]
        entry = {"domain": domain, "read": parsed.read, "loaded": stored.log["rows_loaded"], "quarantined": held,
                 "out_of_scope": parsed.out_of_scope, "revised": stored.revised,
                 "published_disagreements": disagreements,
                 "reconciled": parsed.read == stored.log["rows_loaded"] + held + parsed.out_of_scope,
                 "registry_unknown": [f"{u['name_zh']} ({u['city']})" for u in parsed.unknown_stations]}
        first_seen_names = [f"{u['name_zh']} ({u['city']})" for u in first_seen]
        outcome.summaries.append({
            "sources": {source: entry}, "days": [d.isoformat() for d in assessed],
            "quarantine_days": [d.isoformat() for d in days if d not in assessed],
            "encoding": parsed.encoding, "notes": parsed.notes, "warnings": parsed.warnings,
            "format_changes": parsed.format_changes,  # the header against feed_formats.csv (issue 21)
            "registry_unknown_first_seen": first_seen_names,
            **_statement_summary(complete, logged.payload_id, parsed),
            "payload_id": logged.payload_id, "sha256": logged.sha256, "archive": str(logged.archive),
            "file": str(logged.item.path) if logged.item.path else logged.item.name})
        tell_operators_of_unknown_stations(source, first_seen_names, settings)
        operational_format_changes(source, parsed.format_changes, settings)
        touched.update(assessed)
        logged.parsed = None  # let go of the payload's frames: memory follows the batch
    return touched


class _Loading:
    """A batch's load (`store`, one transaction) under way: in a thread of its own on PostgreSQL,
    whose driver lets go of the interpreter while the server works; in the caller's thread
    elsewhere (SQLite writes in this process: nothing to overlap), when its result is asked for.
    Either way the payloads' published comparisons (Futures) are resolved before it commits.
    A comparison that fails, or an interrupt before every comparison is resolved, rolls the load
    back: nothing of the batch is stored. The statement the loader is waiting on then (a partition's
    lock another load holds, a COPY) is cancelled on the server, so the rollback does not wait for it.
    An interrupt once every comparison is resolved (while the caller waits for the load) cancels the
    statement the loader is running: the load rolls back if it was running one; if it was between
    statements or committing, it may still commit, and then the payloads stay `stored`, their days
    not assessed (`envmon ingest --resume` assesses them)."""

    in_a_thread_on = ("postgresql",)   # the warehouses whose load runs in a thread of its own

    def __init__(self, engine, store: Callable[[], object]):
        self.store, self.thread, self.value, self.error = store, None, None, None
        self.engine, self.connections = engine, []   # the DBAPI connections the loader holds, to cancel
        if engine.dialect.name in self.in_a_thread_on:
            self.thread = threading.Thread(target=self._run, name="envmon-load", daemon=True)
            sa_event.listen(engine, "checkout", self._checked_out)
            sa_event.listen(engine, "checkin", self._checked_in)
            self.thread.start()

    def _run(self) -> None:
        try:
            self.value = self.store()
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread, raised there
            self.error = error
        finally:
            sa_event.remove(self.engine, "checkout", self._checked_out)
            sa_event.remove(self.engine, "checkin", self._checked_in)

    def _checked_out(self, dbapi_connection, record, proxy) -> None:
        if threading.current_thread() is self.thread:
            self.connections.append(dbapi_connection)

    def _checked_in(self, dbapi_connection, record) -> None:
        if threading.current_thread() is self.thread:
            self.connections[:] = [c for c in self.connections if c is not dbapi_connection]

    def _cancel(self) -> None:
        """Cancel what the loader's connections are running on the server (psycopg), so a wait on
        a lock, or a COPY, ends with an error in the loader's thread, which then rolls back."""
        for connection in list(self.connections):
            cancel = getattr(connection, "cancel_safe", None) or getattr(connection, "cancel", None)
            if cancel is not None:
                with contextlib.suppress(Exception):   # closed meanwhile: nothing left to cancel
                    cancel()

    def result(self, compared: list[Future]):
        if self.thread is None:
            return self.store()
        try:
            self.thread.join()
        except BaseException as error:  # an interrupt while waiting: the load is rolled back, if it can be
            self.abandon(compared, error)
            raise
        if self.error is not None:
            raise self.error
        return self.value

    def abandon(self, compared: list[Future], error: BaseException) -> None:
        """The caller failed before the load could commit: the comparisons it waits for fail with
        `error`, the statement it runs is cancelled (its transaction rolls back, unless it was
        past its last statement), and the caller waits for the loader's thread to end before going
        on (to log the payloads failed, or stored if the load had committed already)."""
        for published in compared:
            if not published.done():
                published.set_exception(error)
        if self.thread is not None:
            self._cancel()
            while self.thread.is_alive():
                try:   # a further interrupt cancels again and still waits for the rollback
                    self.thread.join()
                except KeyboardInterrupt:
                    self._cancel()


def _shown_name(logged: _Logged) -> str:
    """The payload's file name, as a reason names it."""
    return Path(str(logged.item.path or logged.item.name)).name


def _statement_summary(complete, payload_id: int, parsed) -> dict:
    """What a sampling file said of itself (issue 25): a complete statement, and the values it withdrew."""
    withdrawn = complete.withdrawn(payload_id)
    if withdrawn is None and not getattr(parsed, "complete_statement", False):
        return {}
    return {"complete_statement": True, "report_version": parsed.report_version, "withdrawn": withdrawn or 0}


# --- the days a run touched, assessed once, set-based ------------------------------------------

def assess_days(engine, days, settings: Settings) -> dict:
    """The rollups and assessments of `days` and of their months, recomputed from what is stored,
    as nightly.assess leaves them day after day, but a month at a time: one read of the month's
    touched days (every source), one call per domain over all of them, one write per table
    (warehouse/bulk.py); then the month's rollups and month-to-date cross-boundary rows. Under the
    month's computation lock nightly.assess takes."""
    from pipelines.assessment import air_annual, cross_boundary, daily, rollups
    from warehouse import bulk, registry_store

    registry_store.use_warehouse_registry(engine)  # the registry version in force now, whoever applied it
    days = sorted(set(days))
    months: dict[date, list[date]] = defaultdict(list)
    for day in days:
        months[day.replace(day=1)].append(day)
    assessed = {"days": len(days), "assessments": 0}
    for month_start, month_days in sorted(months.items()):
        with db.day_lock(engine, "assess", month_start):
            observations = bulk.observations_of_days(engine, month_days)
            bulk.replace_day_rollups(engine, month_days,
                                     rollups.daily_many(observations, settings.assessable_flags))
            usable = observations[observations["qc_flag"].isin(settings.assessable_flags)]
            # the stations' daily values of the annual statistics, from the observations in hand:
            # the refresh below reads them stored, not these months' observations again. Stored
            # still under this month's lock and, inside it, the year's `air-annual` lock (taken by
            # store_station_days, as by refresh_year, the other writer): a refresh that read a day
            # before its revision cannot overwrite these newer values (lock order month -> year)
            air_annual.store_station_days(engine, observations, month_days, settings.assessable_flags)
            rows = (daily.assess_surface_water_days(usable, month_days) + daily.assess_seawater_days(usable, month_days)
                    + daily.assess_air_days(usable, month_days))
            bulk.replace_day_assessments(engine, month_days, rows)
            assessed["assessments"] += len(rows)
            month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
            days_of_month = db.daily_rollups_between(engine, month_start, month_end)
            db.replace_rollups(engine, "month", month_start, rollups.monthly(days_of_month, month_start))
            monthly = cross_boundary.month_to_date_rows(db.rollups_for(engine, "month", month_start), month_start)
            db.replace_assessments(engine, "surface_water", month_start, monthly, period="month")
    if days:  # the HJ 663 annual statistics of the years touched (as the nightly step leaves them),
        # the touched days' daily values stored above (changed=(): not read from observations again)
        assessed["air_annual"] = air_annual.refresh_years(engine, days, settings.assessable_flags, changed=())
    return assessed


# --- what `envmon ingest` is given ---------------------------------------------------------------

def files_of(files: list[Path] | None = None, folders: list[Path] | None = None,
             patterns: list[str] | None = None) -> list[Path]:
    """The payload files named, in that order: each --file, then each folder's files (not hidden,
    sorted by name, not recursing), then each glob's matches (sorted; `**` recurses). A file named
    twice is ingested once."""
    import glob

    found: list[Path] = list(files or [])
    for folder in folders or []:
        found += sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    for pattern in patterns or []:
        found += sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
    seen, unique = set(), []
    for path in found:
        key = Path(path).resolve()
        if key not in seen:
            seen.add(key)
            unique.append(Path(path))
    return unique
