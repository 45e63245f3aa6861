"""Overview: the map of sections by their latest assessed class against target, and the KPIs of
each city. Each domain (surface water, coastal waters, air) is shown on its own latest day with
assessed data, stated beside its figures: the feeds do not run together (real water CSVs may end
years before the air feed does), and one domain's day must not blank another's. A day that holds
only 'insufficient data' rows is never a domain's latest day."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from dash import Input, Output, State, dcc, html

from dashboards.app import components, figures, places
from dashboards.app.data import RequestMemo, city_name, parse_day
from dashboards.app.i18n import t
from pipelines import clock, display

WORST_SURFACE = "劣Ⅴ"
GOOD_SURFACE = ("Ⅰ", "Ⅱ", "Ⅲ")
SIX_CITIES = ("南宁市", "北海市", "防城港市", "钦州市", "玉林市", "崇左市")
DOMAINS = ("surface_water", "seawater", "air")
DAY_IDS = {"surface_water": "latest-day-water", "seawater": "latest-day-sea", "air": "latest-day-air"}


def latest_days(context) -> dict[str, date | None]:
    """Each domain's latest day with assessed data, for the stations the user may see."""
    return {domain: context.warehouse.latest_assessed_day(domain, context.scope.key) for domain in DOMAINS}


def latest_day(context) -> date | None:
    """The newest of the domains' latest days: the furthest the 'as of' picker goes."""
    days = [day for day in latest_days(context).values() if day]
    return max(days) if days else None


def _day(context) -> date | None:
    """The 'as of' day chosen (default: the newest day of any domain)."""
    latest = latest_day(context)
    chosen = parse_day(context.param("day"), latest)
    return min(chosen, latest) if chosen and latest else chosen


def domain_days(context, as_of: date | None = None) -> dict[str, date | None]:
    """The day each domain is shown on: its own latest assessed day, or the day chosen where that
    is earlier."""
    as_of = as_of or _day(context)
    return {domain: (min(as_of, latest) if as_of and latest else latest)
            for domain, latest in latest_days(context).items()}


def _stations(context, city: str | None) -> pd.DataFrame:
    visible = context.visible
    return visible if not city else visible[visible["city"] == city]


def _day_text(day: date | None, lang: str = "zh") -> str:
    return str(day) if day else display.word("no_data", lang)


def map_figure(context, as_of: date | None, city: str | None) -> dict:
    days = domain_days(context, as_of)
    water_day, sea_day = days["surface_water"], days["seawater"]
    if water_day is None and sea_day is None:
        return figures.empty(t("no_data", context.lang), 600)
    stations = _stations(context, city)
    frames = [context.warehouse.latest_assessments(domain, day, context.scope.key)
              for domain, day in (("surface_water", water_day), ("seawater", sea_day)) if day]
    latest = pd.concat(frames, ignore_index=True)
    days_text = t("map_days", context.lang).format(water=_day_text(water_day, context.lang),
                                                   sea=_day_text(sea_day, context.lang))
    return figures.section_map(stations, latest, context.lang, city or context.scope.city, water_day or sea_day,
                               days_text)


