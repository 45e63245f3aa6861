"""Air: the daily AQI of each station of a city (HJ 633 level colours), the daily means of a
pollutant, and the table of daily AQI and primary pollutants, as stored."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dash import Input, Output, State, dcc, html

from dashboards.app import components, figures
from dashboards.app.data import city_name, parse_day
from dashboards.app.i18n import t, value_text
from pipelines import display
from dashboards.app.pages.overview import SIX_CITIES

POLLUTANTS = ("pm2_5", "pm10", "o3", "no2", "so2", "co")


def _stations(context) -> pd.DataFrame:
    air = context.visible[context.visible["station_type"] == "air"]
    city = context.param("city")
    return air[air["city"] == city] if city in SIX_CITIES else air


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
    cities = sorted(set(context.visible[context.visible["station_type"] == "air"]["city"]), key=SIX_CITIES.index)
    options = [{"label": t("all_cities", lang), "value": ""}] + [{"label": city_name(c, lang), "value": c} for c in cities]
    body = [
        html.Div([
            html.Label([t("city", lang), dcc.Dropdown(id="air-city", options=options, value=context.param("city") or "",
                                                      clearable=False, style={"width": "200px"})]),
            html.Label([t("period", lang), components.date_range("air-range", None, None, start, end)]),
            html.Label([t("pollutant", lang), dcc.Dropdown(id="air-pollutant", options=[
                {"label": display.POLLUTANT_LABELS.get(code, code), "value": code} for code in POLLUTANTS],
                                                           value=context.param("pollutant") or "pm2_5", clearable=False,
                                                           style={"width": "140px"})]),
        ], className="filters"),
        components.graph("air-calendar", components.PENDING),
        components.graph("air-series", components.PENDING),
        html.H4(t("hj663", lang)), components.notice(t("hj663_note", lang), "info", "hj663-note"),
        components.data_table("air-table", None, "air/daily", context),
    ]
    return body, (start, end)


def register(app, current_context) -> None:
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


TABLES = {"daily": daily_table}
