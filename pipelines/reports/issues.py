"""Documents issued like documents (issue 25): each issue numbered, its inputs kept, rebuilt on demand.

- Number: one stable id per kind, period, scope and revision, `bulletin-2026-11-nanning-r2` (the
  region's: `…-region-r1`), and the number the bureaus write, 南宁市2026年第11期（第2版）.
- Data as of the issue: the rows a document read (observations; an annual assessment's stored
  monthly rollups and air statistics too) are kept beside it, content-addressed
  (ENVMON_HOME/reports/data/<digest>.parquet, shared by the issues that read the same rows), with
  the partition log and payload rows its lineage printed. The manifest names them; the data version
  is the digest of those rows (reading.WarehouseReader.data_version).
- Rebuild (`envmon report rebuild ISSUE`): the document made again from its stored rows, with the
  registry version and the clock of the issue, and compared with what was issued: XLSX and HTML
  byte for byte, the PDF by its text (WeasyPrint's bytes are not promised across versions).
- Announced: a re-issue is a notice to the document's recipients (the alert outbox) saying which
  tables and rows changed; late data that change an issue older than the re-check window are one
  notice naming the issue out of date.
"""
from __future__ import annotations

import hashlib
import io
import json
import platform
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from importlib import metadata
from pathlib import Path

import pandas as pd

from pipelines.reports.document import MISSING, Document, format_cell
from pipelines.reports.reading import Month, WarehouseReader, frame_digest

REGION = "region"   # the scope code of the region-wide documents
LIBRARIES = ("pandas", "numpy", "openpyxl", "weasyprint", "pyarrow", "great_expectations", "sqlalchemy")
ISSUE_LABEL = "期号 (issue)"
# tables not listed row by row in a manifest (long, and lineage rather than content: a change there
# is said as one line)
LISTED_APART = ("lineage_batches", "lineage_partitions")


# --- numbers -------------------------------------------------------------------------------------

SCOPE_KEY = "envmon_scope"   # the manifest's ENVMON_SCOPE at issue ("scope" is the document's, e.g. 全部城市)


def issued_scope(record: dict) -> str:
    """The ENVMON_SCOPE an issue was made at: an issue that does not say was made at beibu scope
    (national bulletins came with issue 27, and with this key)."""
    return record.get(SCOPE_KEY) or "beibu"


def scope_code(city: str | None) -> str:
    return city or REGION


def issue_id(kind: str, period: str, city: str | None, revision: int) -> str:
    return f"{kind}-{period}-{scope_code(city)}-r{revision}"


def parse_issue_id(text: str) -> tuple[str, str, str | None, int]:
    """(kind, period, city or None, revision) of `bulletin-2026-11-nanning-r2`; ValueError otherwise."""
    try:
        head, revision = text.rsplit("-r", 1)
        kind, rest = head.split("-", 1)
        if kind == "bulletin":
            period, scope = rest[:7], rest[8:]
            Month.parse(period)
        else:
            period, scope = rest[:4], rest[5:]
            int(period)
        if not scope or kind not in ("bulletin", "assessment"):
            raise ValueError
        return kind, period, None if scope == REGION else scope, int(revision)
    except ValueError:
        raise ValueError(f"not an issue id like bulletin-2026-11-region-r1 or bulletin-2026-11-nanning-r2: "
                         f"{text!r}") from None


def issue_number(document: Document, revision: int) -> str:
    """The number as the bureaus write it: 南宁市2026年第11期（第2版）; 2025年度 for an assessment."""
    scope = "" if document.scope == "全部城市" else document.scope
    if document.kind == "bulletin":
        month = Month.parse(document.period_label)
        number = f"{scope}{month.year}年第{month.month}期"
    else:
        number = f"{scope}{document.period_label}年度"
    return number + (f"（第{revision}版）" if revision > 1 else "")


def with_issue_header(document: Document, identifier: str, number: str) -> Document:
    """The document with its number in its header (replacing one it had)."""
    header = [(label, value) for label, value in document.header if label != ISSUE_LABEL]
    document.header = [*header, (ISSUE_LABEL, f"{number} · {identifier}")]
    return document


# --- what it was made with --------------------------------------------------------------------

