"""Overview: the map of sections by their latest assessed class against target, and the KPIs of
each city. The day shown is the latest day with assessed data, never one that holds only
'insufficient data' rows."""
from __future__ import annotations

from datetime import date

import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from dashboards.app import components, figures
from dashboards.app.data import city_name, parse_day
from dashboards.app.i18n import t

WORST_SURFACE = "劣Ⅴ"
GOOD_SURFACE = ("Ⅰ", "Ⅱ", "Ⅲ")
SIX_CITIES = ("南宁市", "北海市", "防城港市", "钦州市", "玉林市", "崇左市")


def latest_day(context) -> date | None:
    """The latest day with assessed surface-water data, else (a warehouse of air data only) with
    assessed data of any domain."""
    latest = context.warehouse.latest_assessed_day("surface_water", context.scope.key)
    return latest or context.warehouse.assessed_day_range(context.scope.key)[1]


def _day(context) -> date | None:
    latest = latest_day(context)
    chosen = parse_day(context.param("day"), latest)
    return min(chosen, latest) if chosen and latest else chosen


def _stations(context, city: str | None) -> pd.DataFrame:
    visible = context.visible
    return visible if not city else visible[visible["city"] == city]


def map_figure(context, day: date | None, city: str | None) -> dict:
    if day is None:
        return figures.empty(t("no_data", context.lang), 600)
    stations = _stations(context, city)
    latest = pd.concat([context.warehouse.latest_assessments("surface_water", day, context.scope.key),
                        context.warehouse.latest_assessments("seawater", day, context.scope.key)], ignore_index=True)
    return figures.section_map(stations, latest, context.lang, city or context.scope.city, day)


def kpi_table(context, day: date | None = None, city: str | None = None) -> pd.DataFrame:
    """One row per city: share of sections at Ⅰ–Ⅲ and the 劣Ⅴ count (latest assessed class), the
    cross-boundary sections compliant this month so far, the day's AQI range over its stations and the
    share of 优良 station-days this year. Counts of stored verdicts, no verdict made here."""
    lang = context.lang
    day = day or _day(context)
    columns = [t("city", lang), t("kpi_share_good", lang), t("kpi_worst", lang), t("kpi_cross_mtd", lang),
               t("kpi_aqi", lang), t("kpi_good_days", lang)]
    if day is None:
        return pd.DataFrame(columns=columns)
    visible = _stations(context, city)
    names = visible.set_index("station_id")
    water = context.warehouse.latest_assessments("surface_water", day, context.scope.key)
    water = water[water["station_id"].isin(names.index)].assign(city=lambda f: f["station_id"].map(names["city"]))
    month = context.warehouse.assessments_between(day.replace(day=1), day.replace(day=1), context.scope.key,
                                                  "surface_water", "month")
    month = month[month["station_id"].isin(names.index)].assign(city=lambda f: f["station_id"].map(names["city"]))
    air_day = context.warehouse.latest_assessed_day("air", context.scope.key)
    air_day = min(air_day, day) if air_day else None
    air = (context.warehouse.assessments_between(air_day, air_day, context.scope.key, "air", assessed_only=True)
           if air_day else pd.DataFrame(columns=["station_id", "aqi"]))
    air = air[air["station_id"].isin(names.index)].assign(city=lambda f: f["station_id"].map(names["city"]))
    counts = context.warehouse.air_day_counts(date(day.year, 1, 1), day, context.scope.key)
    counts = counts[counts["station_id"].isin(names.index)].assign(city=lambda f: f["station_id"].map(names["city"]))
    cities = [c for c in SIX_CITIES if c in set(visible["city"])]
    rows = []
    for name in cities:
        mine = water[water["city"] == name]
        sections = mine[mine["water_class"].notna()]
        crossing = month[(month["city"] == name) & (month["status"] == "assessed")]
        aqi = air[air["city"] == name]["aqi"].dropna()
        good = counts[counts["city"] == name]
        assessed_days, good_days = int(good["days_assessed"].sum()), int(good["days_good"].fillna(0).sum())
        rows.append({
            columns[0]: city_name(name, lang),
            columns[1]: f"{sections['water_class'].isin(GOOD_SURFACE).mean():.0%} ({int(sections['water_class'].isin(GOOD_SURFACE).sum())}/{len(sections)})" if len(sections) else "—",
            columns[2]: int((sections["water_class"] == WORST_SURFACE).sum()) if len(sections) else "—",
            columns[3]: f"{int((crossing['is_compliant'] == True).sum())}/{len(crossing)}" if len(crossing) else "—",  # noqa: E712
            columns[4]: (f"{int(aqi.min())}–{int(aqi.max())} ({len(aqi)}) · {air_day}" if len(aqi) else "—"),
            columns[5]: f"{good_days / assessed_days:.1%} ({good_days}/{assessed_days})" if assessed_days else "—",
        })
    return pd.DataFrame(rows, columns=columns)


