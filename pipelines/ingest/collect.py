"""Collection on each feed's own cadence (the collection DAGs in dags/envmon_collect.py call these):

- the CNEMC surface-water feed serves only its current snapshot, republished every 4 hours: it is
  fetched every 2 hours, and a snapshot already fetched (same sha256) is not ingested again;
- the CNEMC hourly air files are fetched every hour: every hour since the last collection, every
  hour still missing, and the recent hours again (see "the collection ledger" below);
- the laboratory and coastal inboxes (ENVMON_INBOX/lab, ENVMON_INBOX/coastal), and in files mode
  every file source's inbox, are scanned for files whose content the payload log has not seen.

The collection ledger (warehouse/collection_ledger.py, `envmon collect status`) holds one row per
expected air hour and water snapshot (its 4-hour slot): pending, failed (with its tries), fetched,
late (re-fetched with more stations), revised (re-fetched with other values) or gap (never
delivered after ENVMON_COLLECT_MAX_TRIES collections asked; the water snapshot of a slot the feed
has moved past, at once). A missing hour never stops the hours after it. The hours of the
look-back window (ENVMON_COLLECT_LOOKBACK_HOURS) are fetched again until their payload comes back
unchanged twice, so stations that send late and CNEMC's revisions are ingested like any payload
(the later one wins; the values it replaces go to observation_history). A collection that records
a gap succeeds; the outage is one operational episode told to the operators (opened, ended).

Every payload takes the one path of pipelines/ingest/batches.py (as `envmon ingest` of many files
does): each archived and logged on its own, the collection's payloads validated and stored in
batches, read one at a time as the batches need them (an hour's file is fetched when its turn
comes). Days before today that a collection changed (late or revised data) are re-assessed once,
set-based (batches.assess_days), and alerted on at once; today's day is assessed by the nightly
run, when it is complete.

Each collection first finishes the payloads of its source that a fault left unfinished
(pipelines.ingest.payloads.resume_payloads), and marks its payloads `loaded` only once the days they changed
are re-assessed.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path

from pipelines import clock, nightly
from pipelines.clock import bureau_date
from pipelines.config import FILE_SOURCES, LIVE_SOURCES, Settings, data_label, load_settings
from pipelines.ingest import batches, payloads
from pipelines.observations import BUREAU_TZ, SOURCE_DOMAINS
from pipelines.sources import inbox
from pipelines.sources.files import PayloadError
from warehouse import collection_ledger as ledger
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
        batches.assess_days(db.engine_for(settings.warehouse_url), late_days, settings)  # once, set-based
        alerts.run(settings, late_days, data_label(settings))  # the alert step of those days
    return late


def _finish(source: str, settings: Settings, now: datetime, summaries: list[dict], resumed: dict,
            run_day: date | None = None) -> dict:
    """Re-assess the past days the collection changed (its payloads' and the resumed ones'), then
    mark its payloads loaded: a crash before that leaves them `stored`, for the next collection."""
    days = sorted({day for summary in summaries for day in summary["days"]} | set(resumed["days"]))
    reassessed = reassess_late_days(days, settings, now, run_day)
    payloads.mark_loaded(db.engine_for(settings.warehouse_url), [s["payload_id"] for s in summaries] + resumed["resumed"])
    return {"sources": {source: _totals(source, summaries + resumed["summaries"])},
            "payloads": [s["payload_id"] for s in summaries], "resumed": resumed["resumed"],
            "days": days, "reassessed": reassessed}


# --- the collection ledger ----------------------------------------------------------------------

SETTLED_AFTER = 2          # a look-back re-fetch with the same sha256 this many times in a row: settled
WATER_SNAPSHOT_HOURS = 4   # the CNEMC water table is republished every 4 hours (fetched every 2)
RECEIVED = ("fetched", "late", "revised")
COUNTS_LEDGER = ("asked", "fetched", "late", "revised", "unchanged", "failed", "gap", "refetch_failed")


def _floor(moment: datetime, hours: int = 1) -> datetime:
    """The bureau-clock hour (or `hours`-hour slot) a moment lies in."""
    local = moment.astimezone(BUREAU_TZ).replace(minute=0, second=0, microsecond=0)
    return local - timedelta(hours=local.hour % hours)


def _hours(first: datetime, last: datetime, step: int = 1) -> list[datetime]:
    out, hour = [], first
    while hour <= last:
        out.append(hour)
        hour += timedelta(hours=step)
    return out


def _new_row(source: str, expected_at: datetime, now: datetime) -> dict:
    return {"source": source, "expected_at": expected_at, "status": "pending", "tries": 0, "fetches": 0,
            "unchanged_fetches": 0, "first_fetched_at": None, "last_fetched_at": None, "last_tried_at": None,
            "sha256": None, "rows": None, "stations": None, "payload_id": None, "last_error": None, "updated_at": now}


def _missed(row: dict, error: str, now: datetime, max_tries: int, counts: dict) -> None:
    """An attempt that brought nothing usable: an unfinished row counts a try and becomes a gap
    at `max_tries`; a row already received keeps what it has (only the re-fetch failed)."""
    row["last_tried_at"], row["last_error"], row["updated_at"] = now, error[:500], now
    if row["status"] in RECEIVED:
        counts["refetch_failed"] += 1
        return
    row["tries"] += 1
    row["status"] = "gap" if row["tries"] >= max_tries else "failed"
    counts[row["status"]] += 1


def _received(row: dict, body: bytes, described: tuple | None, now: datetime, counts: dict) -> bool:
    """A payload for the row's hour or snapshot: True when it is to be ingested (new, late or
    revised); the same sha256 as before counts towards settling it."""
    digest = hashlib.sha256(body).hexdigest()
    row["last_tried_at"], row["last_fetched_at"], row["updated_at"] = now, now, now
    row["fetches"] += 1
    row["first_fetched_at"] = row["first_fetched_at"] or now
    if row["status"] in RECEIVED and row["sha256"] == digest:
        row["unchanged_fetches"] += 1
        counts["unchanged"] += 1
        return False
    stations, values = (described[0], described[1]) if described else (None, None)
    row["_before"], row["_sha_before"] = row["status"], row["sha256"]
    if row["status"] not in RECEIVED:
        row["status"] = "fetched"
    elif stations is not None and row["stations"] is not None and stations > row["stations"]:
        row["status"] = "late"       # more stations than before: some sent their hour late
    else:
        row["status"] = "revised"    # the same stations, other values: the later payload wins
    counts[row["status"]] += 1
    row.update(sha256=digest, unchanged_fetches=0, stations=stations, rows=values, last_error=None)
    return True


def _describe(source: str, body: bytes, name: str, now: datetime) -> tuple[int, int, datetime | None] | None:
    """Stations, values and the newest observation time a payload holds (None: unreadable; the
    ingest refuses it with its reason)."""
    from pipelines.sources import files

    try:
        parsed = files.parse_payload(source, body, name, now)
    except (PayloadError, ValueError):
        return None
    stations = set(parsed.observations["station_id"])
    if "station_id" in parsed.rejected:
        stations |= set(parsed.rejected["station_id"].dropna())
    newest = parsed.observations["observed_at"].max() if len(parsed.observations) else None
    return len(stations), int(parsed.read), (newest.to_pydatetime() if newest is not None else None)


def _air_hours_to_ask(engine, source: str, known: dict, now: datetime, lookback: int) -> list[datetime]:
    """New hours (after the newest the ledger holds; at its first use after the watermark, else
    the look-back window), every unfinished hour however old, and the window's received hours
    that have not settled yet."""
    last = _floor(now)
    window_start = last - timedelta(hours=lookback - 1)
    newest = ledger.newest_expected(engine, source)
    if newest is not None:
        start = _floor(newest) + timedelta(hours=1)
    else:
        watermark = db.watermark(engine, source)
        start = _floor(watermark) + timedelta(hours=1) if watermark else window_start
    again = {_floor(hour) for hour, row in known.items()
             if row["status"] in ledger.UNFINISHED
             or (row["status"] in RECEIVED and hour >= window_start and row["unchanged_fetches"] < SETTLED_AFTER)}
    return sorted(again | set(_hours(start, last)))


def collect_live(source: str, settings: Settings | None = None, now: datetime | None = None,
                 retry=None) -> dict:
    """Fetch what a CNEMC feed has that envmon has not, ingest it, re-assess the past days it
    changed, and record each expected hour (air) or snapshot (water) in the collection ledger.

    A missing hour never stops the others: it is asked again at each collection and recorded as a
    gap after ENVMON_COLLECT_MAX_TRIES. The look-back window (ENVMON_COLLECT_LOOKBACK_HOURS) is
    fetched again until its payloads come back unchanged twice, so late stations and revisions are
    ingested through the one payload path (the later payload wins; the values it replaces go to
    observation_history). A run that records a gap succeeds: the outage is one operational episode
    (pipelines.alerts.operational.feed_outage), not a failed run. `retry`: the clients' RetryPolicy."""
    from pipelines.config import collection_rules
    from pipelines.sources.live import RetryPolicy

    settings = settings or load_settings()
    now = now or clock.now()
    if source not in LIVE_SOURCES:
        raise ValueError(f"{source} has no live client; live sources: {', '.join(LIVE_SOURCES)}")
    max_tries, lookback = collection_rules()
    nightly.prepare_warehouse(settings)
    engine = db.engine_for(settings.warehouse_url)
    resumed = payloads.resume_payloads(settings, source, recompute=False)
    retry = retry or RetryPolicy()
    counts = {key: 0 for key in COUNTS_LEDGER}
    by_name: dict[str, dict] = {}  # payload name -> its ledger row, for what the ingest says of it
    collect_rows = _collect_water if source == "cnemc-water" else _collect_air
    touched, items = collect_rows(settings, engine, now, max_tries, lookback, retry, counts, by_name)
    outcome = batches.ingest(items, settings, again=True, assess=False)
    summaries = _summaries(outcome)
    for summary in outcome.summaries:
        row = by_name.get(summary["file"])
        if row is not None:
            row["payload_id"], row["rows"] = summary["payload_id"], summary["sources"][source]["read"]
    for refused in outcome.refused:  # content the parser refused: nothing received, asked again (then a gap)
        row = by_name.get(refused["file"])
        if row is not None:
            counts[row["status"]] -= 1
            row["status"], row["sha256"] = row["_before"], row["_sha_before"]
            _missed(row, f"refused: {refused['error']}", now, max_tries, counts)
    ledger.save(engine, [{k: v for k, v in row.items() if not k.startswith("_")} for row in touched])
    new_gaps = sorted(row["expected_at"].astimezone(BUREAU_TZ) for row in touched  # told on the bureaus' clock
                      if row["status"] == "gap" and row["_was"] != "gap")
    result = {**_finish(source, settings, now, summaries, resumed), "unchanged_payloads": counts["unchanged"],
              "ledger": {**counts, "new_gaps": [g.isoformat() for g in new_gaps]}}
    result["feed_outage"] = _tell_outage(settings, engine, source, new_gaps, now)
    if outcome.refused:
        result["failed"] = [{"file": r["file"], "error": r["error"]} for r in outcome.refused]
    return result