def versions() -> dict:
    """envmon's version and source digest, Python's, the libraries' and the fonts the PDF is set in."""
    out = {"envmon": _version("envmon"), "envmon_code": code_digest(), "python": platform.python_version()}
    out.update({name: _version(name) for name in LIBRARIES})
    out["fonts"] = fonts()
    return out


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@cache
def code_digest() -> str:
    """The code that reads, applies the rules and lays the documents out (pipelines/reports,
    pipelines/assessment): a deployment from another commit says so when an issue is rebuilt."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted([*here.glob("*.py"), *(here.parent / "assessment").glob("*.py")]):
        digest.update(f"{path.parent.name}/{path.name}".encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@cache
def fonts() -> list[dict]:
    """The font files fontconfig gives each family of the documents' font stack, with their sha256."""
    from pipelines.reports.figures import FONT

    if shutil.which("fc-match") is None:
        return []
    files = {}
    for family in [f.strip().strip("'") for f in FONT.split(",")]:
        found = subprocess.run(["fc-match", "-f", "%{file}", family], capture_output=True, text=True,
                               check=False).stdout.strip()
        if found and found not in files and Path(found).exists():
            files[found] = {"family": family, "file": found,
                            "sha256": hashlib.sha256(Path(found).read_bytes()).hexdigest()}
    return list(files.values())


# --- the data as of the issue -----------------------------------------------------------------

def data_folder(settings):
    from pipelines import storage

    return storage.reports_root(settings) / "data"


def store_reads(settings, reader: WarehouseReader) -> list[dict]:
    """Every read of the document kept as Parquet under its digest (written once: another issue
    reading the same rows names the same file). Returns the manifest's list of them."""
    folder = data_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for key, frame in reader.reads.items():
        digest = frame_digest(frame)
        path = folder / f"{digest}.parquet"
        if not path.exists():
            from pipelines import storage

            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            storage.write_atomic(path, buffer.getvalue())
        entries.append({"read": [list(k) if isinstance(k, tuple) else k for k in key], "digest": digest,
                        "rows": len(frame), "file": path.name})
    return entries


def _key(read: list) -> tuple:
    return tuple(tuple(k) if isinstance(k, list) else k for k in read)


class SnapshotReader(WarehouseReader):
    """A reader whose warehouse is an issue's stored reads: the document it makes read exactly
    what the issue read, whatever the warehouse holds now."""

    def __init__(self, folder: Path, entries: list[dict], assessable_flags):
        super().__init__(None, assessable_flags)
        self._stored = {}
        for entry in entries:
            path = folder / entry["file"]
            if not path.exists():
                raise IssueError(f"the data of this issue are missing: {path} (restore reports/ from a backup)")
            frame = pd.read_parquet(io.BytesIO(path.read_bytes()))
            if frame_digest(frame) != entry["digest"]:
                raise IssueError(f"{path} does not hold the rows it was written with (its digest differs)")
            self._stored[_key(entry["read"])] = frame

    def _stored_read(self, key: tuple) -> pd.DataFrame:
        if key not in self._stored:
            raise IssueError(f"the issue did not read {key}: the code reads otherwise now (see envmon_code)")
        return self._stored[key]

    def _fetch(self, key, month, stations, columns):
        return self._stored_read(key)

    def _fetch_partitions(self, reads):
        return self._stored_read(("partitions",))

    def _fetch_payloads(self, ids):
        return self._stored_read(("payloads",))

    def _fetch_rollups(self, key, parameters, stations, through_year):
        return self._stored_read(key)

    def _fetch_air_annual(self, key, year):
        return self._stored_read(key)


class IssueError(RuntimeError):
    """An issue that cannot be found or rebuilt: the message is the one line to show."""


# --- what a re-issue changed ------------------------------------------------------------------

def contents(document: Document) -> dict:
    """Each table's rows as the document prints them, by its first cell: what a later issue is
    compared with (the long lineage listings by a digest alone)."""
    out = {}
    for table in document.tables:
        rows = [[format_cell(value, column.kind) for column, value in zip(table.columns, row)] for row in table.rows]
        if table.key in LISTED_APART:
            out[table.key] = {"title": table.title, "digest": hashlib.sha256(json.dumps(rows, ensure_ascii=False)
                                                                              .encode()).hexdigest()}
        else:
            out[table.key] = {"title": table.title, "headings": [c.heading for c in table.columns], "rows": rows}
    return out


