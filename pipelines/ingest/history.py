"""A bureau's archive backfilled in chunks of days: the simulated history of every registry section
and station, validated, quality-controlled, loaded, rolled up and assessed, with the same rules and
the same warehouse rows as running the nightly steps (pipelines/nightly.py) day after day.

The nightly steps are made for one day: each validates a (source, day) batch, loads it in its own
transaction and re-reads the day to assess it. For years of history that is hours of fixed costs,
so here every step takes a chunk of days (at most a calendar month) at once:

- simulate each source's days and validate them as one batch (Great Expectations, then the
  duplicate test); every expectation is a row test and a key holds a time, so a chunk's batch
  splits exactly as its days would. Simulation and validation need nothing from the warehouse and
  run in worker processes, a few chunks ahead.
- QC each day against the day before (qc.apply with that day as context, as nightly.validate does
  with the stored day): one call per chunk, in which each day is a series batch of its own.
- load every (source, day) partition that holds nothing yet by one COPY per chunk
  (warehouse/bulk.py); a partition already loaded goes through db.load_partition, which writes
  only what differs.
- roll up and assess the chunk's days from the frames in memory, with the nightly rule functions
  (rollups.daily, daily.assess_surface_water_days / assess_seawater_days / assess_air_days,
  the archive path's many-day functions): the day-keyed
  functions are handed a station-and-day key, so one call settles every day of the chunk; the
  month's rollups and month-to-date cross-boundary rows come from the stored daily rollups as
  nightly.assess makes them.

Chunks never cross a month, so a month's rollups are made once its days are in. Worker processes
start by forkserver: a script that calls backfill() with workers needs the `if __name__ ==
"__main__"` guard.

Not done here: no Great Expectations Data Docs per day (optionally one site per chunk and source),
no staged batches (a later nightly run of such a day validates it again and, the batch being the
same, its load changes nothing), and no alerts (eight years of e-mails help nobody).
Memory is bounded by the chunk (a month: about 180,000 observations), not by the range.
"""
from __future__ import annotations

import time
from collections import defaultdict, deque
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.clock import now as clock_now  # (`clock` names the stage stopwatches here)
from pipelines.assessment import cross_boundary, daily, rollups
from pipelines.quality import qc
from pipelines.config import Settings, load_settings
from pipelines.observations import ALL_COLUMNS, SOURCE_DOMAINS, bureau_day, conform, lookup
from pipelines.sources import simulator


SIMULATED_SOURCES = tuple(simulator.SIMULATORS)
STAGES = ("simulate", "validate", "qc", "load", "assess_rollups")
# Between a station id and its day in the keys handed to the one-day rule functions; never in an id.
DAY_KEY_SEPARATOR = "\x1f"


class Stopwatch:
    """Wall-clock and CPU seconds per stage. Under contention (worker processes, other users of
    the machine) the wall seconds of a stage grow while its CPU seconds stay what it costs."""

    def __init__(self):
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] += time.perf_counter() - wall
            self.cpu[name] += time.process_time() - cpu

    def add(self, wall: dict[str, float], cpu: dict[str, float]) -> None:
        for name, seconds in wall.items():
            self.wall[name] += seconds
        for name, seconds in cpu.items():
            self.cpu[name] += seconds


# --- chunks of days ---------------------------------------------------------------------------

def chunks(first: date, last: date, max_days: int = 31) -> list[list[date]]:
    """The days from `first` to `last`, in runs that never cross a month (so a month's rollups are
    made once its chunk is in) and hold at most `max_days`."""
    out: list[list[date]] = []
    day = first
    while day <= last:
        if not out or day.day == 1 or len(out[-1]) >= max_days:
            out.append([])
        out[-1].append(day)
        day += timedelta(days=1)
    return out