def kpi_table(context, as_of: date | None = None, city: str | None = None) -> pd.DataFrame:
    """One row per city: share of sections at Ⅰ–Ⅲ and the 劣Ⅴ count (latest assessed class), the
    cross-boundary sections compliant this month so far, the day's AQI range over its stations and the
    share of 优良 station-days this year. Counts of stored verdicts, no verdict made here. The water
    columns are of surface water's day, the air columns of air's: each heading names its day."""
    lang = context.lang
    days = domain_days(context, as_of)
    day, air_day = days["surface_water"], days["air"]
    year = (air_day or day or clock.today()).year
    columns = [t("city", lang), f"{t('kpi_share_good', lang)} · {_day_text(day, lang)}",
               f"{t('kpi_worst', lang)} · {_day_text(day, lang)}",
               f"{t('kpi_cross_mtd', lang)} · {day.strftime('%Y-%m') if day else display.word('no_data', lang)}",
               f"{t('kpi_aqi', lang)} · {_day_text(air_day, lang)}",
               f"{t('kpi_good_days_year', lang).format(year=year)} · {_day_text(air_day, lang)}"]
    if day is None and air_day is None:
        return pd.DataFrame(columns=columns)
    visible = _stations(context, city)
    names = visible.set_index("station_id")

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame["station_id"].isin(names.index)]
        return frame.assign(city=frame["station_id"].map(names["city"]))

    if day:
        water = mine(context.warehouse.latest_assessments("surface_water", day, context.scope.key))
        month = mine(context.warehouse.assessments_between(day.replace(day=1), day.replace(day=1), context.scope.key,
                                                           "surface_water", "month"))
    else:
        water = pd.DataFrame(columns=["station_id", "water_class", "city"])
        month = pd.DataFrame(columns=["station_id", "status", "is_compliant", "city"])
    if air_day:
        air = mine(context.warehouse.assessments_between(air_day, air_day, context.scope.key, "air",
                                                         assessed_only=True))
        counts = mine(context.warehouse.air_day_counts(date(air_day.year, 1, 1), air_day, context.scope.key))
    else:
        air = pd.DataFrame(columns=["station_id", "aqi", "city"])
        counts = pd.DataFrame(columns=["station_id", "days_assessed", "days_good", "city"])
    no_data = display.word("no_data", lang)
    cities = [c for c in SIX_CITIES if c in set(visible["city"])]
    rows = []
    for name in cities:
        sections = water[(water["city"] == name) & water["water_class"].map(lambda c: not display.is_missing(c))]
        crossing = month[(month["city"] == name) & (month["status"] == "assessed")]
        aqi = air[air["city"] == name]["aqi"].dropna()
        good = counts[counts["city"] == name]
        assessed_days = int(good["days_assessed"].fillna(0).sum())
        good_days = int(good["days_good"].fillna(0).sum())
        good_share = sections["water_class"].isin(GOOD_SURFACE)
        rows.append({
            columns[0]: city_name(name, lang),
            columns[1]: f"{good_share.mean():.0%} ({int(good_share.sum())}/{len(sections)})" if len(sections) else no_data,
            columns[2]: int((sections["water_class"] == WORST_SURFACE).sum()) if len(sections) else no_data,
            columns[3]: f"{int((crossing['is_compliant'] == True).sum())}/{len(crossing)}" if len(crossing) else no_data,  # noqa: E712
            columns[4]: f"{int(aqi.min())}–{int(aqi.max())} ({len(aqi)})" if len(aqi) else no_data,
            columns[5]: f"{good_days / assessed_days:.1%} ({good_days}/{assessed_days})" if assessed_days else no_data,
        })
    return pd.DataFrame(rows, columns=columns)


def cross_boundary_today(context, as_of: date | None = None, city: str | None = None,
                         shown: pd.DataFrame | None = None) -> pd.DataFrame:
    """The cross-boundary sections on surface water's day: class, verdict and the day it is of,
    failing items as a bulletin writes them; 无数据 where a section has no assessed day in the month
    before it. Failing sections first."""
    lang = context.lang
    day = domain_days(context, as_of)["surface_water"]
    columns = [t("col_section", lang), t("class", lang), t("target", lang), t("status", lang), t("failing_items", lang),
               t("upstream", lang), t("downstream", lang), t("col_section_id", lang)]
    if day is None:
        return pd.DataFrame(columns=columns)
    visible = _stations(context, city) if shown is None else shown
    if shown is None:
        crossing = visible[visible["is_cross_boundary"].astype(bool) & visible["station_type"].isin(["river", "lake-reservoir"])]
    else:
        crossing = visible[visible["is_cross_boundary"].fillna(False).astype(bool).to_numpy()
                           & _among(visible["station_type"], ["river", "lake-reservoir"]).to_numpy()]
    latest = context.warehouse.latest_assessments("surface_water", day, context.scope.key).set_index("station_id")
    rows = []
    for _, section in crossing.iterrows():
        row = latest.loc[section["station_id"]] if section["station_id"] in latest.index else None
        water_class = None if row is None else row["water_class"]
        if row is None or display.is_missing(water_class):
            status = display.word("no_data", lang)
        else:
            status = (f"{display.verdict_text(row['is_compliant'], lang, row['status'], display.target_status_of(row))}"
                      f" · {row['period_start']}")
        rows.append({columns[0]: f"{section['name_zh']} ({section['water_body']})",
                     columns[1]: display.class_text(water_class, lang), columns[2]: display.target_text(section["target_class"], lang, display.target_status_of(row)),
                     columns[3]: status,
                     columns[4]: "" if row is None else figures.failing_text(row["failing_parameters"], lang),
                     columns[5]: display.text_or_dash(section["upstream_jurisdiction"]),
                     columns[6]: display.text_or_dash(section["downstream_jurisdiction"]),
                     columns[7]: section["station_id"]})
    frame = pd.DataFrame(rows, columns=columns)
    failing = frame[columns[3]].str.startswith(display.word("failed", lang))
    return pd.concat([frame[failing], frame[~failing]], ignore_index=True)  # failing sections first