def _by_key(rows: list[list]) -> dict:
    """Rows by their first cell; a repeated first cell (a bay's points) takes the next cells too."""
    keyed = {}
    for row in rows:
        key, width = row[0], 1
        while key in keyed and width < len(row):
            width += 1
            key = " · ".join(str(cell) for cell in row[:width])
        keyed[key] = row
    return keyed


def changes(before: dict, after: dict) -> list[dict]:
    """What changed between two issues' contents, table by table: rows changed (with the headings
    of the cells that changed), added and removed; a listing kept by digest says only that it changed."""
    found = []
    for key, table in after.items():
        old = before.get(key)
        if old is None:
            found.append({"table": table["title"], "added": ["(表)"], "removed": [], "changed": []})
            continue
        if "digest" in table:
            if old.get("digest") != table["digest"]:
                found.append({"table": table["title"], "added": [], "removed": [], "changed": [], "listing": True})
            continue
        then, now = _by_key(old.get("rows", [])), _by_key(table["rows"])
        changed = []
        for row_key in now.keys() & then.keys():
            cells = [heading for heading, a, b in zip(table["headings"], then[row_key], now[row_key]) if a != b]
            if cells:
                changed.append({"row": row_key, "columns": cells})
        added, removed = sorted(now.keys() - then.keys()), sorted(then.keys() - now.keys())
        if changed or added or removed:
            order = list(now)
            changed.sort(key=lambda c: order.index(c["row"]))
            found.append({"table": table["title"], "changed": changed, "added": added, "removed": removed})
    return found


def change_lines(found: list[dict]) -> list[str]:
    """The changes in words, one line per table."""
    lines = []
    for change in found:
        if change.get("listing"):
            lines.append(f"{change['table']}：清单有变化")
            continue
        parts = [f"{c['row']}（{'、'.join(c['columns'])}）" for c in change["changed"]]
        parts += [f"新增 {row}" for row in change["added"]] + [f"删除 {row}" for row in change["removed"]]
        lines.append(f"{change['table']}：{'；'.join(parts)}")
    return lines


# --- notices ------------------------------------------------------------------------------------

def recipients(routing, city: str | None):
    """Who receives the document: a city's bulletin its bureau's recipients, the region's all of them."""
    if city is not None:
        return routing.of_bureau(city)
    return [r for r in routing.recipients if r.receives == "all"]


def announce(settings, kind: str, record: dict, facts: dict, key: str, city: str | None,
             operators: bool = False) -> int | None:
    """Record a notice about an issue in the outbox (once per key) and try to deliver it."""
    from pipelines import alerts
    from pipelines.alerts import outbox
    from pipelines import clock
    from warehouse import db

    routing = alerts.load_routing(settings)
    engine = db.engine_for(settings.warehouse_url)
    people = [*recipients(routing, city), *(routing.operators if operators else ())]
    notice = {"notice_key": key, "category": "document", "kind": kind, "episode_id": None,
              "subject_id": record["issue"]["id"], "is_urgent": False, "effective_on": None,
              "facts": json.dumps({"category": "document", "kind": kind, "subject_id": record["issue"]["id"],
                                   "title": record["title"], "number": record["issue"]["number"], **facts},
                                  ensure_ascii=False, default=str)}
    with engine.begin() as connection:
        notice_id = outbox.record(connection, routing, notice, people, clock.now())
    if notice_id is not None:
        try:
            alerts.deliver(settings, routing)
        except Exception:  # noqa: BLE001 - recorded in the outbox; `envmon alerts retry` sends it later
            pass
    return notice_id


def announce_reissue(settings, record: dict, previous: dict, city: str | None) -> int | None:
    found = changes(previous.get("contents", {}), record.get("contents", {}))
    facts = {"previous": previous.get("issue", {}).get("id") or f"{record['kind']}-{record['period']}",
             "previous_number": previous.get("issue", {}).get("number"), "changes": found,
             "change_lines": change_lines(found), "files": sorted(record["files"])}
    return announce(settings, "reissued", record, facts, f"document/reissued/{record['issue']['id']}", city)


