"""`envmon registry import`: a bureau's official list of sections and targets, read as the bureau
keeps it (an XLSX sheet, or a CSV in UTF-8 or GBK) and compared with the registry in force.

The list's columns are found by the names bureaus give them (data/official_list_columns.csv); each
row is matched to a registry section by name and river, the registry's bracketed aliases and the
CNEMC feed's names included (鼠岭(文车桥) is found as 文车桥; 自良渡口 on 绣江(北流河) as on 北流河,
the river the feed's tooltip prints). The comparison lists new sections, sections no longer listed
(only in the list's own cities: a city's list cannot withdraw another city's sections), targets
changed and coordinates moved. A bad file is refused as a whole, one line per problem with its row
as the bureau sees it (the spreadsheet's row, the CSV's line), so that a half-read list never
becomes a registry version.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import pandas as pd

from pipelines.reference import registry
from pipelines.reference.registry_check import PROVINCE_BOUNDS

COLUMNS_FILE = registry.DATA_DIR / "official_list_columns.csv"
FEED_PLACES_FILE = registry.DATA_DIR / "cnemc_water_feed_places.csv"
ROMAN_CLASSES = ("Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ")     # GB 3838-2002, as the registry writes them
WATER_STATION_TYPES = registry.WATER_STATION_TYPES
# Below this a difference of coordinates is their rounding, not a move: 4 decimals of a degree are
# about 11 m, whole seconds about 30 m.
COORDINATE_TOLERANCE_KM = 0.1
EARTH_RADIUS_KM = 6371.0088                       # IUGG mean radius
HEADER_ROWS_SEARCHED = 10                          # a title and a note or two may stand above the header
# a bracket that marks a name as provisional is not another name of the section: 黄华江省界断面(名称待定)
PROVISIONAL_MARKS = ("待定", "假定")


class OfficialListError(Exception):
    """A list that cannot be imported: one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ListRow:
    row: int                      # the spreadsheet's row number, or the CSV's line
    name_zh: str
    water_body: str
    city: str
    target_class: str             # one of ROMAN_CLASSES
    target_as_written: str
    attribute: str = ""
    longitude: float | None = None
    latitude: float | None = None
    responsible_unit: str = ""


@dataclass(frozen=True)
class OfficialList:
    path: Path
    file_sha256: str
    layout: str                   # xlsx | csv (utf-8) | csv (gbk)
    rows: tuple[ListRow, ...]

    @property
    def cities(self) -> list[str]:
        return sorted({r.city for r in self.rows if r.city})


# --- the columns -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ColumnSpec:
    field: str
    required: bool
    headers: tuple[str, ...]


@cache
def column_specs() -> tuple[ColumnSpec, ...]:
    table = pd.read_csv(COLUMNS_FILE, dtype=str, keep_default_na=False)
    specs = []
    for name, rows in table.groupby("field", sort=False):
        specs.append(ColumnSpec(name, rows["required"].iloc[0] == "yes", tuple(rows["header"])))
    return tuple(specs)