def cross_boundary_today(context, day: date | None = None, city: str | None = None) -> pd.DataFrame:
    lang = context.lang
    day = day or _day(context)
    columns = ["断面 section", t("class", lang), t("target", lang), t("status", lang), t("failing_items", lang),
               t("upstream", lang), t("downstream", lang), "section_id"]
    if day is None:
        return pd.DataFrame(columns=columns)
    visible = _stations(context, city)
    crossing = visible[visible["is_cross_boundary"].astype(bool) & visible["station_type"].isin(["river", "lake-reservoir"])]
    latest = context.warehouse.latest_assessments("surface_water", day, context.scope.key).set_index("station_id")
    rows = []
    for _, section in crossing.iterrows():
        row = latest.loc[section["station_id"]] if section["station_id"] in latest.index else None
        status = "—" if row is None else t("compliant" if row["is_compliant"] else "failed", lang)
        rows.append({columns[0]: f"{section['name_zh']} ({section['water_body']})",
                     columns[1]: "" if row is None else row["water_class"], columns[2]: section["target_class"],
                     columns[3]: status if row is None else f"{status} · {row['period_start']}",
                     columns[4]: "" if row is None else figures.failing_text(row["failing_parameters"]),
                     columns[5]: section["upstream_jurisdiction"], columns[6]: section["downstream_jurisdiction"],
                     columns[7]: section["station_id"]})
    frame = pd.DataFrame(rows, columns=columns)
    failing = frame[columns[3]].str.startswith(t("failed", lang))
    return pd.concat([frame[failing], frame[~failing]], ignore_index=True)  # failing sections first


def _city_param(context) -> str | None:
    city = context.param("city")
    if context.scope.city:  # a city bureau sees its own city (and the shared sections)
        return None if city != context.scope.city else city
    return city if city in SIX_CITIES else None


def render(context, rest):
    lang = context.lang
    latest = latest_day(context)
    day = _day(context)
    city = _city_param(context)
    first, _ = context.warehouse.assessed_day_range(context.scope.key)
    options = [{"label": t("all_cities", lang), "value": ""}] + [
        {"label": city_name(c, lang), "value": c} for c in SIX_CITIES if c in set(context.visible["city"])]
    filters = html.Div([
        html.Label([t("as_of", lang), dcc.DatePickerSingle(id="overview-day", date=day, min_date_allowed=first,
                                                           max_date_allowed=latest, display_format="YYYY-MM-DD")]),
        html.Label([t("city", lang), dcc.Dropdown(id="overview-city", options=options, value=city or "",
                                                  clearable=False, style={"width": "200px"})]),
        html.Span([f"{t('latest_day', lang)}: ", html.B(str(latest) if latest else "—", id="latest-day")],
                  className="hint"),
    ], className="filters")
    body = [
        filters,
        html.Div([
            components.graph("overview-map", components.PENDING, className="map"),
            html.Div([html.H3(t("kpi_title", lang)),
                      components.data_table("overview-kpi", None, "overview/kpi", context)], className="side"),
        ], className="row"),
        html.H3(t("cross_boundary", lang)),
        components.data_table("overview-cross", None, "overview/cross", context,
                              style_rows=[{"if": {"filter_query": f'{{{t("status", lang)}}} contains "{t("failed", lang)}"'},
                                           "backgroundColor": "#fde0dd"}]),
    ]
    air_day = context.warehouse.latest_assessed_day("air", context.scope.key)
    shown_from = min(day, air_day) if day and air_day else day
    return body, (shown_from, day)


def register(app, current_context) -> None:
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
        crossing = cross_boundary_today(context, chosen, city).drop(columns=["section_id"])
        return (map_figure(context, chosen, city),
                *components.table_outputs("overview-kpi", kpi_table(context, chosen, city), "overview/kpi", context),
                *components.table_outputs("overview-cross", crossing, "overview/cross", context),
                components.search_string(params))


TABLES = {
    "kpi": lambda context: kpi_table(context, None, _city_param(context)),
    "cross": lambda context: cross_boundary_today(context, None, _city_param(context)),
}
