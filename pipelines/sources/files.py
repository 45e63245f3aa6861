"""File ingestion of the two real CNEMC formats into canonical observations.

cnemc-water: the surface-water real-time system's Ajax/Publish.ashx JSON ({"thead", "tbody"}), or
             its per-section CSV export.
cnemc-air:   the hourly air CSV (timepoint, stationcode, ..., pm2_5, pm2_5_24h, ...), or its older GeoJSON.
Rows of stations outside the registry are counted as out of scope, not errors; those of them that
lie in the registry's cities are reported as stations the registry does not know.

Every parser fails softly (pipelines/sources/reading.py): a payload that cannot be read at all is
refused with PayloadError; a payload that can be read keeps its good rows, and each value or row
that cannot be stored faithfully is returned in `Parsed.rejected` with its rule and reason.
`Parsed.read` counts what the payload holds before any of these decisions (records × value
columns), so that read = observations + rejected + out_of_scope is a real reconciliation.
"""
from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import clock
from pipelines.observations import BEIJING_OFFSET_MINUTES, BUREAU_TZ, batch_id, conform, empty_frame
from pipelines.reference import feed_formats, registry, standards
from pipelines.sources import reading
from pipelines.sources.reading import PayloadError, refuse

__all__ = ["PayloadError", "Parsed", "parse_payload", "parse_file", "parse_cnemc_water", "parse_cnemc_air"]

WATER_HEADER_CODES = {
    "水温": "water_temp", "pH": "ph", "溶解氧": "do", "电导率": "conductivity", "浊度": "turbidity",
    "高锰酸盐指数": "codmn", "氨氮": "nh3n", "总磷": "tp", "总氮": "tn", "叶绿素α": "chla", "藻密度": "algae_density",
}
WATER_CLASSES = {"Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ", "劣Ⅴ"}
NOT_MONITORED = "*"
NO_VALUE = "--"
SPAN = re.compile(r"<span[^>]*?title='(?P<title>[^']*)'[^>]*>(?P<text>.*?)</span>", re.S)
RAW_VALUE = re.compile(r"原始值：(?P<raw>[^\s'<]+)")
TOOLTIP_CITY = re.compile(r"所在地市:(?P<city>[^\n&]+)")
TOOLTIP_RIVER = re.compile(r"所属河流:(?P<river>[^\n&]+)")
WATER_TIME = re.compile(r"(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{2})")
# The feed is a snapshot of the latest readings, and its exports span days: a reading that would be
# older than this once moved back a year tells of a wrong fetch time, not of New Year.
NEWEST_READING_AGE = timedelta(days=62)
# How far the readings may lie from a date in the file's own name before envmon warns.
CLUE_DISTANCE = timedelta(days=31)
AIR_COLUMNS = {  # column → (parameter, averaging period); the feed's AQI goes to published results
    "pm10": ("pm10", "PT1H"), "pm10_24h": ("pm10", "PT24H"),
    "pm2_5": ("pm2_5", "PT1H"), "pm2_5_24h": ("pm2_5", "PT24H"),
    "o3": ("o3", "PT1H"), "o3_8h": ("o3", "PT8H"),
    "no2": ("no2", "PT1H"), "no2_24h": ("no2", "PT24H"),
    "so2": ("so2", "PT1H"), "so2_24h": ("so2", "PT24H"),
    "co": ("co", "PT1H"), "co_24h": ("co", "PT24H"),
}
AIR_MISSING = {"", "NA", "—", "-"}
REJECTED_COLUMNS = ["station_id", "parameter", "observed_at", "averaging_period", "value", "unit", "qc_flag",
                    "original_value", "source", "batch_id", "expectation", "rule", "reason"]


@dataclass
class Parsed:
    observations: pd.DataFrame
    out_of_scope: int  # observations of stations outside the registry (not errors)
    source: str
    published: pd.DataFrame | None = None  # what the publisher reported beside the values
    rejected: pd.DataFrame | None = None   # values and rows quarantined while reading, with their reason
    read: int | None = None                # values the payload holds, counted before any decision
    encoding: str = ""                     # utf-8, utf-8-sig, gb18030, xlsx
    format_changes: list[dict] = field(default_factory=list)  # the header against feed_formats.csv, each difference
    notes: list[str] = field(default_factory=list)     # said of the whole payload (a year inferred, ...)
    warnings: list[str] = field(default_factory=list)  # the same, where a person should look
    unknown_stations: list[dict] = field(default_factory=list)  # in the registry's cities, not in it
    # a lab or coastal file's own word on itself (pipelines/statements.py, issue 25): the complete
    # statement for what it covers, and its report version (0 or None: none given)
    complete_statement: bool = False
    report_version: int | None = None

    def __post_init__(self):
        if self.rejected is None:
            self.rejected = pd.DataFrame(columns=REJECTED_COLUMNS)
        if self.read is None:
            self.read = len(self.observations) + len(self.rejected) + self.out_of_scope

    @property
    def reconciled(self) -> bool:
        return self.read == len(self.observations) + len(self.rejected) + self.out_of_scope