def text_key(text) -> str:
    """A name as compared: full-width forms folded (（）→(), ＩＩ→II), no spaces or line breaks."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or "")))


def _header_key(text) -> str:
    return text_key(text)


def _header_key_without_unit(text) -> str:
    """经度(°), 水质目标(类) → 经度, 水质目标."""
    return re.sub(r"\([^()]*\)$", "", _header_key(text))


def _find_columns(header: list) -> dict[str, int]:
    """field → column index, for the header cells that name a known field (first one wins)."""
    found: dict[str, int] = {}
    keys = [_header_key(c) for c in header]
    bare = [_header_key_without_unit(c) for c in header]
    for spec in column_specs():
        aliases = {_header_key(h) for h in spec.headers}
        for candidates in (keys, bare):
            index = next((i for i, key in enumerate(candidates) if key in aliases), None)
            if index is not None:
                found[spec.field] = index
                break
    return found


def _missing_columns(found: dict[str, int]) -> list[str]:
    return [f"no {spec.headers[0]} column (accepted: {', '.join(spec.headers)})"
            for spec in column_specs() if spec.required and spec.field not in found]


# --- reading the file --------------------------------------------------------------------------------

def read_official_list(path: str | Path) -> OfficialList:
    """The list in `path`, every row checked; OfficialListError with every problem otherwise."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise OfficialListError([f"{path}: cannot be read: {error.strerror or error}"]) from None
    layout, table = _table_of(path, content)
    header_index, columns = _header(path, table)
    rows, problems = [], []
    for row_number, cells in table[header_index + 1:]:
        parsed = _row(row_number, cells, columns, problems, path)
        if parsed is not None:
            rows.append(parsed)
    problems += _duplicates(path, rows)
    if not rows and not problems:
        problems.append(f"{path.name}: no section is listed under the header (row {table[header_index][0]})")
    if problems:
        raise OfficialListError(problems)
    return OfficialList(path, hashlib.sha256(content).hexdigest(), layout, tuple(rows))


