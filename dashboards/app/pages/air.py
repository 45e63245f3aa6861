"""Air: the daily AQI of each station of a city (HJ 633 level colours), the daily means of a
pollutant, and the table of daily AQI and primary pollutants, as stored."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dash import Input, Output, State, dcc, html

from dashboards.app import components, figures, places
from dashboards.app.data import RequestMemo, city_name, parse_day
from dashboards.app.i18n import t, value_text
from pipelines import display
from dashboards.app.pages.overview import SIX_CITIES

POLLUTANTS = ("pm2_5", "pm10", "o3", "no2", "so2", "co")


def _stations(context) -> pd.DataFrame:
    if places.national():   # issue 27: the province and city chosen, refused outside the user's stations
        visible, province, city = _national_place(context)
        return places.narrowed(visible, province, city)
    air = context.visible[context.visible["station_type"] == "air"]
    city = context.param("city")
    return air[air["city"] == city] if city in SIX_CITIES else air


def _is_air(stations: pd.DataFrame) -> pd.Series:
    return stations["station_type"] == "air"


def _national_place(context):
    """The user's air stations with provinces, and the province and city chosen (a 403 outside them).
    With neither chosen, the user's own province (places.home_province): the country's ~1,600 stations
    on one page took 3.9 s (p50) to answer over 7 national days (bench/national_pages.py, issue 27);
    'every province' (places.ALL) is still there to choose."""
    visible, province, city = places.place(context, _is_air)
    if province is None and city is None and context.param("province") != places.ALL:
        province = places.home_province(context.user, visible)
    return visible, province, city


def _range(context):
    ids = tuple(_stations(context)["station_id"])
    latest = context.warehouse.latest_assessed_day("air", ids) if ids else None
    if latest is None:
        return None, None
    end = parse_day(context.param("to"), latest)
    return parse_day(context.param("from"), end - timedelta(days=89)), end


def daily_table(context) -> pd.DataFrame:
    """The stored daily AQI of each station: the AQI (or 无数据 / 数据不足 as the day's status
    says), its HJ 633 category and primary pollutants as the daily report writes them."""
    lang = context.lang
    start, end = _range(context)
    stations = _stations(context)
    columns = [t("col_day", lang), t("city", lang), t("col_station", lang), t("col_aqi", lang),
               t("col_aqi_category", lang), t("col_primary", lang)]
    if end is None:
        return pd.DataFrame(columns=columns)
    rows = context.warehouse.assessments_between(start, end, tuple(stations["station_id"]), "air")
    names = stations.set_index("station_id")
    assessed = rows["status"] == "assessed"
    frame = pd.DataFrame({
        columns[0]: rows["period_start"],
        columns[1]: [city_name(c, lang) for c in rows["station_id"].map(names["city"])],
        columns[2]: rows["station_id"].map(names["name_zh"]),
        columns[3]: [display.aqi_text(a, lang, s) for a, s in zip(rows["aqi"], rows["status"])],
        columns[4]: [value_text("aqi_category", g, lang) if ok else "—" for g, ok in zip(rows["grade"], assessed)],
        columns[5]: [display.pollutants_text(p, lang) if ok else "—" for p, ok in zip(rows["primary_pollutants"], assessed)],
        "_city": rows["station_id"].map(names["city"])})
    return frame.sort_values([columns[0], "_city"], ascending=[False, True]).drop(columns=["_city"])


def figures_for(context):
    start, end = _range(context)
    stations = _stations(context)
    if end is None:
        empty = figures.empty(t("no_data", context.lang))
        return empty, empty
    ids = tuple(stations["station_id"])
    daily = context.warehouse.assessments_between(start, end, ids, "air", assessed_only=True)
    code = context.param("pollutant") if context.param("pollutant") in POLLUTANTS else "pm2_5"
    rollups = context.warehouse.rollup_series(ids, start, end, (code,))
    return figures.aqi_calendar(stations, daily, context.lang), figures.pollutant_series(stations, rollups, code,
                                                                                         context.lang)


def render(context, rest):
    lang = context.lang
    start, end = _range(context)
    if places.national():
        visible, province, city = _national_place(context)
        chosen = places.filter_dropdowns("air", visible, province, city, lang, places.ALL)
    else:
        cities = sorted(set(context.visible[context.visible["station_type"] == "air"]["city"]), key=SIX_CITIES.index)
        options = [{"label": t("all_cities", lang), "value": ""}] + [{"label": city_name(c, lang), "value": c} for c in cities]
        city = context.param("city")
        chosen = [html.Label([t("city", lang), dcc.Dropdown(id="air-city", options=options, value=city or "",
                                                            clearable=False, style={"width": "200px"})])]
    body = [
        html.Div([
            *chosen,
            html.Label([t("period", lang), components.date_range("air-range", None, None, start, end)]),
            html.Label([t("pollutant", lang), dcc.Dropdown(id="air-pollutant", options=[
                {"label": display.POLLUTANT_LABELS.get(code, code), "value": code} for code in POLLUTANTS],
                                                           value=context.param("pollutant") or "pm2_5", clearable=False,
                                                           style={"width": "140px"})]),
        ], className="filters"),
        components.graph("air-calendar", components.PENDING),
        components.graph("air-series", components.PENDING),
        html.H4(t("hj663", lang)), components.notice(t("hj663_note", lang), "info", "hj663-note"),
        components.data_table("air-annual-table", annual_table(context), "air/annual", context),
        components.data_table("air-table", None, "air/daily", context),
    ]
    return body, (start, end)


def register(app, current_context) -> None:
    if places.national():
        return register_national(app, current_context)

    @app.callback(Output("air-calendar", "figure"), Output("air-series", "figure"), *components.table_targets("air-table"),
                  Output("url", "search", allow_duplicate=True),
                  Input("air-city", "value"), Input("air-range", "start_date"), Input("air-range", "end_date"),
                  Input("air-pollutant", "value"), State("url", "search"), prevent_initial_call="initial_duplicate")
    def update(city, start, end, pollutant, search):
        params = components.parse_search(search)
        params.update({"city": city or None, "from": (start or "")[:10] or None, "to": (end or "")[:10] or None,
                       "pollutant": pollutant})
        context = current_context(params)
        calendar, series = figures_for(context)
        return (calendar, series, *components.table_outputs("air-table", daily_table(context), "air/daily", context),
                components.search_string(params))


def register_national(app, current_context) -> None:
    """As register, with the province filter of the national scope; the city list follows the province."""
    @app.callback(Output("air-calendar", "figure"), Output("air-series", "figure"), *components.table_targets("air-table"),
                  Output("air-city", "options"), Output("url", "search", allow_duplicate=True),
                  Input("air-province", "value"), Input("air-city", "value"), Input("air-range", "start_date"),
                  Input("air-range", "end_date"), Input("air-pollutant", "value"), State("url", "search"),
                  prevent_initial_call="initial_duplicate")
    def update(province, city, start, end, pollutant, search):
        params = components.parse_search(search)
        params.update({"province": province or None, "city": city or None, "from": (start or "")[:10] or None,
                       "to": (end or "")[:10] or None, "pollutant": pollutant})
        context = current_context(params)
        context.warehouse = RequestMemo(context.warehouse)   # the figures and the table read the same rows once
        visible, province, city = _national_place(context)
        params.update(province=province or (places.ALL if params.get("province") == places.ALL else None), city=city)
        calendar, series = figures_for(context)
        return (calendar, series, *components.table_outputs("air-table", daily_table(context), "air/daily", context),
                places.cities_of(visible, province, context.lang), components.search_string(params))


# --- the HJ 663 annual statistics, as stored (pipelines.assessment.air_annual; issue 20) ----------

ANNUAL_ITEMS = ("so2", "no2", "pm10", "pm2_5", "co", "o3")
ANNUAL_ITEM_NAMES = {"so2": "SO2", "no2": "NO2", "pm10": "PM10", "pm2_5": "PM2.5", "co": "CO", "o3": "O3-8h"}


def annual_table(context) -> pd.DataFrame:
    """The stored HJ 663 statistics of the year of the period's end (else the latest stored year):
    the cities the user may see (ranked first), then their stations; missing values and verdicts
    worded by pipelines.display (无数据 / 数据不足 / 指标不全, never a failure)."""
    from pipelines import display

    lang = context.lang
    stations = _stations(context)
    ids = tuple(stations["station_id"])
    cities = tuple(sorted(set(stations["city"])))
    stored = context.warehouse.air_annual_statistics(None, ids + cities) if ids else pd.DataFrame()
    if stored.empty:
        return pd.DataFrame({t("hj663_name", lang): [t("hj663_none_stored", lang)]})
    _, end = _range(context)
    years = sorted(set(stored["year"]))
    year = end.year if end is not None and end.year in years else years[-1]
    rows = stored[stored["year"] == year]
    rows = pd.concat([rows[rows["scope"] == "city"], rows[rows["scope"] == "station"]])
    names = stations.set_index("station_id")["name_zh"]
    frame = pd.DataFrame({
        t("hj663_scope", lang): [t(f"hj663_scope_{s}", lang) for s in rows["scope"]],
        t("hj663_name", lang): [city_name(r.site_id, lang) if r.scope == "city" else names.get(r.site_id, r.site_id)
                               for r in rows.itertuples()],
        t("hj663_period", lang): [t("hj663_year", lang).format(year=r.year) if r.period == "year" else
                                 t("hj663_to_date", lang).format(year=r.year, day=r.through_day) for r in rows.itertuples()],
        t("hj663_days", lang): [int(n) for n in rows["days_with_data"]],
    })
    for code in ANNUAL_ITEMS[:4]:
        frame[t("hj663_mean", lang).format(item=ANNUAL_ITEM_NAMES[code])] = [
            display.number_text(v, 0) for v in rows[f"{code}_annual_mean"]]
    for code in ANNUAL_ITEMS:
        p = next((v for v in rows[f"{code}_percentile_p"] if not display.is_missing(v)), None)
        heading = t("hj663_percentile", lang).format(item=ANNUAL_ITEM_NAMES[code], p="" if p is None else f"{p:g}")
        frame[heading] = [display.number_text(v, 1 if code == "co" else 0) for v in rows[f"{code}_percentile"]]
    frame[t("hj663_index", lang)] = [display.number_text(v, 2) for v in rows["composite_index"]]
    frame[t("hj663_rank", lang)] = ["—" if display.is_missing(r.city_rank) else f"{int(r.city_rank)}/{int(r.cities_ranked)}"
                                    for r in rows.itertuples()]
    frame[t("hj663_attainment", lang)] = [display.verdict_text(r.is_attained, lang, r.status) for r in rows.itertuples()]
    frame[t("hj663_exceeding", lang)] = [
        "；".join(display.parameter_name(c, lang) for c in (r.exceeding_items or "").split(";") if c) or "—"
        for r in rows.itertuples()]
    return frame


TABLES = {"daily": daily_table, "annual": annual_table}