def _city_param(context) -> str | None:
    city = context.param("city")
    if context.scope.city:  # a city bureau sees its own city (and the shared sections)
        return None if city != context.scope.city else city
    return city if city in SIX_CITIES else None


def render(context, rest):
    if places.national():
        return render_national(context, rest)
    lang = context.lang
    latest = latest_day(context)
    day = _day(context)
    days = domain_days(context, day)
    city = _city_param(context)
    first, _ = context.warehouse.assessed_day_range(context.scope.key)
    options = [{"label": t("all_cities", lang), "value": ""}] + [
        {"label": city_name(c, lang), "value": c} for c in SIX_CITIES if c in set(context.visible["city"])]
    stated = [f"{t('latest_days', lang)}: "]
    for domain in DOMAINS:
        stated += [t(f"domain_{domain}", lang) + " ", html.B(_day_text(days[domain], lang), id=DAY_IDS[domain]),
                   " · " if domain != DOMAINS[-1] else ""]
    filters = html.Div([
        html.Label([t("as_of", lang), dcc.DatePickerSingle(id="overview-day", date=day, min_date_allowed=first,
                                                           max_date_allowed=latest, display_format="YYYY-MM-DD")]),
        html.Label([t("city", lang), dcc.Dropdown(id="overview-city", options=options, value=city or "",
                                                  clearable=False, style={"width": "200px"})]),
        html.Span(stated, className="hint", id="latest-days"),
    ], className="filters")
    return _laid_out(filters, days, "kpi_title", context)


def register(app, current_context) -> None:
    if places.national():
        return register_national(app, current_context)
    # draws the page when it opens (the route only lays it out) and again at each change of a filter
    @app.callback(Output("overview-map", "figure"), *components.table_targets("overview-kpi"),
                  *components.table_targets("overview-cross"), Output("url", "search", allow_duplicate=True),
                  Input("overview-day", "date"), Input("overview-city", "value"), State("url", "search"),
                  prevent_initial_call="initial_duplicate")
    def update(day, city, search):
        params = components.parse_search(search)
        params.update(day=(day or "")[:10] or None, city=city or None)
        context = current_context(params)
        chosen = _day(context)
        city = _city_param(context)
        crossing = cross_boundary_today(context, chosen, city).drop(columns=[t("col_section_id", context.lang)])
        return (map_figure(context, chosen, city),
                *components.table_outputs("overview-kpi", kpi_table(context, chosen, city), "overview/kpi", context),
                *components.table_outputs("overview-cross", crossing, "overview/cross", context),
                components.search_string(params))


# ---- national scope (ENVMON_SCOPE=national, issue 27): province and city filters, a national map ----
# The Overview of ~3,500 stations stays one quick callback: the map draws the air stations as one
# scatter per AQI level (no labels to place) and the sections, which the water feed publishes
# without coordinates, as counts by class per province (per city once a province is chosen); the KPI
# table has one row per province (per city of the province chosen), counted set-wise.

def national_place(context) -> tuple[pd.DataFrame, str | None, str | None]:
    """The user's stations with their provinces, and the province and city chosen (refused with a 403
    where outside them: dashboards/app/places.py)."""
    return places.place(context)


def _among(series: pd.Series, values) -> pd.Series:
    """series.isin(values), by one bulk conversion and a set (pandas' isin on Arrow strings converts
    each value on its own: a quarter of the national Overview's time)."""
    values = set(values)
    return pd.Series([v in values for v in series.to_numpy(dtype=object)], index=series.index, dtype=bool)


def _scoped(frame: pd.DataFrame, shown: pd.DataFrame, column: str) -> pd.DataFrame:
    """`frame`'s rows of the stations `shown`, with the station's `column` (province or city) as `group`."""
    groups = dict(zip(shown["station_id"].to_numpy(dtype=object), shown[column].to_numpy(dtype=object)))
    group = pd.Series([groups.get(s) for s in frame["station_id"].to_numpy(dtype=object)], index=frame.index,
                      dtype=object)
    found = group.notna().to_numpy(dtype=bool)
    return frame[found].assign(group=group[found])


