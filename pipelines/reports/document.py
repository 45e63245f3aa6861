"""A document as its renderers take it: a title, a header (period, data status, standards and
methods, unverified assumptions), tables with their official headings, figures, and the lineage of
the values. The renderers (render_xlsx, render_html, render_pdf) only lay it out."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from pipelines.clock import BUREAU_TZ
from pipelines.reference import standards
from pipelines.reports.reading import WarehouseReader, is_simulated

# How a column's numbers are shown; the XLSX keeps the number and gets the matching number format.
KINDS = {
    "text": (None, "@"),
    "integer": ("{:.0f}", "0"),
    "decimal1": ("{:.1f}", "0.0"),
    "decimal2": ("{:.2f}", "0.00"),
    "decimal3": ("{:.3f}", "0.000"),
    "percent": ("{:.1%}", "0.0%"),
    "points": ("{:+.1f}", "+0.0;-0.0;0.0"),   # a change in percentage points
    "signed_percent": ("{:+.1%}", "+0.0%;-0.0%;0.0%"),
}
MISSING = "—"


@dataclass
class Column:
    heading: str
    kind: str = "text"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")


@dataclass
class Table:
    key: str              # a stable identifier (tests, anchors)
    sheet: str            # XLSX sheet name (≤ 31 characters)
    title: str            # the table's caption, e.g. 表1 2026年11月地表水断面水质状况
    columns: list[Column]
    rows: list[list]
    notes: list[str] = field(default_factory=list)
    in_print: bool = True  # False: long listings kept to the XLSX (the HTML and PDF say where they are)

    def __post_init__(self):
        if len(self.sheet) > 31:
            raise ValueError(f"sheet name {self.sheet!r} is longer than 31 characters")
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"{self.key}: a row of {len(row)} cells under {len(self.columns)} headings")


@dataclass
class Figure:
    key: str
    title: str
    svg: str              # inline SVG, self-contained


@dataclass
class Document:
    kind: str             # "bulletin" or "assessment"
    title: str
    period_label: str     # 2026-11 or 2025
    period_zh: str
    scope: str            # 全部城市 or a city
    header: list[tuple[str, str]]
    tables: list[Table]
    figures: list[Figure]
    lineage: dict         # partitions, batches, payloads (frames), newest_load
    stamp: datetime       # the newest load of the data read: the document's only time stamp
    fingerprint: str      # of the data read, the rules and the registry: unchanged → the same document
    inputs: dict = field(default_factory=dict)   # what the fingerprint is made of (document.inputs)

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def format_cell(value, kind: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return MISSING
    if isinstance(value, str):
        return value
    pattern = KINDS[kind][0]
    return pattern.format(value) if pattern else str(value)


# --- the header ------------------------------------------------------------------------------

def data_status(reader: WarehouseReader, months) -> str:
    """Simulated or measured, and the shares of the values read that are flagged, censored or not
    assessed, over the document's own period."""
    counts = reader.read_counts(months)
    total = int(counts["values"].sum())
    if total == 0:
        return "本期无数据 (no data for the period)"
    simulated = int(counts.loc[counts["source"].map(is_simulated), "values"].sum())
    if simulated == total:
        origin = "模拟数据 simulated (envmon simulator; not measured data)"
    elif simulated == 0:
        origin = "实测数据 measured (CNEMC feeds, laboratory and coastal survey files)"
    else:
        origin = f"混合 mixed: {simulated / total:.1%} simulated, {1 - simulated / total:.1%} measured"
    flagged = int(counts.loc[counts["qc_flag"].isin(("suspect", "fail")), "values"].sum())
    missing = int(counts.loc[~counts["has_value"] | counts["qc_flag"].eq("missing"), "values"].sum())
    censored = int(counts.loc[counts["censored"], "values"].sum())
    unused = int(counts.loc[~counts["qc_flag"].isin(reader.assessable_flags), "values"].sum())
    sources = ", ".join(sorted(counts["source"].unique()))
    return (f"{origin}; {total} values read from {sources}; flagged (suspect/fail) {flagged / total:.1%}, "
            f"missing {missing / total:.1%}, censored (< detection limit) {censored / total:.1%}; "
            f"not assessed (QC flag outside {', '.join(reader.assessable_flags)}) {unused / total:.1%}")


def unverified_assumptions(section_ids, at=None) -> list[str]:
    """The registry's own statement of what is assumed, for each station in the document (the
    registry of `at`, default today)."""
    from pipelines.reference import registry

    sections = registry.sections(at)
    lines = []
    for section_id in section_ids:
        if section_id in sections.index and sections.loc[section_id, "assumptions"]:
            row = sections.loc[section_id]
            lines.append(f"{row['name_zh']} ({section_id}): {row['assumptions']}")
    return lines


def stamp_of(lineage: dict, fallback: datetime) -> datetime:
    newest = lineage.get("newest_load")
    return (newest or fallback).astimezone(BUREAU_TZ).replace(microsecond=0)


# The rule tables the documents read (pipelines/reference/data): every rule table but the feeds'
# layouts, which only the ingest reads, and the targets' seed, whose rows in force are the registry's
# (registry_digest); and the parameters' names and units, which the tables print.
REPORT_RULE_TABLES = tuple(sorted(set(standards.RULE_TABLES) - {"feed_formats", "section_targets"}))
REPORT_NAME_FILES = ("parameters.csv",)


def report_days(months) -> list:
    """The days whose rules and registry a document of these months uses: each month's first and
    last (a rule or registry change inside a month shows on one of them)."""
    return sorted({day for month in months for day in (month.first, month.last)})