class Rejections:
    """Values and rows set aside while reading: one quarantine row per value, each with its rule."""

    def __init__(self, source: str):
        self.source = source
        self.rows: list[dict] = []

    def value(self, rule: str, reason: str, station_id="", parameter="", observed_at=None, averaging_period="",
              original_value="", unit=""):
        self.rows.append({"station_id": station_id or "", "parameter": parameter, "observed_at": observed_at,
                          "averaging_period": averaging_period, "value": None,
                          "unit": unit or (standards.unit_of(parameter) if parameter in _parameter_codes() else ""),
                          "qc_flag": "", "original_value": "" if original_value is None else str(original_value),
                          "source": self.source, "expectation": rule, "rule": rule, "reason": reason})

    def row(self, rule: str, reason: str, parameters: list[tuple[str, str, str]], station_id="", observed_at=None):
        """Every value of a row: `parameters` as (parameter, averaging period, original text)."""
        for code, period, text in parameters:
            self.value(rule, reason, station_id, code, observed_at, period, text)


@cache
def _parameter_codes() -> frozenset:
    return frozenset(standards.parameters().index)


@cache
def registry_cities() -> frozenset:
    """The cities the registry covers, where a station it lacks is drift and not another network:
    the six of the Beibu Gulf cluster (those of its air stations). Zhanjiang and Maoming hold
    registry sections only as the Guangdong side of rivers that cross the boundary; their other
    sections are not the cluster's."""
    return frozenset(registry.air_stations()["city"])


@cache
def feed_places() -> dict[tuple[str, str, str], tuple[str, str]]:
    """(province, basin, name) → (city, river) of the water feed's sections, as its tooltips print
    them (pipelines/reference/data/cnemc_water_feed_places.csv), for responses without tooltips."""
    table = pd.read_csv(registry.DATA_DIR / "cnemc_water_feed_places.csv", dtype=str, keep_default_na=False)
    return {(r["province"], r["basin"], r["name_zh"]): (r["city"], r["river"]) for r in table.to_dict("records")}


def _cell(cell) -> tuple[str, str]:
    """(displayed text, tooltip) of a table cell."""
    if cell is None:
        return "", ""
    match = SPAN.fullmatch(str(cell).strip())
    if match:
        return html.unescape(match["text"]).strip(), html.unescape(match["title"])
    return str(cell).strip(), ""


def _text(cell) -> str:
    return "" if cell is None else str(cell).strip()


@dataclass
class YearInference:
    """The year the water feed's MM-DD HH:MM times were given, and from what."""
    fetched_at: datetime
    basis: str
    years: set = field(default_factory=set)
    moved_back: int = 0
    times: list = field(default_factory=list)

    def time(self, text: str) -> tuple[datetime | None, str]:
        """(the reading's time, "") or (None, why it has none)."""
        match = WATER_TIME.fullmatch(text.strip())
        if not match:
            return None, f"time {reading._short(text)!r} is not MM-DD HH:MM"
        month, day, hour, minute = map(int, match.groups())
        if _at(2000, month, day, hour, minute) is None:  # 2000 is a leap year: 02-29 exists in it
            return None, f"impossible time {text!r}: no such day or hour"
        fetch = self.fetched_at.astimezone(BUREAU_TZ)
        this_year = _at(fetch.year, month, day, hour, minute)
        if this_year is not None and this_year <= fetch + reading.CLOCK_MARGIN:
            return self._taken(this_year, False), ""
        last_year = _at(fetch.year - 1, month, day, hour, minute)
        if last_year is None:
            return None, f"time {text!r} does not exist in {fetch.year - 1} or {fetch.year} (the years {self.basis} allows)"
        if fetch - last_year > NEWEST_READING_AGE:
            return None, (f"time {text!r} is after {self.basis} ({fetch:%Y-%m-%d %H:%M}), and a year earlier it "
                          f"would be {(fetch - last_year).days} days old: the year cannot be inferred "
                          f"(give the real fetch time with --fetched-at)")
        return self._taken(last_year, True), ""

    def _taken(self, when: datetime, moved_back: bool) -> datetime:
        self.years.add(when.year)
        self.moved_back += moved_back
        self.times.append(when)
        return when

    def note(self) -> str:
        if not self.times:
            return ""
        fetch = self.fetched_at.astimezone(BUREAU_TZ)
        said = (f"year {', '.join(map(str, sorted(self.years)))} taken for 监测时间 (printed MM-DD HH:MM, without a "
                f"year) from {self.basis} {fetch:%Y-%m-%d %H:%M %z}")
        if self.moved_back:
            said += f"; {self.moved_back} readings dated after the fetch were taken as {fetch.year - 1}'s"
        return said

    def warnings(self, name: str) -> list[str]:
        if not self.times:
            return []
        first, last = min(self.times), max(self.times)
        found = []
        for clue in reading.date_clues(name):
            clue = clue.replace(tzinfo=BUREAU_TZ)
            if clue < first - CLUE_DISTANCE or clue > last + CLUE_DISTANCE:
                found.append(f"the readings are dated {first:%Y-%m-%d}…{last:%Y-%m-%d} (year from {self.basis}), but "
                             f"the file name says {clue:%Y-%m-%d}: check the year, or give --fetched-at")
        return found


