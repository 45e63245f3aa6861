"""Collection on each feed's own cadence (the collection DAGs in dags/envmon_collect.py call these):

- the CNEMC surface-water feed serves only its current snapshot, republished every 4 hours: it is
  fetched every 2 hours, and a snapshot already logged (same sha256) is not ingested again;
- the CNEMC hourly air files are fetched every hour from the source's watermark on, so missed
  hours are caught up;
- the laboratory and coastal inboxes (ENVMON_INBOX/lab, ENVMON_INBOX/coastal), and in files mode
  every file source's inbox, are scanned for files whose content the payload log has not seen.

Every payload takes the one path of pipelines/bulk_ingest.py (as `envmon ingest` of many files
does): each archived and logged on its own, the collection's payloads validated and stored in
batches, read one at a time as the batches need them (an hour's file is fetched when its turn
comes). Days before today that a collection changed (late or revised data) are re-assessed once,
set-based (bulk_ingest.assess_days), and alerted on at once; today's day is assessed by the nightly
run, when it is complete.

Each collection first finishes the payloads of its source that a fault left unfinished
(pipelines.ingest.resume_payloads), and marks its payloads `loaded` only once the days they changed
are re-assessed. A feed that does not answer stops the collection at the first hour it misses,
after the hours before it are finished: the watermark stays there, and the next collection catches
up from it.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

from pipelines import bulk_ingest, clock, ingest, nightly
from pipelines.clock import bureau_date
from pipelines.config import FILE_SOURCES, LIVE_SOURCES, Settings, load_settings
from pipelines.observations import BUREAU_TZ, SOURCE_DOMAINS
from pipelines.sources.files import PayloadError
from warehouse import db

COUNTS = ("read", "loaded", "quarantined", "out_of_scope", "published_disagreements")


def _already_logged(settings: Settings, source: str, payload: bytes) -> bool:
    digest = hashlib.sha256(payload).hexdigest()
    return db.payload_status_by_sha(db.engine_for(settings.warehouse_url), source, digest) is not None


def _totals(source: str, summaries: list[dict]) -> dict:
    total = {"domain": SOURCE_DOMAINS[source], **{key: 0 for key in COUNTS}}
    for summary in summaries:
        for key in COUNTS:
            total[key] += summary["sources"][source].get(key, 0)
    return total


def reassess_late_days(days: list[str], settings: Settings, now: datetime, skip: date | None = None) -> list[str]:
    """Assess and alert again the past days a collection changed; today waits for the nightly run,
    and so does `skip`, the day of the nightly run that is collecting."""
    from pipelines import alerts

    today = bureau_date(now)
    late = sorted({d for d in days if date.fromisoformat(d) < today and date.fromisoformat(d) != skip})
    if late:
        late_days = [date.fromisoformat(day) for day in late]
        bulk_ingest.assess_days(db.engine_for(settings.warehouse_url), late_days, settings)  # once, set-based
        alerts.run(settings, late_days, nightly.data_label(settings))  # the alert step of those days
    return late


class SourceUnavailable(RuntimeError):
    """A feed did not answer; what was collected before it is finished, the rest waits for the
    next collection (the watermark has not moved past it)."""


def _finish(source: str, settings: Settings, now: datetime, summaries: list[dict], resumed: dict,
            run_day: date | None = None) -> dict:
    """Re-assess the past days the collection changed (its payloads' and the resumed ones'), then
    mark its payloads loaded: a crash before that leaves them `stored`, for the next collection."""
    days = sorted({day for summary in summaries for day in summary["days"]} | set(resumed["days"]))
    reassessed = reassess_late_days(days, settings, now, run_day)
    ingest.mark_loaded(db.engine_for(settings.warehouse_url), [s["payload_id"] for s in summaries] + resumed["resumed"])
    return {"sources": {source: _totals(source, summaries + resumed["summaries"])},
            "payloads": [s["payload_id"] for s in summaries], "resumed": resumed["resumed"],
            "days": days, "reassessed": reassessed}


def collect_live(source: str, settings: Settings | None = None, now: datetime | None = None,
                 retry=None) -> dict:
    """Fetch what a CNEMC feed has that envmon has not, ingest it, re-assess the past days it
    changed. `retry`: the clients' RetryPolicy (default: theirs)."""
    from pipelines.sources.live import CnemcAirClient, CnemcWaterClient, RetryPolicy

    settings = settings or load_settings()
    now = now or clock.now()
    if source not in LIVE_SOURCES:
        raise ValueError(f"{source} has no live client; live sources: {', '.join(LIVE_SOURCES)}")
    nightly.prepare_warehouse(settings)
    resumed = ingest.resume_payloads(settings, source, recompute=False)
    unchanged, missed = 0, []
    retry = retry or RetryPolicy()
    if source == "cnemc-water":
        try:
            body = CnemcWaterClient(settings.cnemc_water_url, retry=retry).fetch()
        except PayloadError as error:
            missed.append(f"the water feed did not answer: {error}")
            items = []
        else:
            if _already_logged(settings, source, body):
                unchanged += 1  # the same snapshot as last time: nothing new
                items = []
            else:
                items = [bulk_ingest.Payload(source, f"publish-{now:%Y%m%dT%H%M}.json", now,
                                             origin=settings.cnemc_water_url, content=body)]
    else:
        client = CnemcAirClient(settings.cnemc_air_url, retry=retry)
        hours = client.hours_since(db.watermark(db.engine_for(settings.warehouse_url), source), now)

        def fetched():  # one hour at a time, as the batches take them; the first hour missed ends it
            for hour in hours:
                timepoint = f"{hour:%Y-%m-%dT%H00}"
                try:
                    body = client.fetch_hour(hour)
                except PayloadError as error:
                    missed.append(f"the air feed did not answer for {timepoint}: {error}")
                    return  # the watermark stays before this hour: the next collection starts here
                yield bulk_ingest.Payload(source, f"{timepoint}.csv", now,
                                          origin=client.url.format(timepoint=timepoint), content=body)

        items = fetched()
    outcome = bulk_ingest.ingest(items, settings, again=True, assess=False)
    summaries = _summaries(outcome)
    result = {**_finish(source, settings, now, summaries, resumed), "unchanged_payloads": unchanged}
    if outcome.refused:
        result["failed"] = [{"file": r["file"], "error": r["error"]} for r in outcome.refused]
    if missed:
        raise SourceUnavailable(f"{source}: {missed[0]}; {len(summaries)} payloads collected before it")
    return result