def _table_of(path: Path, content: bytes) -> tuple[str, list[tuple[int, list]]]:
    """(layout, [(row number, cells)]) of an XLSX workbook's first sheet with a header, or a CSV."""
    if content[:4] == b"PK\x03\x04":
        return "xlsx", _xlsx_rows(path, content)
    if path.suffix.lower() in (".xls",) or content[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise OfficialListError([f"{path.name}: an Excel 97–2003 .xls workbook: save it as .xlsx or CSV and "
                                 "import that"])
    for encoding, layout in (("utf-8-sig", "csv (utf-8)"), ("gb18030", "csv (gbk)")):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        return layout, _csv_rows(text)
    raise OfficialListError([f"{path.name}: neither an XLSX workbook nor a CSV in UTF-8 or GBK"])


def _xlsx_rows(path: Path, content: bytes) -> list[tuple[int, list]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable workbook is one line for the bureau
        raise OfficialListError([f"{path.name}: not a readable XLSX workbook ({type(error).__name__})"]) from None
    sheets = []
    for sheet in workbook.worksheets:
        rows = [(number, list(cells)) for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1)]
        sheets.append(rows)
        if _header_row(rows) is not None:
            workbook.close()
            return rows
    workbook.close()
    return sheets[0] if sheets else []


def _csv_rows(text: str) -> list[tuple[int, list]]:
    reader = csv.reader(io.StringIO(text))
    rows, line = [], 1
    for cells in reader:
        rows.append((line, cells))
        line = reader.line_num + 1      # a quoted cell may span lines: the next record starts after it
    return rows


def _header_row(rows: list[tuple[int, list]]) -> int | None:
    """The index of the first row (among the first few) naming the section-name column."""
    for index, (_, cells) in enumerate(rows[:HEADER_ROWS_SEARCHED]):
        if "name_zh" in _find_columns(cells):
            return index
    return None


def _header(path: Path, table: list[tuple[int, list]]) -> tuple[int, dict[str, int]]:
    index = _header_row(table)
    if index is None:
        name_spec = next(s for s in column_specs() if s.field == "name_zh")
        raise OfficialListError([f"{path.name}: no {name_spec.headers[0]} column in the first "
                                 f"{HEADER_ROWS_SEARCHED} rows (accepted: {', '.join(name_spec.headers)})"])
    columns = _find_columns(table[index][1])
    missing = _missing_columns(columns)
    if missing:
        raise OfficialListError([f"{path.name}: {m}" for m in missing])
    return index, columns


def _cell(cells: list, columns: dict[str, int], name: str):
    index = columns.get(name)
    if index is None or index >= len(cells) or cells[index] is None:
        return ""
    value = cells[index]
    return value if isinstance(value, (int, float)) else str(value).strip()


def _row(number: int, cells: list, columns: dict[str, int], problems: list[str], path: Path) -> ListRow | None:
    name = text_key(_cell(cells, columns, "name_zh"))
    target = _cell(cells, columns, "target_class")
    if not name:
        if target != "":
            problems.append(f"{path.name}: row {number}: a 水质目标 without a 断面名称")
        return None                   # a blank line, a total or a note (注：...) under the table
    where = f"{path.name}: row {number}: {name}"
    row_problems = []
    target_class = normalise_class(target)
    if target_class is None:
        row_problems.append(f"{where}: 水质目标 {str(target)!r} is not a class of GB 3838 "
                            "(Ⅰ–Ⅴ, also written I–V, 1–5, Ⅱ类)")
    city = _city(_cell(cells, columns, "city"))
    longitude, latitude = (_coordinate(_cell(cells, columns, f)) for f in ("longitude", "latitude"))
    if isinstance(longitude, str) or isinstance(latitude, str):
        bad = longitude if isinstance(longitude, str) else latitude
        row_problems.append(f"{where}: {bad!r} is not a coordinate (decimal degrees or 度分秒)")
    elif (longitude is None) != (latitude is None):
        row_problems.append(f"{where}: 经度 and 纬度 go together: one of them is empty")
    elif longitude is not None:
        outside = outside_region(longitude, latitude, city)
        if outside:
            row_problems.append(f"{where}: {outside}")
    problems += row_problems
    if row_problems:
        return None
    return ListRow(number, name, text_key(_cell(cells, columns, "water_body")), city, target_class, str(target),
                   str(_cell(cells, columns, "attribute")), longitude, latitude,
                   str(_cell(cells, columns, "responsible_unit")))


def normalise_class(value) -> str | None:
    """'Ⅱ', 'II', 'ii', '2', 2, 2.0, 'Ⅱ类', 'II类', '２类' → 'Ⅱ'; anything else (劣Ⅴ, Ⅵ, Ⅱ~Ⅲ, '') → None."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = text_key(value).upper()           # NFKC writes Ⅱ as II and ２ as 2
    text = re.sub(r"类(水)?$", "", text)
    numerals = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}
    number = numerals.get(text) or (int(text) if text in {"1", "2", "3", "4", "5"} else None)
    return ROMAN_CLASSES[number - 1] if number else None


def _coordinate(value) -> float | None | str:
    """Decimal degrees or 度分秒 → degrees; None when empty; the text itself when unreadable."""
    if value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = unicodedata.normalize("NFKC", value).replace(" ", "").strip("EeNn东北")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(?:[°度](?:(\d+(?:\.\d+)?)['′分])?(?:(\d+(?:\.\d+)?)(?:\"|″|''|′′|秒))?)?",
                         text)
    if not match:
        return value
    degrees, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return degrees + minutes / 60 + seconds / 3600


def outside_region(longitude: float, latitude: float, city: str) -> str:
    """Why the point lies outside the city's province (or outside both provinces when the city is not
    one the registry knows), or '' when it lies inside: registry_check's extents."""
    province = city_provinces().get(city)
    provinces = [province] if province in PROVINCE_BOUNDS else list(PROVINCE_BOUNDS)
    for name in provinces:
        west, east, south, north = PROVINCE_BOUNDS[name]
        if west <= longitude <= east and south <= latitude <= north:
            return ""
    extents = "; ".join(f"{n} {w:g}–{e:g}E, {s:g}–{n_:g}N"
                        for n, (w, e, s, n_) in ((p, PROVINCE_BOUNDS[p]) for p in provinces))
    return f"coordinates {longitude:g}E {latitude:g}N lie outside the region ({extents})"


@cache
def city_provinces() -> dict[str, str]:
    """City → province, from the registry's sections and bureaus."""
    sections = registry.sections()
    found = dict(zip(sections["city"], sections["province"]))
    for jurisdiction in registry.bureaus()["jurisdiction"]:
        parts = jurisdiction.split()
        if len(parts) == 2:
            found.setdefault(parts[1], parts[0])
    return found


def _city(value) -> str:
    """钦州 → 钦州市 when the registry knows 钦州市; otherwise as written."""
    city = text_key(value)
    known = city_provinces()
    if city and city not in known and f"{city}市" in known:
        return f"{city}市"
    return city


