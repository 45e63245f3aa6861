"""Ingesting payloads of a real source: archive each as received, log it, parse, validate and
merge it into the warehouse (a later value wins, the old one kept in history), keep what the
publisher reported, advance the source's watermark and recompute the days it touched. One payload
or thousands take the same path (pipelines/ingest/batches.py): a payload here is a batch of one.

A payload is all or nothing in effect. Its status in the payload log says how far it got:
`received` (logged; nothing of it stored), `stored` (every day of it, its published results and
the watermark committed in one transaction), `loaded` (its days assessed too), or `failed` with
the error, `retryable` unless its content was refused. A fault at any point leaves a status that
says so: `envmon ingest --resume`, and the next collection of the source, finish every payload
left `received`, `stored` or failed-retryable (resume_payloads)."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from pipelines import storage
from pipelines.config import Settings
from pipelines.ingest import batches
from pipelines.ingest.batches import prepare, record_fault
from pipelines.observations import BUREAU_TZ
from pipelines.sources import files
from warehouse import db


MAX_ATTEMPTS = 5  # resume gives a failed-retryable payload this many tries; --payload-id always tries


class PayloadUnfinished(RuntimeError):
    """A fault stopped a logged payload; its status says how far it got, and resume finishes it."""


def ingest_payload(source: str, payload: bytes, name: str, fetched_at: datetime, settings: Settings,
                   origin: str | None = None, payload_id: int | None = None, recompute: bool = True,
                   fetched_basis: str = "the fetch time") -> dict:
    """Everything that happens to one payload; the summary has the shape of `envmon run --json`
    plus out_of_scope, and read = loaded + quarantined + out_of_scope. With recompute=False the
    payload is left `stored`: the caller assesses its days and marks it loaded (mark_loaded).
    Given again, a payload is ingested again (a new entry in the log), as it always was."""
    item = batches.Payload(source, name, fetched_at, origin=origin, fetched_basis=fetched_basis,
                               content=payload, payload_id=payload_id)
    return _single(batches.ingest([item], settings, again=True, assess=recompute))


def _single(outcome) -> dict:
    """The one payload's summary; its refusal raised as PayloadError, as before."""
    if outcome.refused:
        raise files.PayloadError(outcome.refused[0]["error"], kind=outcome.refused[0]["kind"])
    if outcome.failed:
        raise PayloadUnfinished(outcome.failed[0]["error"])
    if outcome.busy:
        raise PayloadUnfinished(f"payload {outcome.busy[0]} is being ingested by another process")
    summary = dict(outcome.summaries[0])
    summary.pop("file", None)
    return summary


def mark_loaded(engine, payload_ids) -> None:
    """The payloads are done: stored, and their days assessed (or left, by the caller's choice,
    to the nightly run of a day not yet complete)."""
    db.mark_loaded(engine, payload_ids)