def national_map(context, as_of: date | None, shown: pd.DataFrame, province: str | None) -> dict:
    days = domain_days(context, as_of)
    water_day, air_day = days["surface_water"], days["air"]
    if water_day is None and air_day is None:
        return figures.empty(t("no_data", context.lang), 600)
    column = "city" if province else "province"
    air = shown[(shown["station_type"] == "air").to_numpy()]
    aqi = context.warehouse.assessments_between(air_day, air_day, context.scope.key, "air", assessed_only=True) \
        if air_day else pd.DataFrame(columns=["station_id", "aqi"])
    air = air.assign(aqi=air["station_id"].map(aqi.drop_duplicates("station_id").set_index("station_id")["aqi"]))
    water = context.warehouse.latest_assessments("surface_water", water_day, context.scope.key) if water_day \
        else pd.DataFrame(columns=["station_id", "water_class"])
    sections = shown[_among(shown["station_type"], ["river", "lake-reservoir"])]
    classes = sections[["station_id", column]].rename(columns={column: "group"}).assign(
        water_class=sections["station_id"].map(water.set_index("station_id")["water_class"]))
    days_text = t("national_map_days", context.lang).format(water=_day_text(water_day, context.lang),
                                                            air=_day_text(air_day, context.lang))
    return figures.national_map(air, classes, context.lang, days_text)


def national_kpi_table(context, as_of: date | None, shown: pd.DataFrame, province: str | None) -> pd.DataFrame:
    """kpi_table's columns, one row per province (per city once a province is chosen), counted set-wise."""
    lang = context.lang
    days = domain_days(context, as_of)
    day, air_day = days["surface_water"], days["air"]
    year = (air_day or day or clock.today()).year
    column = "city" if province else "province"
    columns = [t(column, lang), f"{t('kpi_share_good', lang)} · {_day_text(day, lang)}",
               f"{t('kpi_worst', lang)} · {_day_text(day, lang)}",
               f"{t('kpi_cross_mtd', lang)} · {day.strftime('%Y-%m') if day else display.word('no_data', lang)}",
               f"{t('kpi_aqi', lang)} · {_day_text(air_day, lang)}",
               f"{t('kpi_good_days_year', lang).format(year=year)} · {_day_text(air_day, lang)}"]
    if day is None and air_day is None:
        return pd.DataFrame(columns=columns)
    key = context.scope.key
    no_data = display.word("no_data", lang)
    groups = sorted(g for g in set(shown[column].fillna("")) if g)
    cells: dict[str, dict] = {heading: {} for heading in columns[1:]}

    def put(heading: str, values: pd.Series) -> None:
        cells[heading].update(values.to_dict())

    if day:
        water = _scoped(context.warehouse.latest_assessments("surface_water", day, key), shown, column)
        water = water[np.array([not display.is_missing(c) for c in water["water_class"]], dtype=bool)]
        by = water.assign(good=_among(water["water_class"], GOOD_SURFACE),
                          worst=water["water_class"] == WORST_SURFACE).groupby("group")
        good, total, worst = by["good"].sum(), by.size(), by["worst"].sum()
        put(columns[1], pd.Series({g: f"{int(good[g]) / int(total[g]):.0%} ({int(good[g])}/{int(total[g])})"
                                   for g in total.index}))
        put(columns[2], worst.astype(int))
        month = _scoped(context.warehouse.assessments_between(day.replace(day=1), day.replace(day=1), key,
                                                              "surface_water", "month"), shown, column)
        month = month[month["status"] == "assessed"]
        by = month.assign(met=month["is_compliant"] == True).groupby("group")  # noqa: E712
        met, total = by["met"].sum(), by.size()
        put(columns[3], pd.Series({g: f"{int(met[g])}/{int(total[g])}" for g in total.index}))
    if air_day:
        air = _scoped(context.warehouse.assessments_between(air_day, air_day, key, "air", assessed_only=True),
                      shown, column).dropna(subset=["aqi"])
        ranges = air.groupby("group")["aqi"].agg(["min", "max", "size"])
        put(columns[4], pd.Series({g: f"{int(r['min'])}–{int(r['max'])} ({int(r['size'])})"
                                   for g, r in ranges.iterrows()}))
        counts = _scoped(context.warehouse.air_day_counts(date(air_day.year, 1, 1), air_day, key), shown, column)
        sums = counts.groupby("group")[["days_assessed", "days_good"]].sum()
        put(columns[5], pd.Series({g: f"{int(r.days_good) / int(r.days_assessed):.1%} ({int(r.days_good)}/"
                                   f"{int(r.days_assessed)})" for g, r in sums.iterrows() if int(r.days_assessed)}))
    rows = [{columns[0]: city_name(g, lang) if column == "city" else g,
             **{heading: cells[heading].get(g, no_data) for heading in columns[1:]}} for g in groups]
    return pd.DataFrame(rows, columns=columns)


