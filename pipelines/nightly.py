"""The nightly job's steps, one function per DAG task. Each takes the partition day and returns
a small JSON-able summary; batches travel between steps through the warehouse's staged_batches
table (warehouse/staging.py), so any step can be re-run alone and on any worker."""
from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from pipelines import clock
from pipelines.assessment import cross_boundary, daily, rollups
from pipelines.quality import data_docs, qc
from pipelines.reference import registry, standards
from pipelines.config import NIGHTLY_SOURCES, Settings, data_label, load_settings
from pipelines.observations import SOURCE_DOMAINS, bureau_day, conform, with_partition_day
from pipelines.sources import simulator
from pipelines.quality.validation import validate as run_suite
from warehouse import db, staging

def sources_for(settings: Settings) -> tuple[str, ...]:
    return NIGHTLY_SOURCES[settings.source_mode]


def _stage(settings: Settings, source: str, day: date, stage: str, frame: pd.DataFrame, batch: str) -> None:
    staging.put(db.engine_for(settings.warehouse_url), source, day, stage, frame, batch)


def _staged(settings: Settings, source: str, day: date, stage: str, columns=None) -> pd.DataFrame:
    return staging.get(db.engine_for(settings.warehouse_url), source, day, stage, columns)


def _batch_of(frame: pd.DataFrame, source: str, day: date) -> str:
    return frame["batch_id"].iloc[0] if len(frame) else f"{source}/{day.isoformat()}/empty"


def prepare_warehouse(settings: Settings | None = None) -> dict:
    settings = settings or load_settings()
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    with engine.begin() as connection:
        db.sync_reference_tables(connection, registry.all_stations(), standards.parameters())
    return {"warehouse": engine.url.render_as_string(hide_password=True)}


def ingest(source: str, day: date, settings: Settings | None = None) -> dict:
    """The simulator's day of a simulated source, staged for validation. (Real payloads take the
    payload path instead: pipelines.ingest.payloads, from `envmon ingest` or the collection tasks.)"""
    settings = settings or load_settings()
    if source not in simulator.SIMULATORS:
        raise ValueError(f"{source} is not a simulated source; real payloads go through pipelines.ingest.payloads")
    frame = _simulated(source, day, settings)
    _stage(settings, source, day, "ingested", frame, _batch_of(frame, source, day))
    summary = {"source": source, "day": day.isoformat(), "read": len(frame)}  # what the source produced
    redelivered = _redeliveries(source, day, settings)
    return {**summary, "redelivered": redelivered} if redelivered else summary


def _simulated(source: str, day: date, settings: Settings) -> pd.DataFrame:
    """The simulated feed's day as it stands now: fetched by its own night's run it lacks its late
    readings and holds provisional values, which the next night's payload completes and corrects."""
    return conform(simulator.SIMULATORS[source](day, settings.simulator_seed, settings.simulator_faults,
                                                fetched_at=clock.now()))


def _redeliveries(source: str, day: date, settings: Settings) -> list[str]:
    """The day before, where the feed has completed or corrected it since it was loaded: validated,
    loaded again (the partition takes the corrected batch; unlike the payload path, whose merge keeps
    each replaced value in observation_history, a partition load keeps no older version), assessed
    and alerted again."""
    from pipelines import alerts

    earlier = day - timedelta(days=1)
    loaded = db.partition_batch(db.engine_for(settings.warehouse_url), source, earlier)
    frame = _simulated(source, earlier, settings) if loaded else None
    if frame is None or _batch_of(frame, source, earlier) == loaded:
        return []
    _stage(settings, source, earlier, "ingested", frame, _batch_of(frame, source, earlier))
    validate(source, earlier, settings)
    if not load(source, earlier, settings)["changed"]:
        return []
    assess(earlier, settings)
    alerts.after_late_data(settings, [earlier])
    return [earlier.isoformat()]


