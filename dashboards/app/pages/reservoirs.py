"""Reservoirs: each reservoir's latest class against its target, its daily classes over the period,
and the trophic level index of its latest month (computed for display from the stored monthly means
by the pipeline's own function: the warehouse does not store TLI)."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dash import Input, Output, State, dcc, html

from dashboards.app import components, figures, places
from dashboards.app.data import city_name, parse_day
from dashboards.app.i18n import t, value_text
from pipelines import display
from pipelines.assessment import surface_water
from warehouse.queries import month_bounds

TLI_PARAMETERS = ("chla", "tp", "tn", "sd", "codmn")


def _kept(stations: pd.DataFrame) -> pd.Series:
    return stations["station_type"] == "lake-reservoir"


def _reservoirs(context) -> pd.DataFrame:
    """The user's reservoirs; at national scope those of the province and city chosen
    (dashboards/app/places.py: a 403 outside the user's reservoirs)."""
    if places.national():
        return places.narrowed(*places.place(context, _kept))
    return context.visible[context.visible["station_type"] == "lake-reservoir"]


def _range(context):
    ids = tuple(_reservoirs(context)["station_id"])
    latest = context.warehouse.latest_assessed_day("surface_water", ids) if ids else None
    if latest is None:
        return None, None
    end = parse_day(context.param("to"), latest)
    return parse_day(context.param("from"), end - timedelta(days=179)), end


def reservoir_table(context) -> pd.DataFrame:
    lang = context.lang
    reservoirs = _reservoirs(context)
    start, end = _range(context)
    columns = [t("col_reservoir", lang), t("city", lang), t("target", lang), t("class", lang), t("status", lang),
               t("failing_items", lang), "TLI", t("col_tli_grade", lang), t("col_tli_month", lang)]
    if end is None:
        return pd.DataFrame(columns=columns)
    ids = tuple(reservoirs["station_id"])
    latest = context.warehouse.latest_assessments("surface_water", end, ids).set_index("station_id")
    month_start = end.replace(day=1)
    monthly = context.warehouse.rollup_series(ids, month_start, month_start, TLI_PARAMETERS, period="month")
    no_data = display.word("no_data", lang)
    rows = []
    for _, reservoir in reservoirs.iterrows():
        row = latest.loc[reservoir["station_id"]] if reservoir["station_id"] in latest.index else None
        assessed = row is not None and not display.is_missing(row["water_class"])
        means = monthly[monthly["station_id"] == reservoir["station_id"]].dropna(subset=["mean"])
        state = surface_water.trophic_state(dict(zip(means["parameter"], means["mean"].astype(float))))
        rows.append({columns[0]: reservoir["name_zh"], columns[1]: city_name(reservoir["city"], lang),
                     columns[2]: display.text_or_dash(reservoir["target_class"]),
                     columns[3]: f"{row['water_class']} · {row['period_start']}" if assessed else no_data,
                     columns[4]: display.verdict_text(row["is_compliant"], lang, row["status"],
                                                           display.target_status_of(row)) if assessed else no_data,
                     columns[5]: figures.failing_text(row["failing_parameters"], lang) if assessed else "",
                     columns[6]: no_data if state is None else round(state.index, 1),
                     columns[7]: no_data if state is None else value_text("tli_grade", state.grade, lang),
                     columns[8]: month_start.strftime("%Y-%m")})
    return pd.DataFrame(rows, columns=columns)


def class_figure(context, start, end) -> dict:
    reservoirs = _reservoirs(context)
    if end is None or reservoirs.empty:
        return figures.empty(t("no_data", context.lang))
    daily = context.warehouse.assessments_between(start, end, tuple(reservoirs["station_id"]), "surface_water",
                                                  assessed_only=True)
    names = reservoirs.set_index("station_id")["name_zh"]
    traces = [{"type": "scatter", "mode": "lines", "line": {"shape": "hv", "width": 1.5}, "name": names[sid],
               "x": [str(d) for d in rows["period_start"]], "y": [figures.class_rank(c) for c in rows["water_class"]],
               "text": [display.class_text(c, context.lang) for c in rows["water_class"]],
               "hovertemplate": "%{x}: %{text}<extra>" + names[sid] + "</extra>"}
              for sid, rows in daily.groupby("station_id")]
    return {"data": traces, "layout": {
        "font": figures.FONT, "height": 320, "margin": {"l": 50, "r": 10, "t": 40, "b": 30},
        "title": {"text": t("reservoirs", context.lang) + " · " + t("class", context.lang), "x": 0.01},
        "yaxis": {"tickvals": list(range(6)), "ticktext": list(figures.SURFACE_CLASSES), "autorange": "reversed"},
        "xaxis": {"type": "date"}}}


def render(context, rest):
    lang = context.lang
    start, end = _range(context)
    body = [
        html.Div([*(places.filter_dropdowns("reservoir", *places.place(context, _kept), lang) if places.national()
                    else []),
                  html.Label([t("period", lang), components.date_range("reservoir-range", None, None, start, end)])],
                 className="filters"),
        components.graph("reservoir-classes", components.PENDING),
        components.data_table("reservoir-table", None, "reservoirs/table", context),
        components.notice(t("tli_note", lang)),
    ]
    return body, (start, end)


def register(app, current_context) -> None:
    @app.callback(Output("reservoir-classes", "figure"), *components.table_targets("reservoir-table"),
                  *places.filter_outputs("reservoir"), Output("url", "search", allow_duplicate=True),
                  Input("reservoir-range", "start_date"), Input("reservoir-range", "end_date"),
                  *places.filter_inputs("reservoir"), State("url", "search"), prevent_initial_call="initial_duplicate")
    def update(start, end, *rest):
        *place, search = rest
        params = components.parse_search(search)
        params.update({"from": (start or "")[:10] or None, "to": (end or "")[:10] or None})
        places.take(params, place)
        context = current_context(params)
        cities = places.answered(context, params, _kept)
        first, last = _range(context)
        return (class_figure(context, first, last),
                *components.table_outputs("reservoir-table", reservoir_table(context), "reservoirs/table", context),
                *cities, components.search_string(params))


TABLES = {"table": reservoir_table}
