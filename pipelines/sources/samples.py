"""Manual sampling files: bureau laboratory results (GB 3838 Tables 1–2) and coastal surveys
(GB 3097), CSV or XLSX, one row per sample and item (templates in pipelines/templates/).

Results below the detection limit arrive as `ND`, `未检出`, `<0.01` or `0.01L` (the Chinese lab
convention: below a limit of 0.01). They are kept as censored values: `censoring` "<", `value`
and `detection_limit` the limit, the original text kept. Units are converted explicitly
(pipelines/reference/data/unit_conversions.csv) and the unit as received is kept. A row that cannot be
stored faithfully (a unit, a number, a time, a parameter it cannot be) is quarantined at once with
its reason (`Parsed.rejected`); a file that cannot be read at all is refused (pipelines/sources/reading.py).
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from io import BytesIO

import pandas as pd

from pipelines import clock
from pipelines.reference import registry, standards
from pipelines.observations import BUREAU_TZ
from pipelines.sources import reading
from pipelines.sources.files import Parsed, PayloadError, Rejections, _finish  # noqa: F401 (PayloadError re-exported)
from pipelines.sources.files import _format_warnings as files_format_warnings, checked_header
from pipelines.sources.reading import refuse

LAB_COLUMNS = ("sample_id", "section_id", "sampled_at", "lab", "parameter", "result", "unit", "detection_limit",
               "method")
COASTAL_COLUMNS = ("sample_id", "point_id", "sampled_at", "survey", "layer", "parameter", "result", "unit",
                   "detection_limit", "method", "lab")
SURVEYS = {"spring", "summer", "autumn"}
LAYERS = {"surface", "bottom"}
NOT_DETECTED = {"nd", "未检出", "n.d.", "bdl"}
BELOW_LIMIT = re.compile(r"^<\s*(?P<limit>[0-9.]+(?:[eE][-+]?\d+)?)$")
CHINESE_L_SUFFIX = re.compile(r"^(?P<limit>[0-9.]+(?:[eE][-+]?\d+)?)\s*L$")  # 0.01L: below a limit of 0.01
# the file's own word on itself (pipelines/statements.py, issue 25): optional template columns
REPORT_VERSION = re.compile(r"^[vV]?\s*(?P<number>\d+)(?:\.0+)?$")  # 2, 2.0 (Excel), v2
YES = {"yes", "y", "true", "1", "是"}
NO = {"no", "n", "false", "0", "否"}


@cache
def unit_conversions() -> dict[str, tuple[str, float]]:
    table = pd.read_csv(standards.DATA_DIR / "unit_conversions.csv")
    return {row["from_unit"]: (row["to_unit"], float(row["factor"])) for row in table.to_dict(orient="records")}


def lab_parameters() -> set[str]:
    table1 = set(standards.surface_water_limits()["code"])
    table2 = set(pd.read_csv(standards.DATA_DIR / "gb3838_drinking_water.csv")["code"])
    return table1 | table2 | {"water_temp", "tn", "chla", "sd", "fecal_coliform"}


def coastal_parameters() -> set[str]:
    return set(standards.seawater_limits()["code"]) | {"water_temp", "salinity"}


def read_table(payload: bytes, name: str) -> tuple[list[str], list[reading.Row], str, bool]:
    """(header in lower case, rows, encoding, ends cleanly) of a CSV or XLSX payload, every cell a
    string. Refused (PayloadError) when it cannot be read at all: empty, not text, not a workbook."""
    if name.lower().endswith((".xlsx", ".xlsm")):
        return (*_workbook(payload), "xlsx", True)
    text = reading.decode(payload)
    if text.text.lstrip().startswith("<"):
        raise refuse("format", "an HTML page, not a CSV file")
    table = reading.csv_table(text, normalise=lambda column: column.strip().lower())
    return table.header, table.rows, text.encoding, text.ends_cleanly


def _workbook(payload: bytes) -> tuple[list[str], list[reading.Row]]:
    if not payload:
        raise refuse("empty", "the file has no content")
    try:
        frame = pd.read_excel(BytesIO(payload), dtype=str, keep_default_na=False, engine="openpyxl", header=None)
    except Exception as error:  # openpyxl and zipfile raise many kinds for a file that is not a workbook
        raise refuse("format", f"not an XLSX workbook ({type(error).__name__}: {error})") from None
    if frame.empty:
        raise refuse("empty", "the workbook's first sheet is empty")
    cells = frame.fillna("").astype(str).to_numpy().tolist()
    header = [str(c).strip().lower() for c in cells[0]]
    while header and not header[-1]:
        header.pop()
    rows = [reading.Row(number, [str(c) for c in row[:len(header)]] + [""] * max(0, len(header) - len(row)))
            for number, row in enumerate(cells[1:], start=2) if any(str(c).strip() for c in row)]
    for row in rows:
        if any(str(c).strip() for c in cells[row.line - 1][len(header):]):
            row.problem, row.rule = "ragged row: cells beyond the header's last column", "row_ragged"
    return header, rows


def _interpret(result: str, unit: str, limit_text: str, canonical_unit: str):
    """(value, detection_limit, censoring, note, rule): the note says why a row cannot be stored."""
    conversion = unit_conversions().get(unit)
    if conversion is None:
        return None, None, "", f"unknown unit {unit!r}", "unit"
    to_unit, factor = conversion
    if to_unit != canonical_unit:
        return None, None, "", f"unit {unit!r} cannot be converted to {canonical_unit!r}", "unit"
    limit = None
    if limit_text.strip():
        parsed = reading.number(limit_text)
        if parsed.problem:
            return None, None, "", f"detection limit {parsed.problem}", "number"
        limit = parsed.value
    text = result.strip()
    if text.lower() in NOT_DETECTED:
        if limit is None:
            return None, None, "<", f"{text!r} without a detection limit", "censoring"
        return limit * factor, limit * factor, "<", "", ""
    for pattern in (BELOW_LIMIT, CHINESE_L_SUFFIX):
        match = pattern.match(text)
        if match:
            parsed = reading.number(match["limit"])
            if parsed.problem:
                return None, None, "", f"result {text!r}: the limit {parsed.problem}", "number"
            return parsed.value * factor, parsed.value * factor, "<", "", ""
    parsed = reading.number(text)
    if parsed.problem:
        shown = f"result {text!r} is not a number" if "is not a number" in parsed.problem else f"result {parsed.problem}"
        return None, None, "", shown, "number"
    return parsed.value * factor, (limit * factor if limit is not None else None), "", "", ""


def _number(text: str) -> float | None:
    return reading.number(text).value if str(text or "").strip() else None


def _sampled_at(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=BUREAU_TZ)  # the bureaus' clock by default


def _parse(header: list[str], table_rows: list[reading.Row], source: str, required, station_column: str, stations,
           parameters, extra_detail, fetched_at: datetime, choices: dict[str, set[str]] | None = None,
           encoding: str = "", ends_cleanly: bool = True) -> Parsed:
    # the header against the template's layout (feed_formats.csv): a key column missing refuses the
    # file, every difference named; an unknown column is named and its cells kept in each row's detail
    checked = checked_header(source, f"{source}-template", header, fetched_at)
    extra = [header[p] for p in sorted(checked.unknown)]
    rejected = Rejections(source)
    rows, out_of_scope = [], 0
    statement_words: set[str] = set()  # the complete_statement cells, as yes / no / other
    # A last row without a line break may be cut anywhere: where its last cell decides the value,
    # the row cannot be trusted (a descriptive last cell, method or lab, is kept with a note).
    last_cell = header[-1]
    for row in table_rows:
        record = {column: (row.fields[i].strip() if i < len(row.fields) else "") for i, column in enumerate(header)}
        station = record.get(station_column, "")
        code = record.get("parameter", "")
        if station not in stations:
            out_of_scope += 1
            continue
        if row.problem:
            rejected.value(row.rule, f"line {row.line}: {row.problem}", station, code, None, "PT0S", record.get("result", ""))
            continue
        cut = row is table_rows[-1] and not ends_cleanly
        if cut and last_cell not in ("method", "lab", "survey", "complete_statement"):  # descriptive, or yes cut to "ye": no statement
            rejected.value("value_truncated", f"line {row.line}: the payload ends inside the last cell ({last_cell}) "
                           "without a line break: it may be cut short (truncated)", station, code, None, "PT0S",
                           record.get("result", ""))
            continue
        when = _sampled_at(record.get("sampled_at", ""))
        problems = []  # (rule, reason), the first rule names the row
        for column, allowed in (choices or {}).items():
            if column in record and record[column] not in allowed:
                problems.append(("choice", f"{column} {record[column]!r} is not one of {sorted(allowed)}"))
        if code not in parameters:
            problems.append(("parameter", f"parameter {code!r} is not a {source} item"))
        if when is None:
            problems.append(("time", f"sampling time {reading._short(record.get('sampled_at', ''))!r} is not an "
                                     "ISO 8601 time that exists"))
        elif reading.time_problem(when, fetched_at):
            problems.append(("time", reading.time_problem(when, fetched_at)))
            when = None
        canonical_unit = standards.unit_of(code) if code in standards.parameters().index else ""
        value, limit, censoring, note, rule = _interpret(record.get("result", ""), record.get("unit", ""),
                                                         record.get("detection_limit", ""), canonical_unit)
        if note:
            problems.append((rule, note))
        version, version_problem = _report_version(record.get("report_version", ""))
        if version_problem:
            problems.append(("report_version", version_problem))
        statement_words.add(_statement_word(record.get("complete_statement", "")))
        if problems:
            rejected.value(problems[0][0], f"line {row.line}: " + "; ".join(reason for _, reason in problems),
                           station, code, when, "PT0S", record.get("result", ""), canonical_unit or record.get("unit", ""))
            continue
        detail = {k: record[k] for k in ("lab", "method", *extra_detail, *extra) if record.get(k)}
        if version is not None:
            detail["report_version"] = version
        rows.append({
            "station_id": station, "parameter": code, "observed_at": when,
            "utc_offset_minutes": int(when.utcoffset().total_seconds() // 60),
            "averaging_period": "PT0S", "value": value,
            "unit": canonical_unit or record["unit"], "qc_flag": "not_evaluated",
            "qc_note": f"the last cell ({last_cell}) may be cut short: the payload ends without a line break" if cut else "",
            "source": source, "original_value": record["result"],
            "layer": record.get("layer", "") if choices and "layer" in choices else "",  # coastal only, checked
            "sample_id": record.get("sample_id", ""), "detection_limit": limit, "censoring": censoring,
            "original_unit": record["unit"], "detail": detail,  # JSON once the file's statement is known
        })
    complete, version, said = _statement(statement_words, {r["detail"].get("report_version") for r in rows})
    for row in rows:  # a complete statement's rows say so: a lower version arriving later yields to it
        row["detail"] = json.dumps({**row["detail"], **({"complete_statement": True} if complete else {})},
                                   ensure_ascii=False, sort_keys=True)
    sampled = [r["observed_at"] for r in rows]
    first_day = min(sampled).astimezone(BUREAU_TZ).date() if sampled else fetched_at.astimezone(BUREAU_TZ).date()
    observations, held = _finish(rows, rejected, source, fetched_at, day=first_day)
    warnings = files_format_warnings(checked, "the cells of unknown columns are kept in each row's detail")
    parsed = Parsed(observations, out_of_scope, source, rejected=held, read=len(table_rows), encoding=encoding,
                    warnings=warnings + said, format_changes=checked.as_changes(),
                    complete_statement=complete, report_version=version)
    if complete:
        parsed.notes.append(f"complete statement (report version {version or 'none'}): a value the lab reported "
                            "before for the sections or points and days it lists, and it no longer lists, is withdrawn")
    return parsed


def _report_version(text: str) -> tuple[int | None, str]:
    """(version, problem) of a report_version cell: a whole number from 1; empty is none."""
    text = str(text or "").strip()
    if not text:
        return None, ""
    match = REPORT_VERSION.match(text)
    if not match or int(match["number"]) < 1:
        return None, f"report_version {reading._short(text)!r} is not a whole number from 1"
    return int(match["number"]), ""


def _statement_word(text: str) -> str:
    text = str(text or "").strip().lower()
    return "yes" if text in YES else "no" if text in NO or not text else "other"


def _statement(words: set[str], versions: set) -> tuple[bool, int | None, list[str]]:
    """Whether the file is a complete statement (a `yes` in complete_statement, no row saying
    otherwise, one report version over its rows), its version, and a warning where it is not
    taken as one though a row says yes."""
    if "yes" not in words:
        return False, None, []
    if "other" in words:
        return False, None, ["complete_statement: a cell is neither yes nor no: the file is not taken as a complete "
                             "statement, nothing is withdrawn"]
    if "no" in words:
        return False, None, ["complete_statement: some rows say yes and others no (or leave it empty): fill every row "
                             "with yes; the file is not taken as a complete statement, nothing is withdrawn"]
    if len(versions) > 1:
        shown = ", ".join(str(v) if v else "none" for v in sorted(versions, key=lambda v: v or 0))
        return False, None, [f"complete_statement: the rows give report versions {shown}: a complete statement has one; "
                             "the file is not taken as one, nothing is withdrawn"]
    version = next(iter(versions), None)
    return True, version, []


def parse_lab(payload: bytes, name: str = "results.csv", fetched_at: datetime | None = None) -> Parsed:
    header, rows, encoding, clean = read_table(payload, name)
    return _parse(header, rows, "lab", LAB_COLUMNS, "section_id", set(registry.water_sections().index),
                  lab_parameters(), (), fetched_at or clock.now().astimezone(BUREAU_TZ), encoding=encoding, ends_cleanly=clean)


def parse_coastal(payload: bytes, name: str = "survey.csv", fetched_at: datetime | None = None) -> Parsed:
    header, rows, encoding, clean = read_table(payload, name)
    return _parse(header, rows, "coastal", COASTAL_COLUMNS, "point_id", set(registry.sea_points().index),
                  coastal_parameters(), ("survey",), fetched_at or clock.now().astimezone(BUREAU_TZ),
                  choices={"survey": SURVEYS, "layer": LAYERS}, encoding=encoding, ends_cleanly=clean)