def _collect_air(settings, engine, now, max_tries, lookback, retry, counts, by_name):
    """The ledger rows this collection asks for, and the payloads to ingest (a generator: each
    hour is fetched when the batches take it; a missing hour is noted, never an end)."""
    from pipelines.sources.live import CnemcAirClient

    source = "cnemc-air"
    client = CnemcAirClient(settings.cnemc_air_url, retry=retry)
    window_start = _floor(now) - timedelta(hours=lookback - 1)
    known = ledger.entries_to_collect(engine, source, window_start)
    touched = []
    for hour in _air_hours_to_ask(engine, source, known, now, lookback):
        row = known.get(hour) or _new_row(source, hour, now)
        row["_was"] = row["status"]
        touched.append(row)

    def fetched():
        for row in touched:
            timepoint = f"{row['expected_at'].astimezone(BUREAU_TZ):%Y-%m-%dT%H00}"
            counts["asked"] += 1
            try:
                body = client.fetch_hour(row["expected_at"])
            except PayloadError as error:
                _missed(row, str(error), now, max_tries, counts)
                continue
            name = f"{timepoint}.csv"
            if _received(row, body, _describe(source, body, name, now), now, counts):
                by_name[name] = row
                yield batches.Payload(source, name, now, origin=client.url.format(timepoint=timepoint), content=body)

    return touched, fetched()


