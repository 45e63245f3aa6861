"""The province and city filters of the pages that list stations at national scope (ENVMON_SCOPE=national,
issue 27). A province is the feeds' own (pipelines/reference/places.py: a section's 省份, an air
station's city's province). At beibu scope (the default) there is no province filter and the pages
keep their six-city filter as before.

A filter value is checked on the server against the stations the user may see: a province or city
outside them is refused (403), so a city bureau cannot widen its view by writing another place
into the URL or a callback's body. A city outside the province chosen is no breach: it is dropped
(the city list follows the province)."""
from __future__ import annotations

import pandas as pd
from werkzeug.exceptions import Forbidden

from pipelines import scope as envmon_scope
from pipelines.reference import places as reference_places


def national() -> bool:
    return envmon_scope.national()


def with_provinces(stations: pd.DataFrame) -> pd.DataFrame:
    """`stations` with a `province` column (the feeds' own, '' where unknown)."""
    return stations.assign(province=reference_places.provinces_of(stations).to_numpy())


def chosen(visible: pd.DataFrame, province: str | None, city: str | None) -> tuple[str | None, str | None]:
    """The province and city asked for, each one that `visible` (the user's stations, with provinces)
    holds; one it does not hold is refused with a 403."""
    province, city = province or None, city or None
    if province is not None and province not in set(visible["province"]):
        raise Forbidden(f"province {province!r} is outside the stations this user may see")
    if city is not None and city not in set(visible["city"]):
        raise Forbidden(f"city {city!r} is outside the stations this user may see")
    if province is not None and city is not None and not ((visible["province"] == province)
                                                          & (visible["city"] == city)).any():
        city = None   # the city list follows the province: a city of another province is dropped
    return province, city


def narrowed(visible: pd.DataFrame, province: str | None, city: str | None) -> pd.DataFrame:
    """The stations of the province and city chosen (None: all the user may see)."""
    keep = pd.Series(True, index=visible.index)
    if province:
        keep &= visible["province"] == province
    if city:
        keep &= visible["city"] == city
    return visible[keep]


def province_options(visible: pd.DataFrame, all_label: str) -> list[dict]:
    provinces = sorted(p for p in set(visible["province"]) if p)
    return [{"label": all_label, "value": ""}] + [{"label": p, "value": p} for p in provinces]


def city_options(visible: pd.DataFrame, province: str | None, all_label: str, name=lambda c: c) -> list[dict]:
    shown = visible if not province else visible[visible["province"] == province]
    cities = sorted(c for c in set(shown["city"].fillna("")) if c)
    return [{"label": all_label, "value": ""}] + [{"label": name(c), "value": c} for c in cities]
