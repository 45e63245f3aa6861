"""The monitoring network: surface-water sections, coastal points, air stations and bureaus.

The rows live in pipelines/reference/data/*.csv so that a bureau corrects a name, a target or an
assumption in one place. Every row that is not official says so in `assumptions`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).parent / "data"

WATER_STATION_TYPES = ("river", "lake-reservoir")
SEA_STATION_TYPE = "sea"
AIR_STATION_TYPE = "air"


@cache
def sections() -> pd.DataFrame:
    """Surface-water sections and coastal points, one row each, indexed by section_id."""
    frame = pd.read_csv(DATA_DIR / "sections.csv", dtype=str, keep_default_na=False)
    frame["longitude"] = frame["longitude"].astype(float)
    frame["latitude"] = frame["latitude"].astype(float)
    frame["is_cross_boundary"] = frame["is_cross_boundary"].eq("true")
    frame["is_drinking_water_source"] = frame["is_drinking_water_source"].eq("true")
    if frame["section_id"].duplicated().any():
        raise ValueError("sections.csv has duplicate section_id values")
    return frame.set_index("section_id", drop=False)


@cache
def air_stations() -> pd.DataFrame:
    frame = pd.read_csv(DATA_DIR / "air_stations.csv", dtype=str, keep_default_na=False)
    frame["longitude"] = frame["longitude"].astype(float)
    frame["latitude"] = frame["latitude"].astype(float)
    return frame.set_index("station_id", drop=False)


@cache
def bureaus() -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "bureaus.csv", dtype=str, keep_default_na=False).set_index(
        "bureau_id", drop=False
    )


def water_sections() -> pd.DataFrame:
    frame = sections()
    return frame[frame["station_type"].isin(WATER_STATION_TYPES)]


def cnemc_water_sections() -> pd.DataFrame:
    """Sections published by the CNEMC surface-water feed, matched there by province, basin and name."""
    frame = water_sections()
    return frame[frame["name_basis"].str.startswith("CNEMC feed name")]


def sea_points() -> pd.DataFrame:
    frame = sections()
    return frame[frame["station_type"] == SEA_STATION_TYPE]


def water_body_type(section_id: str) -> str:
    """'lake' for lakes and reservoirs (their own TP limits in GB 3838), else 'river'."""
    return "lake" if sections().loc[section_id, "station_type"] == "lake-reservoir" else "river"


@dataclass(frozen=True)
class Recipient:
    bureau_id: str
    name_zh: str
    email: str


def responsible_bureaus(section_id: str) -> list[Recipient]:
    ids = [b for b in sections().loc[section_id, "responsible_bureaus"].split(";") if b]
    table = bureaus()
    unknown = [b for b in ids if b not in table.index]
    if unknown:
        raise KeyError(f"section {section_id} names unknown bureaus {unknown}")
    return [Recipient(b, table.loc[b, "name_zh"], table.loc[b, "email"]) for b in ids]


def all_stations() -> pd.DataFrame:
    """One table of every station the warehouse knows, the columns they share."""
    water = sections()[
        ["section_id", "name_zh", "water_body", "city", "county", "station_type", "longitude",
         "latitude", "target_class", "is_cross_boundary", "boundary_kind", "upstream_jurisdiction",
         "downstream_jurisdiction", "responsible_bureaus", "assumptions"]
    ].rename(columns={"section_id": "station_id"})
    air = air_stations()[
        ["station_id", "name_zh", "city", "county", "station_type", "longitude", "latitude", "assumptions"]
    ].copy()
    air["water_body"] = ""
    air["target_class"] = ""
    air["is_cross_boundary"] = False
    for column in ("boundary_kind", "upstream_jurisdiction", "downstream_jurisdiction", "responsible_bureaus"):
        air[column] = ""
    return pd.concat([water, air[water.columns]], ignore_index=True)
