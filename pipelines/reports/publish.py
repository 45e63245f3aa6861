"""Producing the documents: on demand (`envmon bulletin`, `envmon assessment-report`) and by the
monthly DAG (dags/envmon_monthly.py), which issues last month's bulletin and last year's assessment
and issues them again when the data they read have changed since.

A document produced to its default place, ENVMON_HOME/reports/{bulletins/YYYY-MM|assessments/YYYY}/,
is an issue (pipelines/reports/issues.py): numbered (bulletin-2026-11-nanning-r2, 南宁市2026年第11期
（第2版）), written in every format with a manifest.json beside it: its fingerprint (the data it read,
the rule rows and registry rows of its months, the QC flags assessed: document.inputs), the data
version and the rows themselves kept for a rebuild, envmon's, the rules', the registry's, the
libraries' and the fonts' versions, the batches and payloads its values came from, each table's
rows, and each file's SHA-256. A later issue (the next revision) moves the earlier files to
superseded/ in that folder, what was sent stays, and is announced to the document's recipients
with what changed."""
from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

from pipelines import clock, config
from pipelines.config import Settings, load_settings
from pipelines.reports import annual, bulletin, issues, national, render_html, render_pdf, render_xlsx
from pipelines.reports.document import Document, registry_digest, report_days, rules_digest
from pipelines.reports.reading import Month, WarehouseReader, months_of
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


def reader_for(settings: Settings) -> WarehouseReader:
    """A reader of the warehouse, with the warehouse's registry version in force (whoever applied it)."""
    from warehouse import registry_store

    engine = db.engine_for(settings.warehouse_url)
    registry_store.use_warehouse_registry(engine)
    return WarehouseReader(engine, settings.assessable_flags)


def build_bulletin(month: Month, city: str | None = None, settings: Settings | None = None,
                   reader: WarehouseReader | None = None, province: str | None = None) -> Document:
    """`province`: at national scope, one province's (pipelines/reports/national.py)."""
    settings = settings or load_settings()
    return bulletin_document(reader or reader_for(settings), month, city, province)


def bulletin_document(reader: WarehouseReader, month: Month, city: str | None = None, province: str | None = None,
                      scope: str | None = None) -> Document:
    """The bulletin at `scope` (ENVMON_SCOPE's now, or the one an issue was made at: issues.rebuild):
    at national scope (issue 27) the country's is the summary by province and one province's the
    cluster's tables for its sections (pipelines/reports/national.py); a city's, and the cluster's
    at beibu scope, bulletin.build's."""
    if province is not None or (city is None and (scope or config.scope()) == "national"):
        return national.build(reader, month, province)
    return bulletin.build(reader, month, city)


def build_assessment(year: int, city: str | None = None, settings: Settings | None = None,
                     reader: WarehouseReader | None = None) -> Document:
    settings = settings or load_settings()
    return annual.build(reader or reader_for(settings), year, city)


def folder(settings: Settings, kind: str, period: str):
    """The issue's folder in the shared storage (pipelines/storage.py: ENVMON_HOME/reports by
    default): a pathlib.Path, or a UPath on an object store."""
    from pipelines import storage

    return storage.reports_root(settings) / KINDS[kind] / period


def file_name(kind: str, period: str, city: str | None, fmt: str) -> str:
    return f"envmon-{kind}-{period}{'-' + city if city else ''}.{fmt}"


def render(document: Document, fmt: str) -> bytes:
    return RENDERERS[fmt](document)