def rules_digest(days) -> str:
    """The rows of the report rule tables in force on `days`, and the parameters' names: a row
    added for another period, or a table the documents never read, leaves it as it was."""
    digest = hashlib.sha256()
    for table in REPORT_RULE_TABLES:
        starts = sorted({standards.version_start(table, day) for day in days})
        digest.update(table.encode() + b"\0")
        for start in starts:
            digest.update(_rows_text(table, start).encode())
    for name in REPORT_NAME_FILES:
        digest.update(name.encode() + b"\0" + (standards.DATA_DIR / name).read_bytes())
    return digest.hexdigest()


def _rows_text(table: str, start) -> str:
    try:
        rows = standards.in_force(table, start)
    except standards.RuleNotInForce:   # no row that day (an agreement not yet signed): that is its state
        return f"{start}\nnone in force\n"
    return f"{start}\n" + rows.sort_values(list(rows.columns)).to_csv(index=False)


# What the documents read of the registry's bureaus: names and jurisdictions (which city a bureau's
# document covers), never the duty addresses, which only the notices use.
BUREAU_COLUMNS = ["bureau_id", "name_zh", "jurisdiction"]


def registry_digest(days) -> str:
    """The registry rows the documents use on `days`: the sections, coastal points and air stations
    (with each section's target in force) and the bureaus' names and jurisdictions."""
    from pipelines.reference import registry

    digest = hashlib.sha256()
    seen = set()
    for day in days:
        for frame in (registry.sections(day), registry.air_stations(day)):
            if id(frame) in seen:   # the same stretch of days between two registry changes
                continue
            seen.add(id(frame))
            digest.update(f"{day}\n".encode() + frame.sort_index().to_csv().encode())
    digest.update(registry.bureaus()[BUREAU_COLUMNS].sort_index().to_csv(index=False).encode())
    return digest.hexdigest()


def inputs(reader: WarehouseReader, months) -> dict:
    """What decides a document's content: the data it read (their version), the rule rows in
    force and the registry rows of its days, the QC flags assessed."""
    days = report_days(months)
    return {"data_version": reader.data_version(), "rules": rules_digest(days), "registry": registry_digest(days),
            "flags": list(reader.assessable_flags)}


def fingerprint(kind: str, scope: str, period: str, document_inputs: dict) -> str:
    """The same fingerprint, the same document: its kind, scope and period and `inputs` (data,
    rules, registry, flags). Not the code, the libraries or the partition log: those are
    recorded in the manifest (publish.manifest), and a new envmon or a reload of the same rows
    issues nothing again."""
    payload = {"kind": kind, "scope": scope, "period": period, **document_inputs}
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def lineage_tables(lineage: dict) -> list[Table]:
    """The batches and payloads the values came from: a summary per source, then (XLSX only) every
    batch with its payload and every (source, day) partition read."""
    batches = lineage["batches"]
    payloads = lineage["payloads"].set_index("payload_id") if len(lineage["payloads"]) else None
    summary = []
    for source, group in batches.groupby("source", sort=True):
        ids = sorted({int(i) for i in group["payload_id"].dropna()})
        summary.append([source, len(group), str(min(group["first_day"])), str(max(group["last_day"])),
                        int(group["rows"].sum()), ", ".join(map(str, ids)) or MISSING])
    rows = []
    for record in batches.to_dict(orient="records"):
        payload_id = record["payload_id"]
        known = payloads is not None and not pd.isna(payload_id) and int(payload_id) in payloads.index
        rows.append([record["source"], record["batch_id"], None if pd.isna(payload_id) else int(payload_id),
                     str(record["first_day"]), str(record["last_day"]), int(record["rows"]),
                     payloads.loc[int(payload_id), "origin"] if known else MISSING,
                     payloads.loc[int(payload_id), "sha256"] if known else MISSING])
    partitions = lineage["partitions"]
    partition_rows = [[r["source"], str(r["partition_day"]), r["batch_id"], int(r["rows_loaded"]),
                       int(r["rows_quarantined"])] for r in partitions.to_dict(orient="records")]
    return [
        Table("lineage", "数据来源", "数据来源：各来源的批次与载荷 (lineage by source)",
              [Column("来源"), Column("批次数", "integer"), Column("首日"), Column("末日"),
               Column("观测值数", "integer"), Column("载荷编号")], summary,
              ["Every batch and payload, and every (source, day) partition read, are listed in the XLSX "
               "(sheets 数据批次, 数据分区); envmon export payloads lists the payloads, envmon history the "
               "versions of a value."]),
        Table("lineage_batches", "数据批次", "数据来源：批次与载荷 (batches and payloads)",
              [Column("来源"), Column("批次编号"), Column("载荷编号", "integer"),
               Column("首日"), Column("末日"), Column("观测值数", "integer"), Column("载荷来源"),
               Column("载荷 SHA-256")], rows,
              ["The stored observations this document read, grouped by the batch and payload they were loaded from."],
              in_print=False),
        Table("lineage_partitions", "数据分区", "数据分区：来源 × 日 (partitions read)",
              [Column("来源"), Column("日期"), Column("最近一次载入批次"),
               Column("载入行数", "integer"), Column("隔离行数", "integer")], partition_rows,
              ["Each (source, day) partition read with the batch it was last loaded from (the document's "
               "fingerprint is made of the rows read, the QC flags assessed, the rule rows and the registry)."],
              in_print=False),
    ]