def _collect_water(settings, engine, now, max_tries, lookback, retry, counts, by_name):
    """The water feed serves its current snapshot only: the snapshot fetched fills the 4-hour slot
    of its newest reading; a slot before it never fetched can no longer come (a gap at once); a
    slot after it (not republished yet) counts a try."""
    from pipelines.sources.live import CnemcWaterClient

    source = "cnemc-water"
    current = _floor(now, WATER_SNAPSHOT_HOURS)
    known = ledger.entries_to_collect(engine, source, current - timedelta(hours=lookback))
    newest = ledger.newest_expected(engine, source)
    slots = dict(known)
    if newest is not None:
        step = timedelta(hours=WATER_SNAPSHOT_HOURS)
        for slot in _hours(_floor(newest, WATER_SNAPSHOT_HOURS) + step, current, WATER_SNAPSHOT_HOURS):
            slots.setdefault(slot, _new_row(source, slot, now))
    counts["asked"] += 1
    try:
        body = CnemcWaterClient(settings.cnemc_water_url, retry=retry).fetch()
    except PayloadError as error:
        slots.setdefault(current, _new_row(source, current, now))
        missed = [row for row in slots.values() if row["status"] in ledger.UNFINISHED]
        for row in missed:
            row["_was"] = row["status"]
            _missed(row, f"the water feed did not answer: {error}", now, max_tries, counts)
        return missed, []
    name = f"publish-{now:%Y%m%dT%H%M}.json"
    described = _describe(source, body, name, now)
    slot = _floor(described[2], WATER_SNAPSHOT_HOURS) if described and described[2] else current
    row = slots.setdefault(slot, _new_row(source, slot, now))
    for other in slots.values():
        other["_was"] = other["status"]
    items = []
    first_time = row["status"] not in RECEIVED
    if _received(row, body, described, now, counts):
        if first_time and _already_logged(settings, source, body):
            counts[row["status"]] -= 1
            counts["unchanged"] += 1  # logged before the ledger was kept: recorded, not ingested twice
        else:
            by_name[name] = row
            items.append(batches.Payload(source, name, now, origin=settings.cnemc_water_url, content=body))
    touched = [row]
    for other_slot, other in slots.items():
        if other is row or other["status"] not in ledger.UNFINISHED:
            continue
        if other_slot < slot:  # the feed has moved past it: that snapshot can no longer be fetched
            other["tries"] = max(other["tries"], max_tries - 1)
        _missed(other, "the water feed has not published this snapshot", now, max_tries, counts)
        touched.append(other)
    return touched, items