def validate(source: str, day: date, settings: Settings | None = None) -> dict:
    settings = settings or load_settings()
    if _already_loaded(settings, source, day):   # before reading: a loaded batch's copies are pruned
        read = staging.staged_rows(db.engine_for(settings.warehouse_url), source, day)["ingested"]
        return {"source": source, "day": day.isoformat(), "read": read, "skipped": "batch already loaded"}
    frame = _staged(settings, source, day, "ingested")
    docs = data_docs_dir(settings, day, source)
    outcome = run_suite(frame, SOURCE_DOMAINS[source], docs_dir=docs)
    _share_static_assets(docs, settings.data_docs_dir / "static")
    data_docs.publish(settings, [docs])   # on an object store: this site copied there, from its own folder
    # the day before is context for the series tests at the batch's start (read, never changed)
    context = db.series_context(db.engine_for(settings.warehouse_url), source, day - timedelta(days=1),
                                day - timedelta(days=1))
    batch = _batch_of(frame, source, day)
    _stage(settings, source, day, "valid", qc.apply(outcome.good, context=context), batch)
    _stage(settings, source, day, "quarantined", outcome.quarantined, batch)
    return {"source": source, "day": day.isoformat(), "read": len(frame), "valid": len(outcome.good),
            "quarantined": len(outcome.quarantined), "suite": outcome.suite_name}


# Data Docs live in pipelines/quality/data_docs.py (every validation path writes them, issue 25): the
# nightly's own names kept for its callers
DATA_DOCS_RETENTION_DAYS = data_docs.RETENTION_DAYS
data_docs_dir = data_docs.site_dir
_share_static_assets = data_docs.share_static_assets
write_data_docs_index = data_docs.write_index


def _already_loaded(settings: Settings, source: str, day: date) -> bool:
    """An unchanged re-run touches nothing: the partition was loaded from the batch staged as
    ingested (the batch id is a hash of its content) and its validated stages are of that batch.
    Told from the staged batch ids alone: once loaded, their Parquet copies are pruned."""
    engine = db.engine_for(settings.warehouse_url)
    staged = staging.staged_batch_ids(engine, source, day)
    batch = staged.get("ingested")
    return batch is not None and staged.get("valid") == batch and staged.get("quarantined") == batch and \
        db.partition_batch(engine, source, day) == batch


def load(source: str, day: date, settings: Settings | None = None) -> dict:
    """Load the validated batch into the (source, day) partition, idempotently. Rows read are
    counted on the batch as ingested, before validation and QC decided anything: a row those
    steps lose shows as read ≠ loaded + quarantined in the partition log and the run summary."""
    settings = settings or load_settings()
    engine = db.engine_for(settings.warehouse_url)
    if _already_loaded(settings, source, day):
        counts = staging.staged_rows(engine, source, day)
        staging.prune_loaded(engine, source, day, db.partition_batch(engine, source, day))
        return {"source": source, "day": day.isoformat(), "loaded": counts.get("valid", 0),
                "quarantined": counts.get("quarantined", 0), "changed": False, "skipped": "batch already loaded"}
    good = _staged(settings, source, day, "valid")
    quarantined = _staged(settings, source, day, "quarantined")
    ingested = _staged(settings, source, day, "ingested", columns=["batch_id"])
    outside = good[bureau_day(good["observed_at"], good["averaging_period"]) != day] if len(good) else good
    if len(outside):
        raise ValueError(f"{source} batch for {day} holds {len(outside)} observations of other days")
    good = with_partition_day(good)
    quarantined = quarantined.assign(partition_day=day)
    batch = good["batch_id"].iloc[0] if len(good) else (quarantined["batch_id"].iloc[0] if len(quarantined) else "")
    log_row = {"source": source, "partition_day": day, "domain": SOURCE_DOMAINS[source], "batch_id": batch,
               "rows_read": len(ingested), "rows_loaded": len(good),
               "rows_quarantined": len(quarantined), "suite_name": f"envmon_{SOURCE_DOMAINS[source]}_observations",
               "loaded_at": clock.now()}
    changed = db.load_partition(engine, source, day, good, quarantined, log_row)
    # committed: the batch's staged copies are no longer needed by this run (a re-run of it is told
    # unchanged by their batch ids, kept); a batch staged since by another run is left alone
    staging.prune_loaded(engine, source, day, batch)
    return {"source": source, "day": day.isoformat(), "loaded": len(good), "quarantined": len(quarantined),
            "changed": changed}