def _duplicates(path: Path, rows: list[ListRow]) -> list[str]:
    seen: dict[tuple[str, str], ListRow] = {}
    problems = []
    for row in rows:
        key = (row.name_zh, row.water_body)
        if key in seen:
            problems.append(f"{path.name}: rows {seen[key].row} and {row.row}: {row.name_zh} ({row.water_body}) "
                            "is listed twice")
        else:
            seen[key] = row
    return problems


# --- matching ----------------------------------------------------------------------------------------

def name_variants(text: str) -> set[str]:
    """鼠岭(文车桥) → {鼠岭(文车桥), 鼠岭, 文车桥}; a provisional bracket (名称待定) is no name."""
    key = text_key(text)
    variants = {key} if key else set()
    match = re.fullmatch(r"(.+?)\((.+)\)", key)
    if match:
        outer, inner = match.groups()
        variants.add(outer)
        if not any(mark in inner for mark in PROVISIONAL_MARKS):
            variants.add(inner)
    return variants


@cache
def feed_rivers() -> dict[tuple[str, str], set[str]]:
    """(name, city) → the rivers the CNEMC feed's tooltip prints for it."""
    places = pd.read_csv(FEED_PLACES_FILE, dtype=str, keep_default_na=False)
    rivers: dict[tuple[str, str], set[str]] = {}
    for place in places.itertuples():
        rivers.setdefault((text_key(place.name_zh), place.city), set()).add(text_key(place.river))
    return rivers


def _section_keys(section: dict) -> tuple[set[str], set[str]]:
    names = name_variants(section["name_zh"])
    rivers = name_variants(section.get("water_body") or "")
    for name in list(names):
        rivers |= feed_rivers().get((name, section.get("city", "")), set())
    return names, rivers


def match_rows(rows: tuple[ListRow, ...], sections: pd.DataFrame, path: Path) -> dict[int, str]:
    """row number → section_id of the registry's water section it names (name and river; a row
    without a river matches by name alone when one section bears it). OfficialListError when two
    rows fall on one section."""
    keyed = [(s["section_id"], *_section_keys(s)) for s in sections.to_dict("records")]
    matched: dict[int, str] = {}
    for row in rows:
        by_name = [(sid, rivers) for sid, names, rivers in keyed if row.name_zh in names]
        hits = [sid for sid, rivers in by_name if row.water_body in rivers]
        if not hits and not row.water_body and len(by_name) == 1:
            hits = [by_name[0][0]]
        if len(hits) == 1:
            matched[row.row] = hits[0]
    problems = []
    rows_by_number = {r.row: r for r in rows}
    by_section: dict[str, list[int]] = {}
    for number, section_id in matched.items():
        by_section.setdefault(section_id, []).append(number)
    for section_id, numbers in sorted(by_section.items(), key=lambda item: item[1][0]):
        if len(numbers) > 1:
            named = " and ".join(f"{rows_by_number[n].name_zh} ({rows_by_number[n].water_body})" for n in numbers)
            section = sections.loc[section_id]
            problems.append(f"{path.name}: rows {' and '.join(map(str, numbers))}: {named} both match the registry's "
                            f"section {section_id} {section['name_zh']} ({section['water_body']})")
    if problems:
        raise OfficialListError(problems)
    return matched


# --- the comparison ----------------------------------------------------------------------------------

@dataclass
class RegistryDiff:
    file: str
    file_sha256: str
    layout: str
    valid_from: str
    source_document: str
    cities: list[str]
    new_sections: list[dict] = field(default_factory=list)
    no_longer_listed: list[dict] = field(default_factory=list)
    targets_changed: list[dict] = field(default_factory=list)
    coordinates_moved: list[dict] = field(default_factory=list)
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.new_sections or self.no_longer_listed or self.targets_changed or self.coordinates_moved)

    def as_json(self) -> dict:
        return asdict(self)


