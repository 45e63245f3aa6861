"""`envmon registry check`: the registry files (pipelines/reference/data/sections.csv,
air_stations.csv, bureaus.csv) checked as a whole, so that a bureau's correction cannot break the
alerts or the assessments unseen. Each problem names its file, its row and what is wrong."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.reference import registry

# Extents of the two provinces (lon min, lon max, lat min, lat max), islands included: Guangxi
# 104°28′–112°04′E, 20°54′–26°24′N; Guangdong 109°39′–117°19′E, 20°13′–25°31′N (the provinces'
# published geographic extents). A coordinate outside its province's box is a typo or a swap.
PROVINCE_BOUNDS = {
    "广西壮族自治区": (104.46, 112.07, 20.90, 26.40),
    "广东省": (109.65, 117.32, 20.21, 25.52),
}
SURFACE_WATER_CLASSES = {"Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ"}             # GB 3838-2002
SEAWATER_CLASSES = {"一类", "二类", "三类", "四类"}                 # GB 3097-1997
STATION_TYPES = {"river": SURFACE_WATER_CLASSES, "lake-reservoir": SURFACE_WATER_CLASSES, "sea": SEAWATER_CLASSES}
BOUNDARY_KINDS = {"national", "provincial", "city", "county"}
AIR_PROVINCE = "广西壮族自治区"  # the six cities of the cluster


@dataclass(frozen=True)
class Problem:
    file: str
    row: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.row}: {self.message}"


def _read(data_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(Path(data_dir) / name, dtype=str, keep_default_na=False)


def check_registry(data_dir: Path = registry.DATA_DIR) -> list[Problem]:
    """Every problem of the registry files in `data_dir`; an empty list when they are sound."""
    sections, air, bureaus = (_read(data_dir, n) for n in ("sections.csv", "air_stations.csv", "bureaus.csv"))
    problems = _unique(sections, "sections.csv", "section_id") + _unique(air, "air_stations.csv", "station_id")
    problems += _unique(bureaus, "bureaus.csv", "bureau_id")
    shared = sorted(set(sections["section_id"]) & set(air["station_id"]))
    problems += [Problem("air_stations.csv", sid, "the id is also a section's: station ids must be unique across "
                                                  "the registry") for sid in shared]
    for row in sections.to_dict("records"):
        where = row["section_id"] or "(no id)"
        problems += [Problem("sections.csv", where, m) for m in _coordinates(row, row.get("province", ""))]
        allowed = STATION_TYPES.get(row["station_type"])
        if allowed is None:
            problems.append(Problem("sections.csv", where, f"station_type {row['station_type']!r} is not one of "
                                                           f"{sorted(STATION_TYPES)}"))
        elif row["target_class"] == "" and row.get("target_basis", "").startswith("UNSET"):
            pass  # no target (issue 23): classes without a verdict, never a default class
        elif row["target_class"] not in allowed:
            problems.append(Problem("sections.csv", where, f"target class {row['target_class']!r} is not a "
                                                           f"{row['station_type']} class ({'/'.join(sorted(allowed))})"))
        if row.get("is_cross_boundary") == "true":
            problems += [Problem("sections.csv", where, m) for m in _cross_boundary(row, bureaus)]
        elif row.get("is_cross_boundary") != "false":
            problems.append(Problem("sections.csv", where, f"is_cross_boundary {row.get('is_cross_boundary')!r} "
                                                           "is not true or false"))
        problems += [Problem("sections.csv", where, f"names unknown bureau {b!r}")
                     for b in _bureau_ids(row) if b not in set(bureaus["bureau_id"])
                     and row.get("is_cross_boundary") != "true"]
    problems += _seed_targets(data_dir, sections)
    for row in air.to_dict("records"):
        where = row["station_id"] or "(no id)"
        problems += [Problem("air_stations.csv", where, m) for m in _coordinates(row, AIR_PROVINCE)]
        if not row.get("city"):
            problems.append(Problem("air_stations.csv", where, "no city"))
    for row in bureaus.to_dict("records"):
        if "@" not in row.get("email", ""):
            problems.append(Problem("bureaus.csv", row["bureau_id"] or "(no id)", "no e-mail address"))
    return problems


def _seed_targets(data_dir: Path, sections: pd.DataFrame) -> list[Problem]:
    """section_targets.csv (the seed of the targets by period, issue 23) against sections.csv: one
    row in force today per section with the class sections.csv gives; an ASSUMED basis is never
    official; an unset target has no class."""
    name = "section_targets.csv"
    path = Path(data_dir) / name
    if not path.is_file():
        return [Problem(name, "(file)", "missing: every section's target by period is kept there")]
    frame = _read(data_dir, name)
    problems = [Problem(name, f"line {i + 2}", f"status {s!r} is not official, assumed or unset")
                for i, s in enumerate(frame["status"]) if s not in ("official", "assumed", "unset")]
    problems += [Problem(name, f"line {i + 2}", "an unset target has no class; a class needs official or assumed")
                 for i, (klass, status) in enumerate(zip(frame["target_class"], frame["status"]))
                 if (status == "unset") != (klass == "")]
    seed = frame[frame["valid_to"] == ""].set_index("section_id")
    for row in sections.to_dict("records"):
        where = row["section_id"] or "(no id)"
        if where not in seed.index:
            problems.append(Problem(name, where, "no open-ended target row (unset, if none is known)"))
            continue
        target = seed.loc[where]
        if isinstance(target, pd.DataFrame):
            problems.append(Problem(name, where, "more than one open-ended target row"))
            continue
        if target["target_class"] != row["target_class"]:
            problems.append(Problem(name, where, f"target class {target['target_class']!r} where sections.csv has "
                                                 f"{row['target_class']!r}"))
        if target["status"] == "official" and row.get("target_basis", "").startswith("ASSUMED"):
            problems.append(Problem(name, where, "official, where sections.csv says the target is ASSUMED"))
    return problems


def _unique(frame: pd.DataFrame, name: str, column: str) -> list[Problem]:
    problems = [Problem(name, f"line {i + 2}", f"no {column}") for i, v in enumerate(frame[column]) if not v.strip()]
    repeated = frame[column][frame[column].duplicated() & frame[column].str.strip().ne("")]
    return problems + [Problem(name, value, f"{column} appears more than once") for value in sorted(set(repeated))]


def _coordinates(row: dict, province: str) -> list[str]:
    bounds = PROVINCE_BOUNDS.get(province)
    if bounds is None:
        return [f"province {province!r} is not Guangxi or Guangdong"]
    try:
        longitude, latitude = float(row["longitude"]), float(row["latitude"])
    except ValueError:
        return [f"coordinates ({row['longitude']!r}, {row['latitude']!r}) are not numbers"]
    west, east, south, north = bounds
    if not (west <= longitude <= east and south <= latitude <= north):
        return [f"coordinates {longitude:g}E {latitude:g}N lie outside {province} "
                f"({west:g}–{east:g}E, {south:g}–{north:g}N)"]
    return []


def _bureau_ids(row: dict) -> list[str]:
    return [b for b in row.get("responsible_bureaus", "").split(";") if b.strip()]


def _cross_boundary(row: dict, bureaus: pd.DataFrame) -> list[str]:
    """A cross-boundary section names its kind, both jurisdictions and the bureaus its alerts go to."""
    problems = []
    if row.get("boundary_kind") not in BOUNDARY_KINDS:
        problems.append(f"cross-boundary, but boundary_kind {row.get('boundary_kind')!r} is not one of "
                        f"{sorted(BOUNDARY_KINDS)}")
    for side in ("upstream_jurisdiction", "downstream_jurisdiction"):
        if not row.get(side, "").strip():
            problems.append(f"cross-boundary, but no {side}")
    ids = _bureau_ids(row)
    if not ids:
        problems.append("cross-boundary, but no responsible bureaus")
    known = set(bureaus["bureau_id"])
    problems += [f"cross-boundary, names unknown bureau {b!r}" for b in ids if b not in known]
    return problems


def summary_line(problems: list[Problem], data_dir: Path = registry.DATA_DIR) -> str:
    sections, air, bureaus = (_read(data_dir, n) for n in ("sections.csv", "air_stations.csv", "bureaus.csv"))
    counted = (f"{len(sections)} sections and points ({(sections['is_cross_boundary'] == 'true').sum()} cross-boundary), "
               f"{len(air)} air stations, {len(bureaus)} bureaus")
    return f"registry check: {'ok' if not problems else f'{len(problems)} problems'}: {counted}"