def write(document: Document, formats, settings: Settings, city: str | None = None, out: Path | None = None,
          reader: WarehouseReader | None = None) -> dict:
    """Write the document in `formats`: to `out` (one format, not an issue), or to its default folder
    as an issue with its manifest: the same fingerprint as the last issue, the same revision (files
    written again); another, the next revision, the earlier issue moved to superseded/ and the
    re-issue announced. `reader`: the reader the document was made with, whose rows the issue keeps
    (bulletins). Returns the manifest."""
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
    same = bool(previous) and previous["fingerprint"] == document.fingerprint
    issue = _issue_of(document, city, previous, same)
    issues.with_issue_header(document, issue["id"], issue["number"])
    if previous and not same:
        _supersede(target, previous, manifest_path)
    target.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        path = target / file_name(document.kind, document.period_label, city, fmt)
        path.write_bytes(render(document, fmt))
        files[fmt] = path
    record = {**manifest(document, files), "issue": issue, **_issue_record(document, settings, reader)}
    if same:   # the rows it was issued with, as of then
        record["files"] = {**previous.get("files", {}), **record["files"]}
        for name in ("snapshot", "data_as_of"):
            record[name] = previous.get(name, record.get(name))
    from pipelines import storage

    storage.write_atomic(manifest_path, json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8"))
    if previous and not same:
        issues.announce_reissue(settings, record, previous, city)
    return record


def _issue_of(document: Document, city: str | None, previous: dict | None, same: bool) -> dict:
    """The issue's id, number, revision and time: kept from the last issue when the fingerprint is
    the same, else the next revision (an issue before numbering counts as the first)."""
    if same and previous.get("issue"):
        return previous["issue"]
    revision = (previous.get("issue", {}).get("revision", 1) + 1) if previous else 1
    return {"id": issues.issue_id(document.kind, document.period_label, city, revision),
            "number": issues.issue_number(document, revision), "revision": revision, "city": city,
            "scope_code": issues.scope_code(city), "issued_at": clock.now().isoformat(),
            "supersedes": (previous.get("issue", {}).get("id") if previous else None)}


def _issue_record(document: Document, settings: Settings, reader: WarehouseReader | None) -> dict:
    """What an issue keeps beyond its lineage: what its fingerprint is made of, the versions it was
    made with, each table's rows, and (a document made here with its reader) the rows it read."""
    from pipelines.reference import registry, standards

    month_last = (Month.parse(document.period_label).last if document.kind == "bulletin"
                  else date(int(document.period_label), 12, 31))
    key = registry.version_key()[0]
    record = {"inputs": document.inputs, "data_version": document.inputs.get("data_version"),
              issues.SCOPE_KEY: config.scope(),   # the scope it was made at, for a rebuild (issues.issued_scope)
              "data_as_of": clock.now().isoformat(),
              "rule_versions": {domain: standards.rule_version(domain, month_last).id
                                for domain in ("surface_water", "seawater", "air")},
              "registry_version": key[0] if isinstance(key, tuple) and isinstance(key[0], int) else None,
              "versions": issues.versions(), "contents": issues.contents(document)}
    if reader is not None:   # a bulletin's or an assessment's rows, for `envmon report rebuild`
        record["snapshot"] = {"reads": issues.store_reads(settings, reader)}
    return record


def manifest(document: Document, files: dict) -> dict:
    lineage = document.lineage
    batches = lineage["batches"].astype(object).where(lineage["batches"].notna(), None)
    return {
        "kind": document.kind, "title": document.title, "period": document.period_label, "scope": document.scope,
        "fingerprint": document.fingerprint, "stamp": document.stamp.isoformat(),
        "files": {fmt: {"path": str(path), "sha256": hashlib.sha256(_as_path(path).read_bytes()).hexdigest(),
                        "bytes": _as_path(path).stat().st_size} for fmt, path in files.items()},
        "partitions": len(lineage["partitions"]),
        "batches": [{k: (str(v) if isinstance(v, date) else int(v) if k in ("payload_id", "rows") and v is not None
                     else v) for k, v in row.items()} for row in batches.to_dict(orient="records")],
        "payloads": [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
                     for row in lineage["payloads"].astype(object).to_dict(orient="records")],
    }


def _as_path(path):
    return path if hasattr(path, "read_bytes") else Path(path)


def _manifest_path(settings: Settings, kind: str, period: str, city: str | None):
    return folder(settings, kind, period) / (f"manifest-{city}.json" if city else "manifest.json")


def read_manifest(settings: Settings, kind: str, period: str, city: str | None = None) -> dict | None:
    path = _manifest_path(settings, kind, period, city)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _supersede(target, previous: dict, manifest_path) -> None:
    archive = target / "superseded" / f"{previous['stamp'][:19].replace(':', '')}-{previous['fingerprint'][:12]}"
    archive.mkdir(parents=True, exist_ok=True)
    for entry in previous.get("files", {}).values():
        # the file beside its manifest, not the absolute path recorded: a restored ENVMON_HOME may
        # lie elsewhere than the one that issued it (pipelines/operations/backup.py)
        path = target / entry["path"].replace("\\", "/").rsplit("/", 1)[-1]
        if path.exists():
            path.rename(archive / path.name)   # a Path, or a UPath of the object store (copied, then removed)
    if manifest_path.exists():
        manifest_path.rename(archive / manifest_path.name)


# --- the monthly DAG --------------------------------------------------------------------------

STATE_FILE = "refresh-state.json"   # what the last refresh had seen of the warehouse (loads, revisions)


def reads_of(kind: str, period: str) -> list[tuple[str, Month]]:
    return bulletin.reads(Month.parse(period)) if kind == "bulletin" else annual.reads(int(period))


def _may_have_changed(previous: dict, kind: str, period: str, touched: set[str] | None, flags,
                      digests: dict | None = None) -> bool:
    """Whether an issue needs building again to know: a month it read was loaded or revised since
    the last refresh (None: not known, so yes), or the rule rows, the registry rows of its months or
    the flags assessed are not those it was made with. Costs no read of an observation; `digests`
    keeps the digests of one refresh (the region's and the cities' issues share their days)."""
    made = previous.get("inputs")
    if not made or touched is None:
        return True
    months = sorted({m for _, m in reads_of(kind, period)})
    if any(m.label in touched for m in months):
        return True
    if kind == "bulletin" and issues.issued_scope(previous) != config.scope():
        return True   # issued at the other scope: the region's is another document there (national.py)
    if kind == "assessment" and any(label[:4] <= period for label in touched):
        return True   # its trends read the stored monthly means of every year up to its own
    days = tuple(report_days(months))
    digests = {} if digests is None else digests
    if days not in digests:
        digests[days] = (rules_digest(days), registry_digest(days))
    return (made.get("rules"), made.get("registry")) != digests[days] or made.get("flags") != list(flags)


def _build(kind: str, period: str, city: str | None, reader: WarehouseReader, scope: str | None = None) -> Document:
    return (bulletin_document(reader, Month.parse(period), city, scope=scope) if kind == "bulletin"
            else annual.build(reader, int(period), city))


def refresh(kind: str, period: str, settings: Settings, city: str | None = None,
            touched: set[str] | None = None, digests: dict | None = None) -> str:
    """Issue the document if it has not been, or again if what it reads has changed since: the
    data it read, the rule rows or the registry rows of its months (not a recipient's address,
    not a table it never reads). `touched`: the months loaded or revised since the last refresh."""
    previous = read_manifest(settings, kind, period, city)
    complete = previous is not None and set(FORMATS) <= set(previous.get("files", {}))
    if complete and not _may_have_changed(previous, kind, period, touched, settings.assessable_flags, digests):
        return "unchanged"
    engine = db.engine_for(settings.warehouse_url)
    own = [Month.parse(period)] if kind == "bulletin" else months_of(int(period))
    if sum(len(db.partition_log_between(engine, m.first, m.last)) for m in own) == 0:
        return "no data"
    reader = reader_for(settings)
    document = _build(kind, period, city, reader)
    if complete and previous["fingerprint"] == document.fingerprint:
        return "unchanged"
    write(document, FORMATS, settings, city, reader=reader)
    return "reissued" if previous else "issued"


def issued_cities(settings: Settings) -> list[str]:
    """The cities whose own bulletin the monthly DAG issues (ENVMON_BULLETIN_CITIES)."""
    from pipelines.reference import registry

    wanted = getattr(settings, "bulletin_cities", ()) or ()
    cities = [code for code, row in registry.bureaus().iterrows() if row["jurisdiction"].endswith("市")
              and len(row["jurisdiction"].split()) == 2 and row["jurisdiction"].startswith("广西")]
    return cities if tuple(wanted) == ("all",) else [c for c in wanted if c in cities]


def _label(period: str, city: str | None) -> str:
    return period if city is None else f"{period}/{city}"


def _state(settings: Settings, kind: str) -> dict | None:
    from pipelines import storage

    path = storage.reports_root(settings) / KINDS[kind] / STATE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _save_state(settings: Settings, kind: str, state: dict) -> None:
    from pipelines import storage

    storage.write_atomic(storage.reports_root(settings) / KINDS[kind] / STATE_FILE,
                         json.dumps(state, sort_keys=True).encode("utf-8"))


def refresh_bulletins(today: date, settings: Settings | None = None) -> dict:
    """Last month's bulletin (the region's and those of ENVMON_BULLETIN_CITIES), those of the months
    before it that have one (RECHECKED_MONTHS, the re-check window), issued again when their data
    changed; an issue older than the window whose data changed is told out of date, once."""
    from warehouse import document_store

    settings = settings or load_settings()
    engine = db.engine_for(settings.warehouse_url)
    touched, seen = document_store.months_changed_since(engine, _state(settings, "bulletin"))
    month = last_month(today)
    outcome, digests = {}, {}
    for city in [None, *issued_cities(settings)]:
        outcome[_label(month.label, city)] = refresh("bulletin", month.label, settings, city, touched, digests)
    window = [month]
    for _ in range(RECHECKED_MONTHS):
        month = month.previous()
        window.append(month)
    for path, record in issues.manifests(settings):
        if issues.is_superseded(path):
            continue
        city = record.get("issue", {}).get("city")
        label = _label(record["period"], city)
        if label in outcome:
            continue
        if Month.parse(record["period"]) in window:
            outcome[label] = refresh("bulletin", record["period"], settings, city, touched, digests)
        elif Month.parse(record["period"]) < window[-1]:
            state = out_of_date(record, settings, city, touched, digests)
            if state:
                outcome[label] = state
    _save_state(settings, "bulletin", seen)
    return outcome


def out_of_date(record: dict, settings: Settings, city: str | None, touched: set[str] | None,
                digests: dict | None = None, kind: str = "bulletin") -> str | None:
    """An issue past the re-check window (a bulletin's months, the assessment of last year): built
    again (not written) when what it read changed; when its fingerprint is no longer the issue's,
    one notice says the issued document is out of date."""
    if "inputs" not in record:   # issued before envmon kept its inputs: nothing to compare with
        return None
    period = record["period"]
    if not _may_have_changed(record, kind, period, touched, settings.assessable_flags, digests):
        return None
    document = _build(kind, period, city, reader_for(settings), issues.issued_scope(record))
    if document.fingerprint == record["fingerprint"]:
        return None
    read = {m.label for _, m in reads_of(kind, period)}
    changed = sorted(label for label in (touched or set())
                     if label in read or (kind == "assessment" and label[:4] <= period))
    issues.announce_out_of_date(settings, record, city, changed)
    return "out of date"


def refresh_assessment(today: date, settings: Settings | None = None) -> dict:
    """Last year's assessment, issued, or again when what it read changed; an assessment of a year
    before it whose data changed is told out of date, once (its re-check window is last year)."""
    from warehouse import document_store

    settings = settings or load_settings()
    year = str(last_year(today))
    engine = db.engine_for(settings.warehouse_url)
    touched, seen = document_store.months_changed_since(engine, _state(settings, "assessment"))
    outcome = {year: refresh("assessment", year, settings, touched=touched)}
    # the assessments of the years before: issued again by hand only, told out of date once
    for path, record in issues.manifests(settings, "assessment"):
        city = record.get("issue", {}).get("city")
        if issues.is_superseded(path) or record["period"] >= year or _label(record["period"], city) in outcome:
            continue
        state = out_of_date(record, settings, city, touched, kind="assessment")
        if state:
            outcome[_label(record["period"], city)] = state
    _save_state(settings, "assessment", seen)
    return outcome