def _tell_outage(settings: Settings, engine, source: str, new_gaps: list[datetime], now: datetime) -> str | None:
    """The feed's outage episode brought up to date (opened, continuing, ended, or None): the
    feed is delivering again when nothing older than its newest received hour is unfinished."""
    from pipelines.alerts import deliver, load_routing, operational

    routing = load_routing(settings)
    state = operational.feed_outage(engine, routing, source, new_gaps, ledger.delivering(engine, source, RECEIVED), now)
    if state in ("opened", "ended"):
        deliver(settings, routing)
    return state


def _summaries(outcome) -> list[dict]:
    return [{k: v for k, v in summary.items() if k != "file"} for summary in outcome.summaries]


def collect_inbox(source: str, settings: Settings | None = None, now: datetime | None = None,
                  run_day: date | None = None) -> dict:
    """Ingest every file of ENVMON_INBOX/<source>/ whose content is not in the payload log yet. A
    file that cannot be read is logged as failed with its reason and does not stop the others.
    Then every file the log holds is moved to processed/ or refused/ (pipelines/sources/inbox.py).
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
    resumed = payloads.resume_payloads(settings, source, recompute=False)

    engine = db.engine_for(settings.warehouse_url)
    scanned: dict[Path, str] = {}  # every file read, by its sha256: moved aside once logged and archived

    def new_files():  # read one at a time, as the batches take them
        for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            payload = path.read_bytes()
            scanned[path] = hashlib.sha256(payload).hexdigest()
            if db.payload_status_by_sha(engine, source, scanned[path]) is not None:
                continue
            yield batches.Payload(source, path.name, datetime.fromtimestamp(path.stat().st_mtime, BUREAU_TZ),
                                      origin=str(path), fetched_basis="the file's modification time",
                                      path=path, content=payload)

    outcome = batches.ingest(new_files(), settings, again=True, assess=False)
    failed = [{"file": refused["file"], "error": refused["error"]} for refused in outcome.refused]
    finished = _finish(source, settings, now, _summaries(outcome), resumed, run_day)
    # after the payloads are marked loaded: a crash before leaves the files for the next scan
    from pipelines import storage

    moved = inbox.set_aside(folder, scanned, lambda digest: db.logged_payload(engine, source, digest), now,
                            archived=lambda key: storage.archived_exists(settings, key))   # in the shared archive
    return {**finished, "failed": failed, "inbox": str(folder), "set_aside": moved}