def compare(official: OfficialList, sections: pd.DataFrame, valid_from: date, source_document: str) -> RegistryDiff:
    """What importing `official` from `valid_from` changes in `sections`, the registry's water sections
    in force then: one row per section_id with name_zh, water_body, city, longitude, latitude,
    target_class and target_status."""
    sections = sections[sections["station_type"].isin(WATER_STATION_TYPES)].set_index("section_id", drop=False)
    sections.index.name = None
    matched = match_rows(official.rows, sections, official.path)
    diff = RegistryDiff(official.path.name, official.file_sha256, official.layout, valid_from.isoformat(),
                        source_document, official.cities)
    for row in official.rows:
        section_id = matched.get(row.row)
        if section_id is None:
            diff.new_sections.append(_new_section(row, sections))
            continue
        section = sections.loc[section_id]
        changed = _target_change(row, section)
        moved = _move(row, section)
        if changed:
            diff.targets_changed.append(changed)
        if moved:
            diff.coordinates_moved.append(moved)
        if not changed and not moved:
            diff.unchanged += 1
    listed = set(matched.values())
    in_scope = sections[sections["city"].isin(official.cities) & ~sections["section_id"].isin(listed)]
    diff.no_longer_listed = [_section_fields(s) for s in in_scope.sort_values("section_id").to_dict("records")]
    return diff


def _section_fields(section) -> dict:
    return {"section_id": section["section_id"], "name_zh": section["name_zh"], "water_body": section["water_body"],
            "city": section["city"]}


def _new_section(row: ListRow, sections: pd.DataFrame) -> dict:
    same_name = [s for s in sections.to_dict("records") if row.name_zh in name_variants(s["name_zh"])]
    note = "; ".join(f"the registry's {s['section_id']} {s['name_zh']} is on {s['water_body']}, not "
                     f"{row.water_body or '(no river)'}" for s in same_name)
    return {"row": row.row, "section_id": new_section_id(row.name_zh, row.water_body, row.city),
            "name_zh": row.name_zh, "water_body": row.water_body, "city": row.city, "target_class": row.target_class, "attribute": row.attribute, "longitude": row.longitude,
            "latitude": row.latitude, "responsible_unit": row.responsible_unit, "note": note}


def _target_change(row: ListRow, section) -> dict | None:
    old_class = section["target_class"] if isinstance(section["target_class"], str) and section["target_class"] else None
    old_status = section["target_status"]
    if old_class == row.target_class and old_status == "official":
        return None
    return {"row": row.row, **_section_fields(section), "old_class": old_class, "old_status": old_status,
            "new_class": row.target_class, "new_status": "official", "class_changed": old_class != row.target_class}


def _move(row: ListRow, section) -> dict | None:
    if row.longitude is None or pd.isna(section["longitude"]) or pd.isna(section["latitude"]):
        return None
    distance = distance_km(section["longitude"], section["latitude"], row.longitude, row.latitude)
    if distance <= COORDINATE_TOLERANCE_KM:
        return None
    return {"row": row.row, **_section_fields(section), "old_longitude": float(section["longitude"]),
            "old_latitude": float(section["latitude"]), "new_longitude": row.longitude, "new_latitude": row.latitude,
            "distance_km": round(distance, 1)}


def distance_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle (haversine) distance."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


# --- the diff as text --------------------------------------------------------------------------------

def _place(entry: dict) -> str:
    return f"{entry['name_zh']} ({entry['water_body'] or '(no river)'}, {entry['city'] or '(no city)'})"


def _target(target_class, status) -> str:
    return f"{target_class or '(none)'} ({status})"