@dataclass
class SourceBatch:
    """One source's chunk after validation: the rows of every day, and each day's batch id."""
    source: str
    days: list[date]
    batch_ids: dict[date, str]
    good: pd.DataFrame           # validated, before QC
    quarantined: pd.DataFrame    # canonical columns, expectation, reason
    seconds: dict[str, float] = field(default_factory=dict)       # wall clock, per stage
    cpu_seconds: dict[str, float] = field(default_factory=dict)   # this process's CPU time, per stage
    peak_rss_mb: float = 0.0     # of the process that made it
    docs: Path | None = None     # its Data Docs site, where one was built


def _conformed(frame: pd.DataFrame) -> pd.DataFrame:
    canonical = tuple(frame.columns) == ALL_COLUMNS and frame.index.equals(pd.RangeIndex(len(frame)))
    return frame if canonical and str(frame["observed_at"].dtype) == "datetime64[us, UTC]" else conform(frame)


def simulate_and_validate(days: list[date], seed: int, sources=SIMULATED_SOURCES,
                          docs_root: Path | None = None, faults: tuple[str, ...] | None = None) -> list[SourceBatch]:
    """Each source's simulated days (as nightly.ingest makes them) validated as one batch. Pure:
    runs in a worker process. With `docs_root`, one Data Docs site per source for the chunk."""
    import resource

    from pipelines.quality.validation import _context, build_data_docs, validate

    out = []
    for source in sources:
        clock = Stopwatch()
        with clock.stage("simulate"):
            # nightly.ingest conforms the simulator's frame; the simulator has done so already
            # (simulator._finish), and a second pass, a no-op, costs about a tenth of this stage
            # the days complete (an archive holds them as the feed has them now) with the settings' faults
            frames = [_conformed(simulator.SIMULATORS[source](day, seed, faults)) for day in days]
        batch_ids = {day: (frame["batch_id"].iloc[0] if len(frame) else f"{source}/{day.isoformat()}/empty")
                     for day, frame in zip(days, frames)}
        with clock.stage("validate"):
            outcome = validate(pd.concat(frames, ignore_index=True), SOURCE_DOMAINS[source])
            docs = None if docs_root is None else docs_root / days[0].isoformat() / source
            if docs is not None:  # one site per source and chunk, filed under the chunk's first day
                build_data_docs(docs)
            else:
                # The context keeps every validation result for Data Docs; none are built, so let go.
                store = _context().validation_results_store
                for key in store.list_keys():
                    store.remove_key(key)
        out.append(SourceBatch(source, days, batch_ids, outcome.good, outcome.quarantined, dict(clock.wall),
                               dict(clock.cpu), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, docs))
    return out


# --- QC with the day before as context --------------------------------------------------------

def _tag_layer(frame: pd.DataFrame, tags: pd.Series | str) -> pd.DataFrame:
    layer = frame["layer"] if "layer" in frame else pd.Series("", index=frame.index)
    return frame.assign(layer=layer.astype(str) + DAY_KEY_SEPARATOR + tags)


def quality_control(good: pd.DataFrame, days: list[date], day_of_row: pd.Series,
                    context_before: pd.DataFrame | None) -> pd.DataFrame:
    """qc.apply for each day of a chunk with the day before as its context, exactly as nightly
    validates day by day, in one call: the layer (part of qc's series key) is tagged with the day,
    so each day's rows form series of their own, and the day before's rows are its context.
    `context_before`: the stored rows of the chunk's first day before."""
    if good.empty:
        return good
    tags = day_of_row.map(date.isoformat)
    pieces = []
    if context_before is not None and len(context_before):
        pieces.append(_tag_layer(context_before, days[0].isoformat()))
    following = {day: (day + timedelta(days=1)).isoformat() for day in days}
    context_rows = day_of_row != days[-1]  # every day but the last is the next one's context
    pieces.append(_tag_layer(good[context_rows], day_of_row[context_rows].map(following)))
    context = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
    checked = qc.apply(_tag_layer(good, tags), context=context)
    return checked.assign(layer=good["layer"])


