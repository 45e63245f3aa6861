"""The province of each station (issue 27's national scope: the app's province and city filters).

A water section carries its own: the CNEMC water feed's 省份, kept in the registry (sections.csv,
registry_stations.province of an adopted section). An air station carries only its city (the air feed's
`area`), so its province is its city's, from data/city_provinces.csv: every `area` of the real national
air hour (../shared/reference/formats/cnemc-air/national-hourly-2026-03-15T12.csv, 341 names) with its
province and 6-digit administrative code, as the administrative-division table shipped in the PyPI
package cpca 0.5.5 (resources/adcodes.csv, MIT) gives them: the name matched at province level first,
then prefecture, then county (five county-level cities the feed names as areas); one name the table
spells otherwise (那曲市, its 那曲地区 until 2017) says so in its basis. A city in neither reads ''.
"""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

from pipelines.reference import registry

CITY_PROVINCES_FILE = registry.DATA_DIR / "city_provinces.csv"


@lru_cache(maxsize=1)
def city_provinces() -> dict[str, str]:
    """City (as the feeds name it) → province."""
    table = pd.read_csv(CITY_PROVINCES_FILE, dtype=str, keep_default_na=False)
    return dict(zip(table["city"], table["province"]))


def provinces_of(stations: pd.DataFrame) -> pd.Series:
    """The province of each row of `stations` (columns station_id, city): a section's own (the
    registry's province, from the water feed), else its city's (city_provinces.csv), else ''."""
    sections = registry.sections()
    own = dict(zip(sections["section_id"], sections["province"].fillna("")))
    by_section = stations["station_id"].map(own)
    by_city = stations["city"].fillna("").map(city_provinces())
    province = by_section.where(by_section.fillna("").astype(str).str.len() > 0, by_city)
    return province.fillna("").astype(str)