def diff_lines(diff: RegistryDiff) -> list[str]:
    lines = [f"official list {diff.file} ({diff.layout}, sha256 {diff.file_sha256[:12]}), valid from "
             f"{diff.valid_from}, cities {'、'.join(diff.cities)}"]
    for entry in diff.new_sections:
        line = f"new section: row {entry['row']}: {entry['section_id']} {_place(entry)}: target {_target(entry['target_class'], 'official')}"
        line += f", {entry['attribute']}" if entry["attribute"] else ""
        line += f" ({entry['note']})" if entry["note"] else ""
        lines.append(line)
    for entry in diff.no_longer_listed:
        lines.append(f"no longer listed: {entry['section_id']} {_place(entry)}")
    for entry in diff.targets_changed:
        lines.append(f"target changed: row {entry['row']}: {entry['section_id']} {_place(entry)}: "
                     f"{_target(entry['old_class'], entry['old_status'])} → "
                     f"{_target(entry['new_class'], entry['new_status'])}")
    for entry in diff.coordinates_moved:
        lines.append(f"coordinates moved: row {entry['row']}: {entry['section_id']} {_place(entry)}: "
                     f"{entry['old_longitude']:g}E {entry['old_latitude']:g}N → {entry['new_longitude']:g}E "
                     f"{entry['new_latitude']:g}N ({entry['distance_km']:.1f} km)")
    lines.append(f"{len(diff.new_sections)} new, {len(diff.no_longer_listed)} no longer listed, "
                 f"{len(diff.targets_changed)} targets changed, {len(diff.coordinates_moved)} coordinates moved, "
                 f"{diff.unchanged} unchanged")
    return lines


# --- importing: the registry in force, and the new version -------------------------------------------

@dataclass
class ImportOutcome:
    diff: RegistryDiff
    applied: dict | None = None   # version_id, applied_by, changed_periods, reassessed; None: nothing written

    def lines(self) -> list[str]:
        lines = diff_lines(self.diff)
        if self.applied is None:
            lines.append("nothing applied: add --apply to write this as a new registry version")
            return lines
        applied = self.applied
        lines.append(f"applied: registry version {applied['version_id']} (import by {applied['applied_by']}, from "
                     f"{self.diff.source_document}, valid from {self.diff.valid_from})")
        for period in applied["changed_periods"]:
            lines.append(f"target period changed: {period['section_id']} from {period['first_day']} to "
                         f"{period['last_day'] or 'open'}")
        reassessed = applied["reassessed"]
        lines.append(f"reassessed: {reassessed.get('days_reassessed', 0)} days, "
                     f"{reassessed.get('result_changed', 0)} results changed, "
                     f"{reassessed.get('kept_in_history', 0)} kept in history")
        for section in applied["reassessed_sections"]:
            lines.append(f"reassessed: {section['section_id']}: {_count(section['days'], 'day')}, "
                         f"{_count(section['months'], 'month')} ({section['first']} – {section['last']}), "
                         f"{_count(len(section['results_changed']), 'result')} changed")
            for change in section["results_changed"]:
                lines.append(f"  {change['period']} {change['period_start']}: {change['before']} → {change['after']}")
        return lines

    def as_json(self) -> dict:
        return {**self.diff.as_json(), "applied": self.applied}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def import_official_list(settings, path: str | Path, *, valid_from: date, source_document: str | None = None,
                         apply: bool = False, applied_by: str | None = None) -> ImportOutcome:
    """Read and check the list, compare it with the warehouse's registry in force at `valid_from`, and
    with `apply` write it as a new registry version and reassess the days whose target changed."""
    from warehouse import db

    official = read_official_list(path)
    engine = db.engine_for(settings.warehouse_url)
    db.migrate(engine)
    diff = compare(official, sections_in_force(valid_from), valid_from, source_document or official.path.name)
    if not apply:
        return ImportOutcome(diff)
    return ImportOutcome(diff, apply_diff(engine, official, diff, applied_by or operating_system_user(), settings))


def sections_in_force(day: date) -> pd.DataFrame:
    """The registry's sections on `day` with the target in force then (target_class '' and
    target_status 'unset' where none is): the process's registry, which db.migrate makes the
    warehouse's version in force."""
    return registry.sections(day).reset_index(drop=True)