def _summaries(outcome) -> list[dict]:
    return [{k: v for k, v in summary.items() if k != "file"} for summary in outcome.summaries]


def collect_inbox(source: str, settings: Settings | None = None, now: datetime | None = None,
                  run_day: date | None = None) -> dict:
    """Ingest every file of ENVMON_INBOX/<source>/ whose content is not in the payload log yet. A
    file that cannot be read is logged as failed with its reason and does not stop the others.
    `run_day`: the day of the nightly run collecting, which assesses that day itself."""
    settings = settings or load_settings()
    now = now or clock.now()
    if source not in FILE_SOURCES:
        raise ValueError(f"{source} has no inbox; file sources: {', '.join(FILE_SOURCES)}")
    folder = Path(settings.inbox) / source if settings.inbox else None
    if folder is None or not folder.is_dir():
        return {"sources": {source: _totals(source, [])}, "payloads": [], "resumed": [], "failed": [], "days": [],
                "reassessed": [], "inbox": str(folder) if folder else None}
    nightly.prepare_warehouse(settings)
    resumed = ingest.resume_payloads(settings, source, recompute=False)

    def new_files():  # read one at a time, as the batches take them
        for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            payload = path.read_bytes()
            if _already_logged(settings, source, payload):
                continue
            yield bulk_ingest.Payload(source, path.name, datetime.fromtimestamp(path.stat().st_mtime, BUREAU_TZ),
                                      origin=str(path), fetched_basis="the file's modification time",
                                      path=path, content=payload)

    outcome = bulk_ingest.ingest(new_files(), settings, again=True, assess=False)
    failed = [{"file": refused["file"], "error": refused["error"]} for refused in outcome.refused]
    return {**_finish(source, settings, now, _summaries(outcome), resumed, run_day), "failed": failed,
            "inbox": str(folder)}