# --- rollups and assessments of many days with the one-day rules ------------------------------

def _day_keyed(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with station_id replaced by station and day: a rule that groups by station then
    groups by station and day."""
    days = lookup(frame["partition_day"], date.isoformat)
    return frame.assign(station_id=frame["station_id"].astype(str) + DAY_KEY_SEPARATOR + days)


def _split_keys(keys: pd.Series) -> tuple[pd.Series, pd.Series]:
    codes, distinct = pd.factorize(keys)
    parts = [key.split(DAY_KEY_SEPARATOR) for key in distinct]
    stations = np.array([p[0] for p in parts] + [None], dtype=object)
    days = np.array([date.fromisoformat(p[1]) for p in parts] + [None], dtype=object)
    return pd.Series(stations[codes], index=keys.index), pd.Series(days[codes], index=keys.index)


def daily_rollups(observations: pd.DataFrame, assessable) -> pd.DataFrame:
    """rollups.daily of every day in `observations` (with partition_day), in one call."""
    if observations.empty:
        return pd.DataFrame(columns=rollups.COLUMNS)
    out = rollups.daily(_day_keyed(observations), date.min, assessable)
    if out.empty:
        return pd.DataFrame(columns=rollups.COLUMNS)
    stations, days = _split_keys(out["station_id"])
    return out.assign(station_id=stations, period_start=days)[rollups.COLUMNS]


# --- the backfill -----------------------------------------------------------------------------

@dataclass
class Progress:
    days: int = 0
    observations: int = 0
    quarantined: int = 0
    partitions_written: int = 0
    partitions_unchanged: int = 0
    worker_peak_rss_mb: float = 0.0
    clock: Stopwatch = field(default_factory=lambda: Stopwatch())


def _stored_context(engine, source: str, day: date) -> pd.DataFrame:
    from warehouse import db

    return db.series_context(engine, source, day, day)


def _load(engine, batches: list[SourceBatch], checked: dict[str, pd.DataFrame],
          progress: Progress) -> list[pd.DataFrame]:
    """Every (source, day) partition of the chunk, as nightly.load would leave it. Returns each
    source's loaded rows, with source and partition_day."""
    from warehouse import bulk, db

    loaded_at = clock_now()
    goods, held, log_rows, parts = [], [], [], {}
    for batch in batches:
        good = checked[batch.source]
        good_days = bureau_day(good["observed_at"], good["averaging_period"]) if len(good) else pd.Series(dtype=object)
        batch_day = good["batch_id"].map({b: d for d, b in batch.batch_ids.items()})
        if (good_days != batch_day).any():
            raise ValueError(f"{batch.source} batch for {batch.days[0]}..{batch.days[-1]} holds observations of "
                             f"other days than their batch's")
        good = good.assign(source=batch.source, partition_day=good_days)
        quarantined = batch.quarantined.assign(
            partition_day=batch.quarantined["batch_id"].map({b: d for d, b in batch.batch_ids.items()}))
        goods.append(good)
        held.append(quarantined)
        good_by_day = dict(tuple(good.groupby("partition_day", sort=False))) if len(good) else {}
        held_by_day = dict(tuple(quarantined.groupby("partition_day", sort=False))) if len(quarantined) else {}
        for day in batch.days:
            good_day = good_by_day.get(day, good.iloc[:0])
            held_day = held_by_day.get(day, quarantined.iloc[:0])
            batch_id = good_day["batch_id"].iloc[0] if len(good_day) else \
                (held_day["batch_id"].iloc[0] if len(held_day) else "")
            domain = SOURCE_DOMAINS[batch.source]
            row = {"source": batch.source, "partition_day": day, "domain": domain, "batch_id": batch_id,
                   "rows_read": len(good_day) + len(held_day), "rows_loaded": len(good_day),
                   "rows_quarantined": len(held_day), "suite_name": f"envmon_{domain}_observations",
                   "loaded_at": loaded_at}
            log_rows.append(row)
            parts[(batch.source, day)] = (good_day, held_day, row)
    existing = bulk.load_new_partitions(engine, pd.concat(goods, ignore_index=True),
                                        pd.concat(held, ignore_index=True), log_rows)
    progress.partitions_written += len(log_rows) - len(existing)
    unchanged = bulk.unchanged_partitions(engine, {key: parts[key] for key in existing})
    progress.partitions_unchanged += len(unchanged)
    for source, day in sorted(existing - unchanged):  # loaded before from other rows: the upsert
        good_day, held_day, row = parts[(source, day)]
        if db.load_partition(engine, source, day, good_day, held_day, row):
            progress.partitions_written += 1
        else:
            progress.partitions_unchanged += 1
    return goods


def _assess(engine, days: list[date], observations: pd.DataFrame, settings: Settings) -> None:
    """Rollups and assessments of the chunk's days (and their months), as nightly.assess leaves them."""
    from warehouse import bulk, db

    day_rollups = daily_rollups(observations, settings.assessable_flags)
    existing = bulk.insert_new_rollups(engine, "day", day_rollups, days)
    for day in sorted(existing):
        db.replace_rollups(engine, "day", day, day_rollups[day_rollups["period_start"] == day].reset_index(drop=True))
    assessable = observations[observations["qc_flag"].isin(settings.assessable_flags)]
    rows = {"surface_water": daily.assess_surface_water_days(assessable, days),
            "seawater": daily.assess_seawater_days(assessable, days),
            "air": daily.assess_air_days(assessable, days)}
    everything = [row for domain_rows in rows.values() for row in domain_rows]
    existing = bulk.insert_new_assessments(engine, everything, [(domain, day) for domain in rows for day in days])
    for domain, day in sorted(existing):
        db.replace_assessments(engine, domain, day, [row for row in rows[domain] if row["period_start"] == day])
    for month_start in sorted({day.replace(day=1) for day in days}):
        month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        days_of_month = db.daily_rollups_between(engine, month_start, month_end)
        db.replace_rollups(engine, "month", month_start, rollups.monthly(days_of_month, month_start))
        monthly = cross_boundary.month_to_date_rows(db.rollups_for(engine, "month", month_start), month_start)
        db.replace_assessments(engine, "surface_water", month_start, monthly, period="month")


def _process_chunk(engine, batches: list[SourceBatch], context: dict[str, pd.DataFrame], settings: Settings,
                   progress: Progress) -> dict[str, pd.DataFrame]:
    """QC, load, roll up and assess one validated chunk; returns each source's last day as the next
    chunk's QC context."""
    from warehouse import bulk, db

    days = batches[0].days
    clock = progress.clock
    checked, following = {}, {}
    with clock.stage("qc"):
        for batch in batches:
            day_of_row = batch.good["batch_id"].map({b: d for d, b in batch.batch_ids.items()})
            checked[batch.source] = quality_control(batch.good, days, day_of_row, context.get(batch.source))
            following[batch.source] = batch.good[day_of_row == days[-1]].reset_index(drop=True)
    with clock.stage("load"):
        loaded = _load(engine, batches, checked, progress)
    # the month's computation lock nightly.assess holds: the stored rows read here (other sources'
    # observations, the month's daily rollups) are not changed by another assessment meanwhile
    with clock.stage("assess_rollups"), db.day_lock(engine, "assess", days[0].replace(day=1)):
        others = bulk.observations_between(engine, days[0], days[-1], excluded_sources=[b.source for b in batches])
        frames = [frame for frame in loaded if len(frame)] + ([others] if len(others) else [])
        observations = pd.concat(frames, ignore_index=True) if frames else loaded[0]
        _assess(engine, days, observations, settings)
    for batch in batches:
        clock.add(batch.seconds, batch.cpu_seconds)
        if batch.docs is not None:  # here, not in the workers: one process at a time moves the shared copy
            from pipelines.nightly import _share_static_assets

            _share_static_assets(batch.docs, settings.data_docs_dir / "static")
    progress.days += len(days)
    progress.observations += sum(len(frame) for frame in checked.values())
    progress.quarantined += sum(len(b.quarantined) for b in batches)
    progress.worker_peak_rss_mb = max([progress.worker_peak_rss_mb] + [b.peak_rss_mb for b in batches])
    return following


def backfill(first: date, last: date, settings: Settings | None = None, workers: int = 2,
             chunk_days: int = 31, data_docs: bool = False, on_chunk=None) -> dict:
    """Backfill the simulated sources from day `first` to `last`, chunk by chunk, in day order.
    `workers` processes simulate and validate chunks ahead (0: all in this process). The
    warehouse is migrated and its reference tables synced first (nightly.prepare_warehouse).
    Returns a summary: days, observations loaded, quarantined, partitions written and unchanged,
    seconds per stage (simulate and validate summed over the workers) and wall seconds."""
    from pipelines import nightly
    from warehouse import db

    settings = settings or load_settings()
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    wall = time.perf_counter()
    progress = Progress()
    nightly.prepare_warehouse(settings)
    engine = db.engine_for(settings.warehouse_url)
    # the stored day before the range: context for its first day's series tests (read, never changed)
    context = {source: _stored_context(engine, source, first - timedelta(days=1)) for source in SIMULATED_SOURCES}
    runs = chunks(first, last, chunk_days)
    # the shared storage's data_docs/, or (an object store) this run's own temporary folder, published at the end
    if data_docs:
        from pipelines.quality.data_docs import building_root

        docs_root = building_root(settings)
    else:
        docs_root = None
    arguments = [(days, settings.simulator_seed, SIMULATED_SOURCES, docs_root, settings.simulator_faults)
                 for days in runs]
    waited = 0.0
    if workers <= 0:
        for args in arguments:
            context = _process_chunk(engine, simulate_and_validate(*args), context, settings, progress)
            if on_chunk:
                on_chunk(progress)
    else:
        import multiprocessing

        # forkserver: workers start clean, without this process's warehouse connections
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            queue = iter(arguments)
            # a few chunks ahead, no more: memory follows the chunk, not the range
            pending = deque(pool.submit(simulate_and_validate, *args) for args in islice(queue, workers + 1))
            while pending:
                started = time.perf_counter()
                batches = pending.popleft().result()
                waited += time.perf_counter() - started
                for args in islice(queue, 1):
                    pending.append(pool.submit(simulate_and_validate, *args))
                context = _process_chunk(engine, batches, context, settings, progress)
                if on_chunk:
                    on_chunk(progress)
    if docs_root is not None:   # the index; on an object store the sites are copied to it (pipelines/quality/data_docs.py)
        from pipelines.quality.data_docs import publish_built

        publish_built(settings, docs_root)
    from pipelines.assessment import air_annual  # the HJ 663 statistics of the years backfilled, once per year

    # every backfilled day changed: its stored daily values (air_station_days) are computed again
    annual = air_annual.refresh_years(engine, [first + timedelta(days=n) for n in range((last - first).days + 1)],
                                      settings.assessable_flags)
    return {"from": first.isoformat(), "to": last.isoformat(), "days": progress.days, "air_annual": annual,
            "observations": progress.observations, "quarantined": progress.quarantined,
            "partitions_written": progress.partitions_written, "partitions_unchanged": progress.partitions_unchanged,
            "seconds": {stage: round(progress.clock.wall.get(stage, 0.0), 2) for stage in STAGES},
            "cpu_seconds": {stage: round(progress.clock.cpu.get(stage, 0.0), 2) for stage in STAGES},
            "waiting_for_workers_seconds": round(waited, 2), "workers": workers,
            "worker_peak_rss_mb": round(progress.worker_peak_rss_mb, 1),
            "wall_seconds": round(time.perf_counter() - wall, 2)}