def _at(year, month, day, hour, minute) -> datetime | None:
    try:
        return datetime(year, month, day, hour, minute, tzinfo=BUREAU_TZ)
    except ValueError:
        return None


def _infer_year(month_day: str, fetched_at: datetime) -> datetime:
    """监测时间 is printed MM-DD HH:MM, Beijing time, no year: the year that puts the reading at or
    before the fetch (a December reading fetched in January is last year's)."""
    when, problem = YearInference(fetched_at, "the fetch time").time(month_day)
    if when is None:
        raise ValueError(problem)
    return when


def _water_table(text: reading.Text) -> tuple[list[str], list, list[reading.Row] | None, str]:
    """(header as printed, records, CSV rows or None, format id in feed_formats.csv) of either form
    the water feed takes: the Publish.ashx JSON, or the per-section CSV export of its displayed
    values (header 省份,流域,...). The header is kept as printed, units and all: a column is read
    only as what the layout in feed_formats.csv says it is."""
    body = text.text.lstrip()
    if body.startswith("省份,"):
        table = reading.csv_table(text)
        return table.header, [row.fields for row in table.rows], table.rows, "section-csv"
    if body.startswith("<"):
        raise refuse("format", "not a Publish.ashx response: an HTML page")
    document = _json(text, "a Publish.ashx response")
    if not isinstance(document, dict) or "thead" not in document or "tbody" not in document:
        raise refuse("format", "not a Publish.ashx response: no thead and tbody")
    header, body_rows = document["thead"], document["tbody"]
    if not isinstance(header, list) or not all(isinstance(h, str) for h in header):
        raise refuse("format", f"not a Publish.ashx response: thead is {type(header).__name__}, not a list of names")
    if not isinstance(body_rows, list):
        raise refuse("format", f"not a Publish.ashx response: tbody is {'null' if body_rows is None else type(body_rows).__name__}, "
                               "not a list of records")
    return header, body_rows, None, "publish-ashx-json"


def checked_header(feed: str, format_id: str, header: list[str], fetched_at) -> feed_formats.HeaderCheck:
    """The header against its layout (feed_formats.csv); a payload without a key column is refused
    with every difference named. `format_changes` rides on the refusal only when the payload is
    recognisably this format (one expected column at least): a wrong file is not a changed feed."""
    checked = feed_formats.check(feed, format_id, header, fetched_at)
    if checked.missing_keys:
        error = refuse("format", f"the {feed} header differs from its {format_id} layout "
                                 f"(pipelines/reference/data/feed_formats.csv): {checked.summary()}")
        error.format_changes = checked.as_changes() if checked.positions else []
        raise error
    return checked


def _format_warnings(checked: feed_formats.HeaderCheck,
                     fate: str = "the values of unknown columns and of changed units are quarantined, not read") -> list[str]:
    if not checked.changes:
        return []
    return [f"format changed ({checked.feed} {checked.format}, feed_formats.csv): {checked.summary()}"
            + (f" ({fate})" if checked.unknown else "")]