def resume_payloads(settings: Settings, source: str | None = None, recompute: bool = True) -> dict:
    """Finish every payload a fault left unfinished (of one source, or all), oldest first, each
    under its lock: one that another process is ingesting right now is left to it. `received` and
    failed-retryable payloads are ingested again from the archive (nothing of them is stored), in
    batches (pipelines/ingest/batches.py); `stored` ones have their days assessed (their rows are not
    merged again: a newer payload may have revised them since). Every day is assessed once, at the
    end. A failed-retryable payload is tried MAX_ATTEMPTS times. With recompute=False the days are
    returned for the caller to assess, and the payloads left stored."""
    from pipelines import alerts

    prepare(settings)
    engine = db.engine_for(settings.warehouse_url)
    given_up, items, stored = [], [], []
    for row in db.unfinished_payloads(engine, source):
        if row["status"] == "failed" and (row["attempts"] or 0) >= MAX_ATTEMPTS:
            given_up.append(row["payload_id"])
        elif row["status"] == "stored":
            stored.append(row)
        else:
            items.append(_archived(row, wait_for_lock=False))   # from the shared storage, whichever worker received it
    outcome = batches.ingest(items, settings, again=True, assess=False, on_fault="record")
    failed = [{"payload_id": f["payload_id"], "error": f["error"]} for f in outcome.failed + outcome.refused]
    busy, finished, days = list(outcome.busy), list(outcome.stored_ids), set(outcome.assessed_days)
    with db.PayloadLocks(engine) as locks:
        for row in stored:
            if not locks.add(row["payload_id"], wait=False):
                busy.append(row["payload_id"])  # being ingested by another process right now
                continue
            current = db.get_payload(engine, row["payload_id"])
            if current["status"] != "stored":
                continue  # finished by another process between the listing and the lock
            finished.append(row["payload_id"])
            days |= {date.fromisoformat(d) for d in (current["days"] or "").split(",") if d}
        if recompute and finished:
            try:
                batches.assess_days(engine, sorted(days), settings)
                alerts.after_late_data(settings, sorted(days))  # a late failure is alerted once (issue 13)
            except Exception as error:  # noqa: BLE001 - recorded on the payloads; resume takes them up again
                for payload_id in finished:
                    record_fault(engine, payload_id, "stored", error)
                failed += [{"payload_id": payload_id, "error": db.operational_reason(error)} for payload_id in finished]
                finished = []
            else:
                mark_loaded(engine, finished)
    return {"resumed": sorted(finished), "failed": failed, "busy": busy, "given_up": given_up,
            "days": sorted(d.isoformat() for d in days) if finished else [],
            "summaries": [{k: v for k, v in summary.items() if k != "file"} for summary in outcome.summaries]}


def _archived(row: dict, wait_for_lock: bool = True) -> "batches.Payload":
    """A logged payload taken up again from the shared archive (pipelines/storage.py): its storage
    key, and the sha256 logged when it was received, which the re-read is checked against."""
    return batches.Payload(row["source"], storage.archived_name(row["archive_path"]), row["fetched_at"],
                           origin=row["origin"], fetched_basis="the fetch time logged with the payload",
                           payload_id=row["payload_id"], archive_path=row["archive_path"], sha256=row["sha256"],
                           size_bytes=row.get("size_bytes"), wait_for_lock=wait_for_lock)


def ingest_file(source: str, path: Path, fetched_at: datetime, settings: Settings,
                fetched_basis: str = "the fetch time") -> dict:
    """`fetched_basis` says where `fetched_at` came from (--fetched-at, the file's modification
    time): the CNEMC water times have no year, and the payload log says which was taken from what."""
    path = Path(path)
    return ingest_payload(source, path.read_bytes(), path.name, fetched_at, settings, origin=str(path),
                          fetched_basis=fetched_basis)


def ingest_files(source: str, paths: list[Path], settings: Settings, fetched_at: datetime | None = None,
                 fetched_basis: str | None = None, **options):
    """Many payload files of one source in one go (`envmon ingest` with several --file, --dir or
    --glob): see pipelines/ingest/batches.ingest for `options` (batch_size, again, progress). Each
    file's fetch time is `fetched_at`, else its modification time."""
    items = []
    for path in paths:
        path = Path(path)
        fetched = fetched_at or datetime.fromtimestamp(path.stat().st_mtime, BUREAU_TZ)
        basis = fetched_basis or ("--fetched-at" if fetched_at else "the file's modification time")
        items.append(batches.Payload(source, path.name, fetched, origin=str(path), fetched_basis=basis, path=path))
    return batches.ingest(items, settings, **options)


def reingest(payload_id: int, settings: Settings) -> dict:
    """Run a logged payload again from the archive, as received."""
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    row = db.get_payload(engine, payload_id)
    if row is None:
        raise KeyError(f"no payload {payload_id} in the ingest log")
    if not storage.archived_exists(settings, row["archive_path"]):
        where = row["archive_path"] if Path(row["archive_path"]).is_absolute() else \
            storage.of(settings).describe(row["archive_path"])
        raise FileNotFoundError(f"the archived payload {where} is not there")
    return _single(batches.ingest([_archived(row)], settings, again=True))