def assess(day: date, settings: Settings | None = None) -> dict:
    """The day's rollups and assessments, and its month's, recomputed from what is stored. One
    computation per month at a time: two ingests of a day may finish together, and the month's
    rollups are made from all its days' rollups."""
    settings = settings or load_settings()
    engine = db.engine_for(settings.warehouse_url)
    with db.day_lock(engine, "assess", day.replace(day=1)):
        summary = _assess(engine, day, settings)
    # the HJ 663 statistics of the day's year (year to date; the closed year on its last day), after
    # the day's own assessment and under the year's lock (pipelines.assessment.air_annual)
    from pipelines.assessment import air_annual

    return {**summary, "air_annual": air_annual.refresh_year(engine, day, settings.assessable_flags)}


def _assess(engine, day: date, settings: Settings) -> dict:
    from warehouse import registry_store

    registry_store.use_warehouse_registry(engine)  # a version applied since this worker started is in force
    observations = db.observations_for_day(engine, day)
    _refresh_rollups(engine, observations, day, settings)
    # the flags the bureau chose to assess (default good, not_evaluated); the rest is kept, not used
    observations = observations[observations["qc_flag"].isin(settings.assessable_flags)]
    surface = daily.assess_surface_water_day(observations, day)
    sea = daily.assess_seawater_day(observations, day)
    air = daily.assess_air_day(observations, day)
    db.replace_assessments(engine, "surface_water", day, surface)
    db.replace_assessments(engine, "seawater", day, sea)
    db.replace_assessments(engine, "air", day, air)
    month_start = day.replace(day=1)
    monthly = cross_boundary.month_to_date_rows(db.rollups_for(engine, "month", month_start), month_start)
    db.replace_assessments(engine, "surface_water", month_start, monthly, period="month")
    failures = [a for a in surface + sea if a["is_cross_boundary"] and a["is_compliant"] is False]
    classed = ("assessed", "target unset")   # a class, with or without a target (pipelines/cli/summary.py)
    return {"day": day.isoformat(), "sections_assessed": sum(a["status"] in classed for a in surface),
            "points_assessed": sum(a["status"] in classed for a in sea),
            "air_stations_assessed": sum(a["status"] == "assessed" for a in air),
            "cross_boundary_failures": len(failures)}


def _refresh_rollups(engine, observations: pd.DataFrame, day: date, settings: Settings) -> None:
    """The day's rollups, then its month's, from the daily ones (only what this day changed)."""
    db.replace_rollups(engine, "day", day, rollups.daily(observations, day, settings.assessable_flags))
    month_start = day.replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    days = db.daily_rollups_between(engine, month_start, month_end)
    db.replace_rollups(engine, "month", month_start, rollups.monthly(days, month_start))


def alert(day: date, settings: Settings | None = None) -> dict:
    """The alert step (pipelines/alerts): episodes from the stored assessments, notices of new
    state changes only, escalations, operational checks, then delivery of what is due."""
    from pipelines import alerts

    settings = settings or load_settings()
    return alerts.run(settings, [day], data_label(settings))


def refresh_dashboard(settings: Settings | None = None) -> dict:
    from dashboards.report import write_report

    settings = settings or load_settings()
    docs = write_data_docs_index(settings)
    path = write_report(db.engine_for(settings.dashboard_url), settings.dashboard_dir, data_label(settings),
                        data_docs=docs)
    return {"dashboard": str(path), "data_docs": str(docs)}