def _json(text: reading.Text, what: str):
    try:
        return json.loads(text.text)
    except json.JSONDecodeError as error:
        closed = text.text.rstrip().endswith(("}", "]")) and not text.cut_character
        if not closed:
            raise refuse("truncated", f"{what} that does not close (JSON ends at line {error.lineno}: {error.msg})") from None
        raise refuse("format", f"not {what}: not JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None
    except RecursionError:
        raise refuse("format", f"not {what}: JSON nested too deep") from None


def parse_cnemc_water(payload: bytes | str, fetched_at: datetime, name: str = "",
                      fetched_basis: str = "the fetch time") -> Parsed:
    text = reading.decode(payload)
    names, body, csv_rows, format_id = _water_table(text)
    checked = checked_header("cnemc-water", format_id, names, fetched_at)
    layout = feed_formats.layout("cnemc-water", format_id, fetched_at).set_index("column")
    # by the layout's short names (省份, 氨氮, ...): only columns printed exactly as the layout says
    columns = {layout.loc[column, "name"]: position for column, position in checked.positions.items()}
    value_columns = [(header, code) for header, code in WATER_HEADER_CODES.items() if header in columns]
    unknown = sorted(checked.unknown.items())  # (position, change): values quarantined, never guessed
    feed_sections = registry.cnemc_water_sections()
    # looked up per record: plain dicts, built once per payload (a frame's row or .loc per record was
    # most of a national response's reading)
    by_name = dict(zip(zip(feed_sections["province"], feed_sections["basin"], feed_sections["name_zh"]),
                       feed_sections.index))
    section_city = dict(zip(feed_sections.index, feed_sections["city"]))
    markers = _marker_flags()
    years = YearInference(fetched_at, fetched_basis)
    rejected = Rejections("cnemc-water")
    rows, published, unknown_sections, out_of_scope = [], [], {}, 0
    for index, record in enumerate(body):
        where = f"line {csv_rows[index].line}" if csv_rows else f"record {index + 1}"
        if not isinstance(record, list):
            rejected.row("record_not_a_list", f"{where} is {type(record).__name__}, not a list of cells",
                         [(code, "PT0S", "") for _, code in value_columns]
                         + [(change["parameter"], "PT0S", "") for _, change in unknown])
            continue

        def cell(column, record=record):
            position = columns[column]
            return record[position] if position < len(record) else None

        name_text, tooltip = _cell(cell("断面名称"))
        province, basin = _text(cell("省份")), _text(cell("流域")) if "流域" in columns else ""
        section_id = by_name.get((province, basin, name_text))
        city = TOOLTIP_CITY.search(tooltip)
        if section_id is not None and city and city["city"] != section_city[section_id]:
            section_id = None  # same name, another place: names are not unique nationally
        if section_id is None:
            out_of_scope += len(value_columns) + len(unknown)
            _note_unknown(unknown_sections, province, basin, name_text, tooltip, len(value_columns) + len(unknown),
                          lambda cell=cell: years.time(_text(cell("监测时间")) or "")[0])
            continue
        texts = [(code, "PT0S", _text(cell(header))) for header, code in value_columns] + [
            (change["parameter"], "PT0S", _text(record[position] if position < len(record) else None))
            for position, change in unknown]
        problem = csv_rows[index].problem if csv_rows else ""
        rule = csv_rows[index].rule if csv_rows else ""
        if not problem and len(record) != len(names):
            problem = f"the record has {len(record)} cells where the header has {len(names)}"
            rule = "row_short" if len(record) < len(names) else "row_ragged"
        if problem:
            rejected.row(rule, f"{where}: {problem}", texts, section_id)
            continue
        status = _text(cell("站点情况"))
        time_text = _text(cell("监测时间"))
        if not time_text or time_text == NOT_MONITORED:
            rejected.row("no_reading", f"no reading published: 监测时间 {time_text or 'null'!r}"
                         + (f" (station status {status})" if status else ""), texts, section_id)
            continue
        when, problem = years.time(time_text)
        if when is None or reading.time_problem(when, fetched_at):
            rejected.row("time", f"{where}: {problem or reading.time_problem(when, fetched_at)}", texts, section_id)
            continue
        values, bad = _water_cells(record, columns, section_id, when, status, cell, markers)
        rows += values
        for position, change in unknown:
            rejected.value("format_changed", f"{where}: {change['said']}", section_id, change["parameter"], when,
                           "PT0S", _text(record[position]), change["unit"])
        for entry in bad:
            rejected.value("number", entry["reason"], section_id, entry["parameter"], when, "PT0S",
                           entry["original_value"])
        reported_class = _text(cell("水质类别")) if "水质类别" in columns else ""
        published.append({"source": "cnemc-water", "station_id": section_id, "observed_at": when,
                          "published_class": reported_class if reported_class in WATER_CLASSES else None,
                          "published_aqi": None, "published_primary_pollutants": None, "published_name": name_text,
                          "station_status": status})
    observations, rejected_frame = _finish(rows, rejected, "cnemc-water", fetched_at)
    return Parsed(observations, out_of_scope, "cnemc-water", _published(published), rejected_frame,
                  read=len(body) * (len(value_columns) + len(unknown)), encoding=text.encoding,
                  notes=[n for n in [years.note()] if n], warnings=_format_warnings(checked) + years.warnings(name),
                  unknown_stations=list(unknown_sections.values()), format_changes=checked.as_changes())


def _note_unknown(unknown: dict, province: str, basin: str, name: str, tooltip: str, values: int,
                  observed=lambda: None) -> None:
    """A section outside the registry that lies in one of its cities, by the feed's own tooltip,
    else by what earlier tooltips said of it (cnemc_water_feed_places.csv); at national scope any
    section (pipelines/scope.py), its city unknown when neither says it. `observed` gives the
    reading's time (the day it would join the registry from, when adopted)."""
    from pipelines import scope

    if not name:
        return
    city, river = TOOLTIP_CITY.search(tooltip), TOOLTIP_RIVER.search(tooltip)
    if city:
        place, water_body, basis = city["city"].strip(), (river["river"].strip() if river else ""), "the payload's tooltip"
    elif (province, basin, name) in feed_places():
        (place, water_body), basis = feed_places()[(province, basin, name)], "the feed's earlier tooltips"
    elif scope.national():
        place, water_body, basis = "", "", "UNKNOWN: neither the payload nor earlier tooltips name it"
    else:
        return
    if not scope.takes_city(place, registry_cities()):
        return
    key = f"{province[:40]}/{basin[:40]}/{name[:100]}"  # within unknown_stations.station_key
    entry = unknown.setdefault(key, {"source": "cnemc-water", "station_key": key, "name_zh": name, "city": place,
                                     "water_body": water_body, "province": province, "basin": basin,
                                     "city_basis": basis, "values": 0})
    entry["values"] += values
    if scope.national():
        when = observed()
        day = when.astimezone(BUREAU_TZ).date() if when is not None else None
        if day is not None and (entry.get("observed_day") is None or day < entry["observed_day"]):
            entry["observed_day"] = day


def _marker_flags() -> dict[str, str]:
    """The feed's own markers mapped onto envmon's QC vocabulary (pipelines/reference/data/qc_source_markers.csv)."""
    from pipelines.quality import qc

    table = qc.source_markers()
    table = table[table["source"] == "cnemc-water"]
    return dict(zip(table["marker"], table["qc_flag"]))


def _water_cells(record, columns, section_id, when, status, cell=None,
                 markers: dict[str, str] | None = None) -> tuple[list[dict], list[dict]]:
    """(observations, rejected values) of one record: the raw value of the tooltip where there is
    one, else the displayed text; `--` and `*` are missing values, any other text is rejected.
    `markers`: _marker_flags(), passed by the caller reading many records."""
    from pipelines.quality.qc import worst

    cell = cell or (lambda column: record[columns[column]])
    markers = _marker_flags() if markers is None else markers
    cells, bad = [], []
    for header_name, code in WATER_HEADER_CODES.items():
        if header_name not in columns:
            continue
        text, tooltip = _cell(cell(header_name))
        raw = RAW_VALUE.search(tooltip)
        flags, notes = ["not_evaluated"], []
        if status in markers:
            flags.append(markers[status])
            notes.append(f"station status {status}")
        if text == NOT_MONITORED:
            notes.append("not monitored (*)")
        elif tooltip and not raw:
            notes.append(tooltip)  # 极值过滤, 当天质控不合格, ...
            flags += [flag for marker, flag in markers.items() if marker and marker in tooltip]
        value = None
        if raw:
            parsed = reading.number(raw["raw"])
            if parsed.problem:
                bad.append({"parameter": code, "original_value": text,
                            "reason": f"{header_name}: the raw value of the tooltip {parsed.problem}"})
                continue
            value = parsed.value
        elif text not in ("", NO_VALUE, NOT_MONITORED):
            parsed = reading.number(text)
            if parsed.problem:
                bad.append({"parameter": code, "original_value": text, "reason": f"{header_name}: {parsed.problem}"})
                continue
            value = parsed.value
        flag = "missing" if value is None else worst(flags)
        cells.append({"station_id": section_id, "parameter": code, "observed_at": when,
                      "utc_offset_minutes": BEIJING_OFFSET_MINUTES, "averaging_period": "PT0S",
                      "value": value, "unit": standards.unit_of(code), "qc_flag": flag,
                      "qc_note": "; ".join(notes), "source": "cnemc-water", "original_value": text})
    return cells, bad


def _published(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(rows if isinstance(rows, list) else rows.to_dict("list"), columns=["source", "station_id", "observed_at", "published_class", "published_aqi",
                                        "published_primary_pollutants", "published_name", "station_status"])
    if len(frame):
        frame["observed_at"] = pd.to_datetime(frame["observed_at"], utc=True)
        frame = frame.drop_duplicates(subset=["station_id", "observed_at"], keep="last")
    return frame.reset_index(drop=True)


def _is_number(text: str) -> bool:
    return not reading.number(text).problem


def parse_cnemc_air(payload: bytes | str, fetched_at: datetime | None = None, name: str = "",
                    fetched_basis: str = "the fetch time") -> Parsed:
    fetched = fetched_at or clock.now().astimezone(BUREAU_TZ)
    text = reading.decode(payload)
    body = text.text.lstrip()
    if body.startswith("<"):
        raise refuse("format", "the air feed returned HTML, not CSV")
    geojson = body.startswith(("{", "["))
    table = _air_geojson(text) if geojson else reading.csv_table(text)
    checked = checked_header("cnemc-air", "hourly-geojson" if geojson else "hourly-csv", table.header, fetched)
    layout = feed_formats.layout("cnemc-air", checked.format, fetched)
    # the value columns printed as the layout says, and what each holds (parameter, averaging period)
    holds = {row["column"]: (row["parameter"], row["averaging_period"]) for row in layout.to_dict("records")
             if row["role"] == "value" and row["column"] in checked.positions}
    value_columns = [c for c in AIR_COLUMNS if c in holds]
    # columns the layout does not hold (or in another unit): their values quarantined, never read
    foreign = {table.header[p]: change for p, change in checked.unknown.items()}
    holds.update({column: (change["parameter"], change["averaging_period"] or "PT1H")  # the feed is hourly
                  for column, change in foreign.items()})
    counted = value_columns + list(foreign)
    position = {column: i for i, column in enumerate(table.header)}
    rejected = Rejections("cnemc-air")
    stations = registry.air_stations().index
    good, unknown, out_of_scope = [], {}, 0
    for row in table.rows:
        code = row.fields[position["stationcode"]].strip() if position["stationcode"] < len(row.fields) else ""
        if code not in stations:
            out_of_scope += len(counted)
            _note_unknown_air(unknown, table, row, code, len(counted))
            continue
        if row.problem:
            rejected.row(row.rule, f"line {row.line}: {row.problem}",
                         [(*holds[c], _field(row, position[c])) for c in counted], code)
            continue
        good.append(row)
    frame = pd.DataFrame([row.fields for row in good], columns=table.header, dtype=str)
    frame["line"] = [row.line for row in good]
    frame["stationcode"] = frame["stationcode"].str.strip()
    when = pd.to_datetime(frame["timepoint"].str.strip(), format="%Y-%m-%dT%H%M", errors="coerce").dt.tz_localize(BUREAU_TZ)
    time_reasons = _air_time_problems(frame, when, fetched)
    for index in time_reasons.index:
        rejected.row("time", f"line {frame.at[index, 'line']}: {time_reasons[index]}",
                     [(*holds[c], frame.at[index, c]) for c in counted], frame.at[index, "stationcode"])
    frame, when = frame.drop(index=time_reasons.index), when.drop(index=time_reasons.index)
    for column, change in foreign.items():
        for index in frame.index:
            rejected.value("format_changed", f"line {frame.at[index, 'line']}: {change['said']}",
                           frame.at[index, "stationcode"], change["parameter"], when[index],
                           holds[column][1], frame.at[index, column].strip(), change["unit"])
    cut_line = table.rows[-1].line if table.rows and not text.ends_cleanly and not table.rows[-1].problem else None
    rows = []
    for column in value_columns:
        code, period = holds[column]
        texts = frame[column].str.strip()
        missing = texts.isin(AIR_MISSING)
        numeric = texts.str.fullmatch(reading.NUMBER.pattern).fillna(False).astype(bool)
        values = pd.to_numeric(texts.where(numeric & ~missing), errors="coerce")
        bad = ~missing & ~(numeric & values.abs().le(reading.LARGEST_MEASUREMENT))
        if cut_line is not None and column == table.header[-1]:
            bad |= frame["line"].eq(cut_line)  # the payload stops inside this value: it may be a prefix
        for index in frame.index[bad.to_numpy()]:
            reason = (f"line {cut_line}: the payload ends inside this value without a line break: it may be cut short "
                      f"(truncated)" if frame.at[index, "line"] == cut_line and column == table.header[-1]
                      else f"line {frame.at[index, 'line']}, {column}: {reading.number(texts[index]).problem}")
            rejected.value("number" if "truncated" not in reason else "value_truncated", reason,
                           frame.at[index, "stationcode"], code, when[index], period, texts[index])
        keep = ~bad
        rows.append(pd.DataFrame({
            "station_id": frame["stationcode"][keep], "parameter": code, "observed_at": when[keep],
            "utc_offset_minutes": BEIJING_OFFSET_MINUTES, "averaging_period": period,
            "value": values[keep], "unit": standards.unit_of(code),
            "qc_flag": missing[keep].map({True: "missing", False: "not_evaluated"}),
            "qc_note": "", "source": "cnemc-air", "original_value": texts[keep],
        }))
    observations = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    aqi = pd.to_numeric(frame.get("aqi", pd.Series("", index=frame.index)).map(lambda t: reading.number(t).value),
                        errors="coerce")
    published = pd.DataFrame({
        "source": "cnemc-air", "station_id": frame["stationcode"], "observed_at": when,
        "published_class": None,
        "published_aqi": aqi.where(aqi.between(0, 1000)).astype("float64"),
        "published_primary_pollutants": frame.get("primarypollutant", ""), "published_name": frame.get("positionname", ""),
        "station_status": None})
    observations, rejected_frame = _finish(observations, rejected, "cnemc-air", fetched)
    return Parsed(observations, out_of_scope, "cnemc-air", _published(published),
                  rejected_frame, read=len(table.rows) * len(counted), encoding=text.encoding,
                  unknown_stations=list(unknown.values()), warnings=_format_warnings(checked),
                  format_changes=checked.as_changes())


def _field(row: reading.Row, position: int) -> str:
    return row.fields[position] if position < len(row.fields) else ""


def _air_time_problems(frame: pd.DataFrame, when: pd.Series, fetched: datetime) -> pd.Series:
    """The reason of each row whose timepoint cannot be a reading's time, by row index."""
    earliest = pd.Timestamp(reading.EARLIEST_OBSERVATION, tz=BUREAU_TZ)
    latest = pd.Timestamp(fetched + reading.CLOCK_MARGIN)
    suspect = when.isna() | (when < earliest) | (when > latest)
    reasons = {}
    for index in frame.index[suspect.to_numpy()]:
        stamp = when[index]
        reasons[index] = (f"timepoint {reading._short(frame.at[index, 'timepoint'])!r} is not a time YYYY-MM-DDTHHMM "
                          f"that exists" if pd.isna(stamp) else reading.time_problem(stamp.to_pydatetime(), fetched))
    return pd.Series(reasons, dtype=object)


def _note_unknown_air(unknown: dict, table: reading.Table, row: reading.Row, code: str, values: int) -> None:
    """An air station outside the registry whose `area` is one of the registry's cities (at national
    scope: any station, pipelines/scope.py)."""
    from pipelines import scope

    record = table.record(row)
    area = (record.get("area") or "").strip()
    if not code or not scope.takes_city(area, registry_cities()):
        return
    entry = unknown.setdefault(code, {"source": "cnemc-air", "station_key": code,
                                      "name_zh": (record.get("positionname") or "").strip(), "city": area,
                                      "water_body": "", "province": "", "basin": "",
                                      "city_basis": "the payload's area column", "values": 0,
                                      "longitude": _coordinate(record.get("longitude")),
                                      "latitude": _coordinate(record.get("latitude"))})
    entry["values"] += values
    if scope.national():
        when = pd.to_datetime((record.get("timepoint") or "").strip(), format="%Y-%m-%dT%H%M", errors="coerce")
        if not pd.isna(when) and (entry.get("observed_day") is None or when.date() < entry["observed_day"]):
            entry["observed_day"] = when.date()  # Beijing time, as the feed prints it


def _coordinate(text) -> float | None:
    """A coordinate cell as the feed prints it, None where it is not a number (`registry adopt` takes it)."""
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _air_geojson(text: reading.Text) -> reading.Table:
    """The older GeoJSON form of the hourly air feed (2017 archives): the same fields per feature,
    `timepoint` as YYYY-MM-DDTHH:MM:SS and `-` for no value, as a table of the CSV's shape."""
    document = _json(text, "an air GeoJSON FeatureCollection")
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list):
        raise refuse("format", "not an air GeoJSON FeatureCollection: no list of features")
    properties = [f.get("properties") if isinstance(f, dict) else None for f in features]
    header = list(dict.fromkeys(["timepoint", "stationcode"] + [k for p in properties if isinstance(p, dict)
                                                                 for k in p]))
    rows = []
    for number, item in enumerate(properties, start=1):
        if not isinstance(item, dict):
            rows.append(reading.Row(number, [], f"feature {number} has no properties", "record_not_a_list"))
            continue
        fields = []
        for column in header:
            value = item.get(column)
            shown = "" if value is None else str(value).strip()
            if column == "timepoint":
                stamp = pd.to_datetime(shown, format="%Y-%m-%dT%H:%M:%S", errors="coerce")
                shown = shown if pd.isna(stamp) else stamp.strftime("%Y-%m-%dT%H%M")
            elif column == "primarypollutant":
                shown = shown.strip("-;")
            fields.append("" if shown in ("-", "—", "-;") else shown)  # the 2017 feed's marks of no value
        rows.append(reading.Row(number, fields))
    return reading.Table(header, rows)


def _finish(rows: list[dict] | pd.DataFrame, rejected: Rejections, source: str, fetched_at: datetime,
            day=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The observations in canonical form and the rejected values, under one batch id made of
    both (the same content gives the same id on a re-run)."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    frame = empty_frame() if frame.empty else conform(frame.assign(batch_id=""))
    held = pd.DataFrame(rejected.rows, columns=[c for c in REJECTED_COLUMNS if c != "batch_id"])
    held["observed_at"] = pd.to_datetime(held["observed_at"], utc=True)
    content = frame.drop(columns=["batch_id"])
    if len(held):  # the rejected values are part of what the payload said
        content = pd.concat([content.astype(str), held.astype(str).rename(columns={"reason": "qc_note"})],
                            ignore_index=True)
    # Rows repeating a key stay: validation's QC duplicate test settles them, each with its reason.
    identity = batch_id(source, day or fetched_at.astimezone(BUREAU_TZ).date(), content)
    frame["batch_id"] = identity
    held["batch_id"] = identity
    return frame.reset_index(drop=True), held[REJECTED_COLUMNS].reset_index(drop=True)


PARSERS = {"cnemc-water": parse_cnemc_water, "cnemc-air": parse_cnemc_air}


FILE_SOURCES = ("cnemc-water", "cnemc-air", "lab", "coastal")


def parse_payload(source: str, payload: bytes, name: str, fetched_at: datetime,
                  fetched_basis: str = "the fetch time") -> Parsed:
    """Parse one payload of a source as received (`name` tells CSV from XLSX for the sampling
    files, and gives its date clues). Raises PayloadError only, naming the reason."""
    if fetched_at is not None and fetched_at.tzinfo is None:
        fetched_at = fetched_at.replace(tzinfo=BUREAU_TZ)  # the bureaus' clock, as for the times themselves
    if source in PARSERS:
        from pipelines import scope

        parsed = PARSERS[source](payload, fetched_at, name=name, fetched_basis=fetched_basis)
        if scope.adopt_published(source, parsed, fetched_at):  # national scope: they joined; read again
            parsed = PARSERS[source](payload, fetched_at, name=name, fetched_basis=fetched_basis)
        return parsed
    from pipelines.sources import samples

    if source == "lab":
        return samples.parse_lab(payload, name, fetched_at)
    if source == "coastal":
        return samples.parse_coastal(payload, name, fetched_at)
    if source == "partner-edr":  # a page of a partner's EDR (CoverageJSON), issue 26
        from pipelines.sources import partner_edr

        return partner_edr.parse(payload, fetched_at, name, fetched_basis)
    raise ValueError(f"unknown file source {source!r}; known: {list(FILE_SOURCES)}")


def parse_file(source: str, path: Path, fetched_at: datetime, fetched_basis: str = "the fetch time") -> Parsed:
    path = Path(path)
    return parse_payload(source, path.read_bytes(), path.name, fetched_at, fetched_basis)
