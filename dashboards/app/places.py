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


ALL = "*"   # 'every province', chosen as such where a page's default is the user's own (the Air page)


def national() -> bool:
    return envmon_scope.national()


def with_provinces(stations: pd.DataFrame) -> pd.DataFrame:
    """`stations` with a `province` column (the feeds' own, '' where unknown)."""
    return stations.assign(province=reference_places.provinces_of(stations).to_numpy())


def chosen(visible: pd.DataFrame, province: str | None, city: str | None) -> tuple[str | None, str | None]:
    """The province and city asked for, each one that `visible` (the user's stations, with provinces)
    holds; one it does not hold is refused with a 403."""
    province, city = (None if province in (None, "", ALL) else province), city or None
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


def province_options(visible: pd.DataFrame, all_label: str, all_value: str = "") -> list[dict]:
    provinces = sorted(p for p in set(visible["province"]) if p)
    return [{"label": all_label, "value": all_value}] + [{"label": p, "value": p} for p in provinces]


def home_province(user, visible: pd.DataFrame) -> str | None:
    """The province a page opens on for `user` when none is chosen: their bureau's (bureaus.csv's
    jurisdiction, its first word), where the user's stations `visible` have some there; else the first
    of theirs in order; None where they span one province or none."""
    from pipelines.reference import registry

    provinces = sorted(p for p in set(visible["province"]) if p)
    if len(provinces) <= 1:
        return None
    bureaus = registry.bureaus()
    own = bureaus.loc[user.bureau, "jurisdiction"].split()[0] if user.bureau in bureaus.index else None
    return own if own in provinces else provinces[0]


def city_options(visible: pd.DataFrame, province: str | None, all_label: str, name=lambda c: c) -> list[dict]:
    shown = visible if not province else visible[visible["province"] == province]
    cities = sorted(c for c in set(shown["city"].fillna("")) if c)
    return [{"label": all_label, "value": ""}] + [{"label": name(c), "value": c} for c in cities]


# ---- the filters as a page lays them out and its callback reads them (one implementation for every page) ----

def place(context, keep=None) -> tuple[pd.DataFrame, str | None, str | None]:
    """The stations the page lists among the user's (`keep`: a boolean mask over context.visible, None:
    all), with their provinces, and the province and city asked for in the page's params (a 403
    outside them: `chosen`). Worked out once per context and `keep` (a page asks for it from each of
    its tables and figures)."""
    memo = context.__dict__.setdefault("_places", {})
    key = (keep, context.param("province"), context.param("city"))
    if key not in memo:
        visible = context.visible if keep is None else context.visible[keep(context.visible).to_numpy(dtype=bool)]
        visible = with_provinces(visible)
        memo[key] = (visible, *chosen(visible, context.param("province"), context.param("city")))
    return memo[key]


def cities_of(visible: pd.DataFrame, province: str | None, lang: str) -> list[dict]:
    """The city list of the province chosen, in the page's language."""
    from dashboards.app.data import city_name
    from dashboards.app.i18n import t

    return city_options(visible, province, t("all_cities", lang), lambda c: city_name(c, lang))


def filter_dropdowns(prefix: str, visible: pd.DataFrame, province: str | None, city: str | None, lang: str,
                     all_value: str = "") -> list:
    """The province and city dropdowns (ids `{prefix}-province`, `{prefix}-city`) of a page at national
    scope: the provinces and cities of `visible` (the page's stations among the user's). `all_value`:
    the value of 'every province' (ALL on a page that opens on the user's own province)."""
    from dash import dcc, html

    from dashboards.app.i18n import t

    return [
        html.Label([t("province", lang), dcc.Dropdown(
            id=f"{prefix}-province", options=province_options(visible, t("all_provinces", lang), all_value),
            value=province or all_value, clearable=False, style={"width": "200px"})]),
        html.Label([t("city", lang), dcc.Dropdown(
            id=f"{prefix}-city", options=cities_of(visible, province, lang), value=city or "", clearable=False,
            style={"width": "200px"})]),
    ]


def filter_inputs(prefix: str) -> list:
    """The dropdowns as a callback's last Inputs (after the page's own): none at beibu scope."""
    from dash import Input

    return [Input(f"{prefix}-province", "value"), Input(f"{prefix}-city", "value")] if national() else []


def filter_outputs(prefix: str) -> list:
    """The city list as a callback's Output (it follows the province): none at beibu scope."""
    from dash import Output

    return [Output(f"{prefix}-city", "options")] if national() else []


def take(params: dict, values) -> None:
    """Put the dropdowns' values, as the callback received them (filter_inputs), into the page's params."""
    if values:
        province, city = values
        params.update(province=province or None, city=city or None)


def answered(context, params: dict, keep=None) -> list:
    """At national scope: the province and city the page was drawn with (a 403 outside the user's
    stations; a city of another province dropped) put back into `params`, and the city list to answer
    (filter_outputs); at beibu scope nothing."""
    if not national():
        return []
    visible, province, city = place(context, keep)
    params.update(province=province, city=city)
    return [cities_of(visible, province, context.lang)]