def apply_diff(engine, official: OfficialList, diff: RegistryDiff, applied_by: str, settings) -> dict:
    from warehouse import registry_store

    applied = registry_store.apply_registry_version(
        engine, kind="import", applied_by=applied_by, source_document=diff.source_document,
        valid_from=date.fromisoformat(diff.valid_from), stations=stations_to_write(official, diff),
        withdrawn=[entry["section_id"] for entry in diff.no_longer_listed], targets=targets_to_write(diff),
        file_sha256=official.file_sha256, summary=_summary(diff))
    days = registry_store.days_to_reassess(engine, applied)
    window = (min(days).replace(day=1), max(days)) if days else None
    before = _stored_results(engine, window)
    reassessed = registry_store.reassess_changed(engine, applied, settings)
    sections = _reassessed_sections(before, _stored_results(engine, window), {p[0] for p in applied.changed_periods})
    periods = [{"section_id": sid, "first_day": str(first), "last_day": str(last) if last else None}
               for sid, first, last in applied.changed_periods]
    return {"version_id": applied.version_id, "applied_by": applied_by, "changed_periods": periods,
            "reassessed": _json_safe({key: value for key, value in reassessed.items() if key != "changed_results"}),
            "reassessed_sections": sections}


RESULT_KEY = ["station_id", "period", "period_start"]
COMPARED = ["water_class", "target_class", "target_status", "is_compliant", "status"]


def _stored_results(engine, window) -> pd.DataFrame:
    from warehouse import db

    if window is None:
        return pd.DataFrame(columns=RESULT_KEY + COMPARED)
    frame = db.assessments_between(engine, *window)
    frame = frame[frame["domain"] != "air"][RESULT_KEY + COMPARED].copy()
    frame["period_start"] = frame["period_start"].astype(str)
    return frame.astype(object).where(frame.notna(), None)


def _reassessed_sections(before: pd.DataFrame, after: pd.DataFrame, section_ids: set[str]) -> list[dict]:
    """Per section whose period changed: the periods reassessed and each result that reads differently
    now, told as pipelines.display tells it (class, target with its status, verdict)."""
    joined = after.merge(before, on=RESULT_KEY, how="left", suffixes=("", "_before"))
    joined = joined[joined["station_id"].isin(section_ids)].sort_values(["station_id", "period", "period_start"])
    out = []
    for section_id, rows in joined.groupby("station_id", sort=True):
        told = [(row, _told(row, "_before"), _told(row, "")) for row in rows.to_dict("records")]
        out.append({"section_id": section_id, "days": int((rows["period"] == "day").sum()),
                    "months": int((rows["period"] == "month").sum()),
                    "first": rows["period_start"].min(), "last": rows["period_start"].max(),
                    "results_changed": [{"period": row["period"], "period_start": row["period_start"],
                                         "before": before_text, "after": after_text}
                                        for row, before_text, after_text in told if before_text != after_text]})
    return out


def _told(row: dict, suffix: str) -> str:
    from pipelines import display

    status, target_status = row[f"status{suffix}"], row[f"target_status{suffix}"]
    return (f"{display.class_text(row[f'water_class{suffix}'], 'en', status)} against "
            f"{display.target_text(row[f'target_class{suffix}'], 'en', target_status)}: "
            f"{display.verdict_text(row[f'is_compliant{suffix}'], 'en', status, target_status)}")


def _summary(diff: RegistryDiff) -> dict:
    return {"file": diff.file, "layout": diff.layout, "cities": diff.cities, "new": len(diff.new_sections),
            "no_longer_listed": len(diff.no_longer_listed), "targets_changed": len(diff.targets_changed),
            "coordinates_moved": len(diff.coordinates_moved), "unchanged": diff.unchanged}


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


