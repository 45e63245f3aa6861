"""Producing the documents: on demand (`envmon bulletin`, `envmon assessment-report`) and by the
monthly DAG (dags/envmon_monthly.py), which issues last month's bulletin and last year's assessment
and issues them again when the data they read have changed since.

A document produced to its default place, ENVMON_HOME/reports/{bulletins/YYYY-MM|assessments/YYYY}/,
is written in every format with a manifest.json beside it: its fingerprint (the partitions read,
each with the batch it was last loaded from, the QC flags assessed, the rule tables and the code), the
batches and payloads its values came from, and each file's SHA-256. A later issue moves the
earlier files to superseded/ in that folder: what was sent stays."""
from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

from pipelines import clock
from pipelines.config import Settings, load_settings
from pipelines.reports import annual, bulletin, render_html, render_pdf, render_xlsx
from pipelines.reports.document import Document, fingerprint
from pipelines.reports.reading import Month, WarehouseReader, months_of, partitions_of
from warehouse import db

FORMATS = ("xlsx", "html", "pdf")
RENDERERS = {"xlsx": render_xlsx.render, "html": lambda d: render_html.render(d).encode("utf-8"),
             "pdf": render_pdf.render}
KINDS = {"bulletin": "bulletins", "assessment": "assessments"}
RECHECKED_MONTHS = 3   # the monthly DAG issues a bulletin again when late data change it, up to this many months back


def last_month(today: date | None = None) -> Month:
    return Month.of(today or clock.today()).previous()


def last_year(today: date | None = None) -> int:
    return (today or clock.today()).year - 1


def _reader(settings: Settings) -> WarehouseReader:
    return WarehouseReader(db.engine_for(settings.warehouse_url), settings.assessable_flags)


def build_bulletin(month: Month, city: str | None = None, settings: Settings | None = None) -> Document:
    settings = settings or load_settings()
    return bulletin.build(_reader(settings), month, city)


def build_assessment(year: int, city: str | None = None, settings: Settings | None = None) -> Document:
    settings = settings or load_settings()
    return annual.build(_reader(settings), year, city)


def folder(settings: Settings, kind: str, period: str) -> Path:
    return settings.home / "reports" / KINDS[kind] / period


def file_name(kind: str, period: str, city: str | None, fmt: str) -> str:
    return f"envmon-{kind}-{period}{'-' + city if city else ''}.{fmt}"


def render(document: Document, fmt: str) -> bytes:
    return RENDERERS[fmt](document)


def write(document: Document, formats, settings: Settings, city: str | None = None, out: Path | None = None) -> dict:
    """Write the document in `formats`: to `out` (one format), or to its default folder with its
    manifest, moving an earlier issue with another fingerprint to superseded/. Returns the manifest."""
    files = {}
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        (fmt,) = formats
        out.write_bytes(render(document, fmt))
        files[fmt] = out
        return manifest(document, files)
    target = folder(settings, document.kind, document.period_label)
    manifest_path = _manifest_path(settings, document.kind, document.period_label, city)
    previous = read_manifest(settings, document.kind, document.period_label, city)
    if previous and previous["fingerprint"] != document.fingerprint:
        _supersede(target, previous, manifest_path)
    target.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        path = target / file_name(document.kind, document.period_label, city, fmt)
        path.write_bytes(render(document, fmt))
        files[fmt] = path
    record = manifest(document, files)
    if previous and previous["fingerprint"] == document.fingerprint:
        record["files"] = {**previous.get("files", {}), **record["files"]}
    manifest_path.write_text(json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    return record


def manifest(document: Document, files: dict) -> dict:
    lineage = document.lineage
    batches = lineage["batches"].astype(object).where(lineage["batches"].notna(), None)
    return {
        "kind": document.kind, "title": document.title, "period": document.period_label, "scope": document.scope,
        "fingerprint": document.fingerprint, "stamp": document.stamp.isoformat(),
        "files": {fmt: {"path": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
                        "bytes": Path(path).stat().st_size} for fmt, path in files.items()},
        "partitions": len(lineage["partitions"]),
        "batches": [{k: (str(v) if isinstance(v, date) else int(v) if k in ("payload_id", "rows") and v is not None
                     else v) for k, v in row.items()} for row in batches.to_dict(orient="records")],
        "payloads": [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
                     for row in lineage["payloads"].astype(object).to_dict(orient="records")],
    }


def _manifest_path(settings: Settings, kind: str, period: str, city: str | None) -> Path:
    return folder(settings, kind, period) / (f"manifest-{city}.json" if city else "manifest.json")


def read_manifest(settings: Settings, kind: str, period: str, city: str | None = None) -> dict | None:
    path = _manifest_path(settings, kind, period, city)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _supersede(target: Path, previous: dict, manifest_path: Path) -> None:
    archive = target / "superseded" / f"{previous['stamp'][:19].replace(':', '')}-{previous['fingerprint'][:12]}"
    archive.mkdir(parents=True, exist_ok=True)
    for entry in previous.get("files", {}).values():
        # the file beside its manifest, not the absolute path recorded: a restored ENVMON_HOME may
        # lie elsewhere than the one that issued it (pipelines/operations/backup.py)
        path = target / Path(entry["path"]).name
        if path.exists():
            shutil.move(str(path), archive / path.name)
    if manifest_path.exists():
        shutil.move(str(manifest_path), archive / manifest_path.name)


# --- the monthly DAG --------------------------------------------------------------------------

def current_fingerprint(settings: Settings, kind: str, period: str) -> tuple[str, int]:
    """(fingerprint, partitions of the period itself) of the document the warehouse would give now,
    from the partition log alone (no observation is read)."""
    engine = db.engine_for(settings.warehouse_url)
    if kind == "bulletin":
        month = Month.parse(period)
        reads, own = bulletin.reads(month), [month]
    else:
        reads, own = annual.reads(int(period)), months_of(int(period))
    partitions = partitions_of(engine, reads)
    in_period = sum(len(db.partition_log_between(engine, m.first, m.last)) for m in own)
    return fingerprint(kind, "全部城市", period, partitions, settings.assessable_flags), in_period


def refresh(kind: str, period: str, settings: Settings) -> str:
    """Issue the document if it has not been, or again if what it reads has changed since."""
    current, in_period = current_fingerprint(settings, kind, period)
    if in_period == 0:
        return "no data"
    previous = read_manifest(settings, kind, period)
    if previous and previous["fingerprint"] == current and set(FORMATS) <= set(previous.get("files", {})):
        return "unchanged"
    document = (build_bulletin(Month.parse(period), settings=settings) if kind == "bulletin"
                else build_assessment(int(period), settings=settings))
    write(document, FORMATS, settings)
    return "reissued" if previous else "issued"


def refresh_bulletins(today: date, settings: Settings | None = None) -> dict:
    """Last month's bulletin, and those of the months before it (RECHECKED_MONTHS) that have one."""
    settings = settings or load_settings()
    month = last_month(today)
    outcome = {month.label: refresh("bulletin", month.label, settings)}
    for _ in range(RECHECKED_MONTHS):
        month = month.previous()
        if read_manifest(settings, "bulletin", month.label):
            outcome[month.label] = refresh("bulletin", month.label, settings)
    return outcome


def refresh_assessment(today: date, settings: Settings | None = None) -> dict:
    settings = settings or load_settings()
    year = str(last_year(today))
    return {year: refresh("assessment", year, settings)}