def render_national(context, rest):
    lang = context.lang
    latest = latest_day(context)
    day = _day(context)
    days = domain_days(context, day)
    visible, province, city = national_place(context)
    first, _ = context.warehouse.assessed_day_range(context.scope.key)
    stated = [f"{t('latest_days', lang)}: "]
    for domain in DOMAINS:
        stated += [t(f"domain_{domain}", lang) + " ", html.B(_day_text(days[domain], lang), id=DAY_IDS[domain]),
                   " · " if domain != DOMAINS[-1] else ""]
    filters = html.Div([
        html.Label([t("as_of", lang), dcc.DatePickerSingle(id="overview-day", date=day, min_date_allowed=first,
                                                           max_date_allowed=latest, display_format="YYYY-MM-DD")]),
        *places.filter_dropdowns("overview", visible, province, city, lang),
        html.Span(stated, className="hint", id="latest-days"),
    ], className="filters")
    return _laid_out(filters, days, "kpi_title_national", context)


def register_national(app, current_context) -> None:
    @app.callback(Output("overview-map", "figure"), *components.table_targets("overview-kpi"),
                  *components.table_targets("overview-cross"), Output("overview-city", "options"),
                  Output("url", "search", allow_duplicate=True),
                  Input("overview-day", "date"), Input("overview-province", "value"), Input("overview-city", "value"),
                  State("url", "search"), prevent_initial_call="initial_duplicate")
    def update(day, province, city, search):
        params = components.parse_search(search)
        params.update(day=(day or "")[:10] or None, province=province or None, city=city or None)
        context = current_context(params)
        context.warehouse = RequestMemo(context.warehouse)   # the map and the tables read the same rows once
        chosen = _day(context)
        visible, province, city = national_place(context)
        params.update(province=province, city=city)
        shown = places.narrowed(visible, province, city)
        crossing = cross_boundary_today(context, chosen, None, shown).drop(columns=[t("col_section_id", context.lang)])
        return (national_map(context, chosen, shown, province),
                *components.table_outputs("overview-kpi", national_kpi_table(context, chosen, shown, province),
                                          "overview/kpi", context),
                *components.table_outputs("overview-cross", crossing, "overview/cross", context),
                places.cities_of(visible, province, context.lang), components.search_string(params))


def _kpi_download(context) -> pd.DataFrame:
    if places.national():
        visible, province, city = national_place(context)
        return national_kpi_table(context, None, places.narrowed(visible, province, city), province)
    return kpi_table(context, None, _city_param(context))


def _cross_download(context) -> pd.DataFrame:
    if places.national():
        visible, province, city = national_place(context)
        return cross_boundary_today(context, None, None, places.narrowed(visible, province, city))
    return cross_boundary_today(context, None, _city_param(context))


TABLES = {"kpi": _kpi_download, "cross": _cross_download}


def _laid_out(filters, days: dict, kpi_title: str, context) -> tuple[list, tuple[date, date] | None]:
    """The Overview's body under its filters, the same at both scopes: the map beside the KPI table,
    then the cross-boundary table; and the span of the domains' latest days it states."""
    lang = context.lang
    body = [
        filters,
        html.Div([
            components.graph("overview-map", components.PENDING, className="map"),
            html.Div([html.H3(t(kpi_title, lang)),
                      components.data_table("overview-kpi", None, "overview/kpi", context)], className="side"),
        ], className="row"),
        html.H3(f"{t('cross_boundary', lang)} · {t('domain_surface_water', lang)} {_day_text(days['surface_water'], lang)}",
                id="overview-cross-title"),
        components.data_table("overview-cross", None, "overview/cross", context,
                              style_rows=[{"if": {"filter_query": f'{{{t("status", lang)}}} contains "{t("failed", lang)}"'},
                                           "backgroundColor": "#fde0dd"}]),
    ]
    shown = [d for d in days.values() if d]
    return body, ((min(shown), max(shown)) if shown else None)