def targets_to_write(diff: RegistryDiff) -> pd.DataFrame:
    """The targets the list sets: official, from `valid_from`, the document named in the basis. A
    target already official and of the same class is left as it is (its own document stands)."""
    rows = [{"section_id": entry["section_id"], "target_class": entry["new_class"], "row": entry["row"]}
            for entry in diff.targets_changed]
    rows += [{"section_id": entry["section_id"], "target_class": entry["target_class"], "row": entry["row"]}
             for entry in diff.new_sections]
    return pd.DataFrame(
        [{"section_id": r["section_id"], "target_class": r["target_class"], "status": "official",
          "basis": f"official list {diff.source_document} (row {r['row']}), in force from {diff.valid_from}",
          "source_document": diff.source_document} for r in rows],
        columns=["section_id", "target_class", "status", "basis", "source_document"])


def stations_to_write(official: OfficialList, diff: RegistryDiff) -> pd.DataFrame:
    """The new sections, and the sections whose coordinates moved, as whole registry rows."""
    rows = [_moved_station(entry, diff) for entry in diff.coordinates_moved]
    rows += [_new_station(entry, diff) for entry in diff.new_sections]
    return pd.DataFrame(rows)


def _moved_station(entry: dict, diff: RegistryDiff) -> dict:
    """Only what moves: registry_store keeps the section's other columns as they are."""
    return {"station_id": entry["section_id"], "longitude": entry["new_longitude"], "latitude": entry["new_latitude"],
            "coordinate_basis": f"official list {diff.source_document} (row {entry['row']})"}


def city_bureau(city: str) -> str:
    """The bureau_id of the city's bureau, or '' when bureaus.csv has none."""
    return next((b.bureau_id for b in registry.bureaus().itertuples() if b.jurisdiction.endswith(f" {city}")), "")


def new_section_id(name_zh: str, water_body: str, city: str) -> str:
    """An ASCII id for a section the registry lacks: the city's bureau and a digest of its name and
    river, the same for the same section whichever list or run names it."""
    digest = hashlib.sha1(f"{name_zh}|{water_body}".encode()).hexdigest()[:8]
    return f"{city_bureau(city) or 'section'}-{digest}"


def _new_station(entry: dict, diff: RegistryDiff) -> dict:
    """A section first known from the list: what the list says, and the feed's province and basin when
    the CNEMC feed publishes it under this name, so that the feed's readings find it."""
    feed = _feed_place(entry["name_zh"], entry["city"])
    attribute = entry["attribute"]
    document = f"official list {diff.source_document} (row {entry['row']})"
    return {
        "station_id": entry["section_id"], "name_zh": entry["name_zh"], "water_body": entry["water_body"],
        "basin": feed.get("basin", ""), "province": feed.get("province") or city_provinces().get(entry["city"], ""),
        "city": entry["city"], "county": "", "station_type": _station_type(entry["water_body"]),
        "longitude": entry["longitude"], "latitude": entry["latitude"],
        "coordinate_basis": document if entry["longitude"] is not None else "UNKNOWN: the list gives none",
        "is_cross_boundary": "跨" in attribute, "boundary_kind": None, "upstream_jurisdiction": None,
        "downstream_jurisdiction": None, "responsible_bureaus": city_bureau(entry["city"]), "is_drinking_water_source": None,
        "network": attribute, "name_basis": ("CNEMC feed name; " if feed else "") + document,
        "assumptions": "; ".join(filter(None, [
            "" if entry["longitude"] is not None else "coordinates",
            "boundary kind, jurisdictions and bureaus" if "跨" in attribute else "",
            f"responsible unit as written: {entry['responsible_unit']}" if entry["responsible_unit"] else ""])),
        "source": "official list",
    }


def _station_type(water_body: str) -> str:
    return "lake-reservoir" if water_body.endswith(("水库", "湖")) else "river"


def _feed_place(name_zh: str, city: str) -> dict:
    places = pd.read_csv(FEED_PLACES_FILE, dtype=str, keep_default_na=False)
    found = places[(places["name_zh"].map(text_key) == name_zh) & (places["city"] == city)]
    return found.iloc[0].to_dict() if len(found) else {}


def operating_system_user() -> str:
    import getpass
    import os

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container's uid without a passwd entry)
        return f"uid {os.getuid()}"
