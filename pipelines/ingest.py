"""Ingesting one payload of a real source: archive it as received, log it, parse, validate and
merge it into the warehouse (a later value wins, the old one kept in history), keep what the
publisher reported, advance the source's watermark and recompute the days it touched."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from pipelines import nightly
from pipelines.quality import qc
from pipelines.config import Settings
from pipelines.quality.published import compare_published
from pipelines.observations import BUREAU_TZ, SOURCE_DOMAINS, bureau_day, with_partition_day
from pipelines.sources import files
from pipelines.quality.validation import validate
from warehouse import db


def archive(settings: Settings, source: str, payload: bytes, name: str, received_at: datetime) -> tuple[str, Path]:
    digest = hashlib.sha256(payload).hexdigest()
    folder = settings.home / "archive" / source / f"{received_at:%Y}" / f"{received_at:%m}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest[:16]}-{Path(name).name}"
    if not path.exists():
        path.write_bytes(payload)
    return digest, path


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
                   origin: str | None = None, payload_id: int | None = None, recompute: bool = True) -> dict:
    """Everything that happens to one payload; the summary has the shape of `envmon run --json`
    plus out_of_scope, and read = loaded + quarantined + out_of_scope."""
    nightly.prepare_warehouse(settings)
    engine = db.engine_for(settings.warehouse_url)
    received = datetime.now(timezone.utc)
    digest, path = archive(settings, source, payload, name, received)
    if payload_id is None:
        payload_id = db.insert_payload(engine, {
            "source": source, "received_at": received, "fetched_at": fetched_at, "sha256": digest,
            "size_bytes": len(payload), "archive_path": str(path), "origin": origin or name, "status": "received"})
    try:
        parsed = files.parse_payload(source, payload, name, fetched_at)
    except files.PayloadError as error:
        db.update_payload(engine, payload_id, status="failed", error=str(error))
        raise
    except Exception as error:  # a parser fault on input it did not foresee: refused, logged, not a crash
        reason = f"unreadable {source} payload {name!r}: {type(error).__name__}: {error}"
        db.update_payload(engine, payload_id, status="failed", error=reason)
        raise files.PayloadError(reason) from error
    outcome = validate(parsed.observations, SOURCE_DOMAINS[source])
    batch = parsed.observations["batch_id"].iloc[0] if len(parsed.observations) else f"{source}/empty"
    good = with_partition_day(qc.apply(outcome.good, context=_qc_context(engine, source, outcome.good)))
    bad = outcome.quarantined.copy()
    fallback_day = fetched_at.astimezone(BUREAU_TZ).date()
    if len(bad):
        valid_time = bad["observed_at"].notna()
        bad["partition_day"] = fallback_day
        bad.loc[valid_time, "partition_day"] = bureau_day(bad.loc[valid_time, "observed_at"],
                                                          bad.loc[valid_time, "averaging_period"])
    else:
        bad["partition_day"] = []
    days = sorted(set(good["partition_day"]) | set(bad["partition_day"]))
    counts = {"new": 0, "revised": 0, "unchanged": 0}
    for day in days:
        merged = db.merge_partition(engine, source, day, good[good["partition_day"] == day],
                                    bad[bad["partition_day"] == day], batch, payload_id, outcome.suite_name,
                                    SOURCE_DOMAINS[source])
        counts = {k: counts[k] + merged[k] for k in counts}
    checked = compare_published(parsed.published, parsed.observations)
    db.upsert_published_results(engine, checked, payload_id)
    disagreements = 0 if checked is None or checked.empty else int((checked["agrees"] == False).sum())  # noqa: E712
    if len(good):
        db.advance_watermark(engine, source, good["observed_at"].max().to_pydatetime())
    for day in days if recompute else ():
        nightly.assess(day, settings)  # late or revised data: the day's assessments are recomputed
    read = len(parsed.observations) + parsed.out_of_scope
    db.update_payload(engine, payload_id, status="loaded", error=None, rows_read=read, rows_loaded=len(outcome.good),
                      rows_quarantined=len(outcome.quarantined), rows_out_of_scope=parsed.out_of_scope)
    return {"sources": {source: {"domain": SOURCE_DOMAINS[source], "read": read, "loaded": len(outcome.good),
                                 "quarantined": len(outcome.quarantined), "out_of_scope": parsed.out_of_scope,
                                 "revised": counts["revised"], "published_disagreements": disagreements}},
            "payload_id": payload_id, "sha256": digest, "archive": str(path), "days": [d.isoformat() for d in days]}


def ingest_file(source: str, path: Path, fetched_at: datetime, settings: Settings) -> dict:
    path = Path(path)
    return ingest_payload(source, path.read_bytes(), path.name, fetched_at, settings, origin=str(path))


def reingest(payload_id: int, settings: Settings) -> dict:
    """Run a logged payload again from the archive, as received."""
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    row = db.get_payload(engine, payload_id)
    if row is None:
        raise KeyError(f"no payload {payload_id} in the ingest log")
    archived = Path(row["archive_path"])
    name = archived.name.split("-", 1)[1] if "-" in archived.name else archived.name
    return ingest_payload(row["source"], archived.read_bytes(), name, row["fetched_at"], settings,
                          origin=row["origin"], payload_id=payload_id)