def announce_out_of_date(settings, record: dict, city: str | None, months_touched: list[str]) -> int | None:
    """One notice per issue (its key is the issue's id): the nights after it tell nobody again."""
    command = (f"envmon bulletin --month {record['period']}" if record["kind"] == "bulletin"
               else f"envmon assessment-report --year {record['period']}") + (f" --city {city}" if city else "")
    facts = {"months": months_touched, "command": command}
    return announce(settings, "out_of_date", record, facts, f"document/out_of_date/{record['issue']['id']}", city,
                    operators=True)


# --- finding an issue ---------------------------------------------------------------------------

def reports_root(settings):
    """reports/ of the shared storage (pipelines/storage.py), from the Settings, the Storage or
    ENVMON_HOME itself."""
    from pipelines import storage

    return storage.reports_root(settings)


def manifests(settings, kind: str = "bulletin") -> list[tuple[Path, dict]]:
    """Every manifest of a kind, issued now or superseded, oldest folder first (`settings`: the
    Settings, the shared Storage, or ENVMON_HOME itself)."""
    root = reports_root(settings) / ("bulletins" if kind == "bulletin" else "assessments")
    found = []
    if root.is_dir():
        for path in sorted(root.glob("*/manifest*.json")) + sorted(root.glob("*/superseded/*/manifest*.json")):
            try:
                found.append((path, json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue
    return found


def is_superseded(path: Path) -> bool:
    return path.parent.parent.name == "superseded"


def listing(settings) -> list[dict]:
    """The numbered issues, newest first: id, number, title, kind, period, city, state (current or
    superseded), issued_at and each format's file. Each manifest is read once while it is unchanged
    (the app lists them on every visit; a manifest lists every payload, so it may be large)."""
    rows = []
    for kind in ("bulletin", "assessment"):
        root = reports_root(settings) / ("bulletins" if kind == "bulletin" else "assessments")
        if not root.is_dir():
            continue
        for path in [*root.glob("*/manifest*.json"), *root.glob("*/superseded/*/manifest*.json")]:
            try:
                stat = path.stat()
                row = _listed(path, getattr(stat, "st_mtime_ns", None) or int(stat.st_mtime * 1e9), kind)
            except (OSError, ValueError):
                continue
            if row is not None:
                rows.append(row)
    return sorted(rows, key=lambda r: (r["period"], r["issued_at"], r["issue"]), reverse=True)


@lru_cache(maxsize=4096)
def _listed(path: Path, _mtime: int, kind: str) -> dict | None:
    record = json.loads(path.read_text(encoding="utf-8"))
    issue = record.get("issue")
    if not issue:
        return None
    files = {fmt: issued_file(path, entry) for fmt, entry in record.get("files", {}).items()}
    return {"issue": issue["id"], "number": issue["number"], "title": record["title"], "kind": kind,
            "period": record["period"], "city": issue.get("city"), "revision": issue["revision"],
            "state": "superseded" if is_superseded(path) else "current", "issued_at": issue["issued_at"],
            "files": {fmt: str(f) for fmt, f in files.items() if f is not None}}


def find(settings, identifier: str) -> tuple[Path, dict]:
    kind, period, city, revision = parse_issue_id(identifier)
    for path, record in manifests(settings, kind):
        if record.get("issue", {}).get("id") == identifier:
            return path, record
    raise IssueError(f"no issue {identifier} under {reports_root(settings)}")


def issued_file(manifest_path, entry: dict):
    """The issued file of a manifest entry: beside the manifest (current or superseded/)."""
    path = manifest_path.parent / entry["path"].replace("\\", "/").rsplit("/", 1)[-1]
    return path if path.exists() else None


# --- rebuilding -----------------------------------------------------------------------------------

@dataclass
class Rebuilt:
    issue: str
    formats: dict          # fmt → identical | text identical | differs | not issued
    inputs: dict           # data_version / rules / registry → same | differs
    versions: dict         # what differs from the versions the issue recorded: name → [then, now]
    changes: list          # the tables and rows that differ from the issue's contents

    @property
    def identical(self) -> bool:
        return all(self.formats.get(f) in ("identical", "not issued") for f in ("xlsx", "html")) and \
            self.formats.get("pdf", "not issued") in ("identical", "text identical", "not issued")

    def as_dict(self) -> dict:
        return {"issue": self.issue, "identical": self.identical, "formats": self.formats, "inputs": self.inputs,
                "versions": self.versions, "changes": self.changes}


def rebuild(settings, identifier: str, formats=("xlsx", "html", "pdf")) -> Rebuilt:
    """Make an issue again from its manifest: its stored rows, its registry version, its clock."""
    from pipelines import clock
    from pipelines.reports import annual, publish
    from pipelines.reports.document import fingerprint
    from warehouse import db, registry_store

    manifest_path, record = find(settings, identifier)
    if "snapshot" not in record:
        raise IssueError(f"{identifier} was issued without its data kept (an issue made before envmon kept "
                         "them): it cannot be rebuilt")
    snapshot = record["snapshot"]
    reader = SnapshotReader(data_folder(settings), snapshot["reads"], record["inputs"]["flags"])
    engine = db.engine_for(settings.warehouse_url)
    issued_at = datetime.fromisoformat(record["issue"]["issued_at"])
    city = record["issue"]["city"]
    try:
        registry_store.use_registry_version(engine, record.get("registry_version"))
        with clock.set_to(issued_at, running=False):
            if record["kind"] == "bulletin":
                document = publish.bulletin_document(reader, Month.parse(record["period"]), city,
                                                     scope=issued_scope(record))   # not ENVMON_SCOPE's now
            else:   # the annual assessment: its observations, stored rollups and air statistics as kept
                document = annual.build(reader, int(record["period"]), city)
            document.fingerprint = fingerprint(record["kind"], document.scope, document.period_label, document.inputs)
            with_issue_header(document, identifier, record["issue"]["number"])
            rendered = {fmt: publish.render(document, fmt) for fmt in formats if fmt in record["files"]}
    finally:
        registry_store.use_warehouse_registry(engine)
    outcome = {}
    for fmt in formats:
        entry = record["files"].get(fmt)
        if entry is None:
            outcome[fmt] = "not issued"
        elif hashlib.sha256(rendered[fmt]).hexdigest() == entry["sha256"]:
            outcome[fmt] = "identical"
        elif fmt == "pdf":
            outcome[fmt] = _pdf_text_outcome(issued_file(manifest_path, entry), rendered[fmt])
        else:
            outcome[fmt] = "differs"
    used = {name: ("same" if document.inputs.get(name) == record["inputs"].get(name) else "differs")
            for name in ("data_version", "rules", "registry")}
    now = versions()
    differ = {name: [record.get("versions", {}).get(name), value] for name, value in now.items()
              if record.get("versions", {}).get(name) != value}
    return Rebuilt(identifier, outcome, used, differ, changes(record.get("contents", {}), contents(document)))


def _pdf_text_outcome(issued: Path | None, rebuilt: bytes) -> str:
    """A PDF's bytes hold WeasyPrint's own object layout: compare what it says, its text."""
    if issued is None or shutil.which("pdftotext") is None:
        return "differs (bytes; text not compared: " + ("the issued file is missing" if issued is None
                                                         else "pdftotext is not installed") + ")"
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(rebuilt)
        handle.flush()
        texts = [subprocess.run(["pdftotext", "-layout", str(p), "-"], capture_output=True, text=True,
                                check=False).stdout for p in (issued, Path(handle.name))]
    return "text identical" if texts[0] == texts[1] else "differs"


def rebuild_lines(result: Rebuilt) -> list[str]:
    """The rebuild in words, for the command line."""
    lines = [f"{result.issue}: " + ("rebuilt identical" if result.identical else "rebuilt, NOT identical")]
    lines += [f"  {fmt}: {state}" for fmt, state in result.formats.items()]
    lines += [f"  {name}: {state}" for name, state in result.inputs.items() if state != "same"]
    for name, (then, now) in result.versions.items():
        if name != "fonts":
            lines.append(f"  {name}: issued with {then or MISSING}, rebuilt with {now or MISSING}")
        else:
            lines.append("  fonts: the font files differ from the issue's")
    lines += [f"  {line}" for line in change_lines(result.changes)]
    return lines
