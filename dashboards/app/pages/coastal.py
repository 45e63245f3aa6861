"""Coastal waters: each point's class per survey (GB 3097, as stored) and, per bay and survey, the
share of its points at 一类 or 二类 (优良), counted from the stored classes."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dash import Input, Output, State, html

from dashboards.app import components, figures
from dashboards.app.data import parse_day
from dashboards.app.i18n import t

GOOD = ("一类", "二类")


def _points(context) -> pd.DataFrame:
    return context.visible[context.visible["station_type"] == "sea"]


def _range(context):
    ids = tuple(_points(context)["station_id"])
    latest = context.warehouse.latest_assessed_day("seawater", ids) if ids else None
    if latest is None:
        return None, None
    end = parse_day(context.param("to"), latest)
    return parse_day(context.param("from"), end - timedelta(days=29)), end


def _surveys(context) -> pd.DataFrame:
    start, end = _range(context)
    points = _points(context)
    if end is None:
        return pd.DataFrame(columns=["station_id", "period_start", "water_class", "target_class", "is_compliant",
                                     "failing_parameters", "bay"])
    rows = context.warehouse.assessments_between(start, end, tuple(points["station_id"]), "seawater", assessed_only=True)
    return rows.assign(bay=rows["station_id"].map(points.set_index("station_id")["water_body"]))


def point_table(context) -> pd.DataFrame:
    lang = context.lang
    rows = _surveys(context)
    names = _points(context).set_index("station_id")["name_zh"]
    frame = pd.DataFrame({"海湾 bay": rows["bay"], "点位 point": rows["station_id"].map(names),
                          "survey": rows["period_start"], t("class", lang): rows["water_class"],
                          t("target", lang): rows["target_class"],
                          t("status", lang): rows["is_compliant"].map({True: t("compliant", lang), False: t("failed", lang)}),
                          t("failing_items", lang): rows["failing_parameters"].map(figures.failing_text)})
    return frame.sort_values(["survey", "海湾 bay"], ascending=[False, True])


def bay_table(context) -> pd.DataFrame:
    rows = _surveys(context)
    if rows.empty:
        return pd.DataFrame(columns=["海湾 bay", "survey", "points", "优良 share"])
    grouped = rows.assign(good=rows["water_class"].isin(GOOD)).groupby(["bay", "period_start"])
    frame = pd.DataFrame({"points": grouped.size(), "good": grouped["good"].sum()})
    frame["优良 share"] = (frame["good"] / frame["points"]).round(3)
    return frame.reset_index().rename(columns={"bay": "海湾 bay", "period_start": "survey"}).sort_values(
        ["survey", "海湾 bay"], ascending=[False, True])


def bay_figure(context, table: pd.DataFrame | None = None) -> dict:
    table = bay_table(context) if table is None else table
    if table.empty:
        return figures.empty(t("no_data", context.lang))
    traces = [{"type": "scatter", "mode": "lines+markers", "name": bay, "x": [str(d) for d in rows["survey"]],
               "y": (rows["优良 share"] * 100).tolist()} for bay, rows in table.sort_values("survey").groupby("海湾 bay")]
    return {"data": traces, "layout": {"font": figures.FONT, "height": 320, "margin": {"l": 50, "r": 10, "t": 40, "b": 30},
                                       "title": {"text": t("bays", context.lang), "x": 0.01},
                                       "yaxis": {"range": [-5, 105], "ticksuffix": "%"}, "xaxis": {"type": "date"}}}


def render(context, rest):
    lang = context.lang
    start, end = _range(context)
    body = [
        html.Div([html.Label([t("period", lang), components.date_range("coastal-range", None, None, start, end)])],
                 className="filters"),
        components.graph("coastal-bays", components.PENDING),
        components.data_table("coastal-bay-table", None, "coastal/bays", context),
        components.data_table("coastal-points", None, "coastal/points", context),
    ]
    return body, (start, end)


def register(app, current_context) -> None:
    @app.callback(Output("coastal-bays", "figure"), *components.table_targets("coastal-bay-table"),
                  *components.table_targets("coastal-points"), Output("url", "search", allow_duplicate=True),
                  Input("coastal-range", "start_date"), Input("coastal-range", "end_date"),
                  State("url", "search"), prevent_initial_call="initial_duplicate")
    def update(start, end, search):
        params = components.parse_search(search)
        params.update({"from": (start or "")[:10] or None, "to": (end or "")[:10] or None})
        context = current_context(params)
        bays = bay_table(context)
        return (bay_figure(context, bays), *components.table_outputs("coastal-bay-table", bays, "coastal/bays", context),
                *components.table_outputs("coastal-points", point_table(context), "coastal/points", context),
                components.search_string(params))


TABLES = {"bays": bay_table, "points": point_table}
