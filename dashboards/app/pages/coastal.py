"""Coastal waters: each point's class per survey (GB 3097, as stored) and, per bay and survey, the
share of its points at 一类 or 二类 (优良), counted from the stored classes."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dash import Input, Output, State, html

from dashboards.app import components, figures, places
from dashboards.app.data import parse_day
from dashboards.app.i18n import t
from pipelines import display

GOOD = ("一类", "二类")


def _kept(stations: pd.DataFrame) -> pd.Series:
    return stations["station_type"] == "sea"


def _points(context) -> pd.DataFrame:
    """The user's coastal points; at national scope those of the province and city chosen
    (dashboards/app/places.py: a 403 outside the user's points)."""
    if places.national():
        return places.narrowed(*places.place(context, _kept))
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
                                     "failing_parameters", "target_status", "bay"])
    rows = context.warehouse.assessments_between(start, end, tuple(points["station_id"]), "seawater", assessed_only=True)
    return rows.assign(bay=rows["station_id"].map(points.set_index("station_id")["water_body"]))


def point_table(context) -> pd.DataFrame:
    lang = context.lang
    rows = _surveys(context)
    names = _points(context).set_index("station_id")["name_zh"]
    columns = [t("col_bay", lang), t("col_point", lang), t("col_survey", lang), t("class", lang), t("target", lang),
               t("status", lang), t("failing_items", lang)]
    frame = pd.DataFrame({columns[0]: rows["bay"], columns[1]: rows["station_id"].map(names),
                          columns[2]: rows["period_start"],
                          columns[3]: [display.class_text(c, lang) for c in rows["water_class"]],
                          columns[4]: [display.text_or_dash(c) for c in rows["target_class"]],
                          columns[5]: [display.verdict_text(r["is_compliant"], lang,
                                                            "assessed" if not display.is_missing(r["water_class"])
                                                            else "no data", display.target_status_of(r))
                                       for r in rows.to_dict("records")],
                          columns[6]: [figures.failing_text(f, lang) for f in rows["failing_parameters"]]},
                         columns=columns)
    return frame.sort_values([columns[2], columns[0]], ascending=[False, True])


def _bay_shares(context) -> pd.DataFrame:
    """Per bay and survey: the points surveyed and the share at 一类 or 二类 (counted from stored classes)."""
    rows = _surveys(context)
    if rows.empty:
        return pd.DataFrame(columns=["bay", "period_start", "points", "good", "share"])
    grouped = rows.assign(good=rows["water_class"].isin(GOOD)).groupby(["bay", "period_start"])
    frame = pd.DataFrame({"points": grouped.size(), "good": grouped["good"].sum()})
    frame["share"] = frame["good"] / frame["points"]
    return frame.reset_index().sort_values(["period_start", "bay"], ascending=[False, True])


def bay_table(context, shares: pd.DataFrame | None = None) -> pd.DataFrame:
    lang = context.lang
    shares = _bay_shares(context) if shares is None else shares
    columns = [t("col_bay", lang), t("col_survey", lang), t("col_points", lang), t("col_good_share", lang)]
    return pd.DataFrame({columns[0]: shares["bay"], columns[1]: shares["period_start"], columns[2]: shares["points"],
                         columns[3]: [f"{share:.0%} ({int(good)}/{int(points)})" for share, good, points in
                                      zip(shares["share"], shares["good"], shares["points"])]}, columns=columns)


def bay_figure(context, shares: pd.DataFrame | None = None) -> dict:
    shares = _bay_shares(context) if shares is None else shares
    if shares.empty:
        return figures.empty(t("no_data", context.lang))
    traces = [{"type": "scatter", "mode": "lines+markers", "name": bay, "x": [str(d) for d in rows["period_start"]],
               "y": (rows["share"] * 100).round(1).tolist()}
              for bay, rows in shares.sort_values("period_start").groupby("bay")]
    return {"data": traces, "layout": {"font": figures.FONT, "height": 320, "margin": {"l": 50, "r": 10, "t": 40, "b": 30},
                                       "title": {"text": t("bays", context.lang), "x": 0.01},
                                       "yaxis": {"range": [-5, 105], "ticksuffix": "%"}, "xaxis": {"type": "date"}}}


def render(context, rest):
    lang = context.lang
    start, end = _range(context)
    body = [
        html.Div([*(places.filter_dropdowns("coastal", *places.place(context, _kept), lang) if places.national()
                    else []),
                  html.Label([t("period", lang), components.date_range("coastal-range", None, None, start, end)])],
                 className="filters"),
        components.graph("coastal-bays", components.PENDING),
        components.data_table("coastal-bay-table", None, "coastal/bays", context),
        components.data_table("coastal-points", None, "coastal/points", context),
    ]
    return body, (start, end)


def register(app, current_context) -> None:
    @app.callback(Output("coastal-bays", "figure"), *components.table_targets("coastal-bay-table"),
                  *components.table_targets("coastal-points"), *places.filter_outputs("coastal"),
                  Output("url", "search", allow_duplicate=True),
                  Input("coastal-range", "start_date"), Input("coastal-range", "end_date"),
                  *places.filter_inputs("coastal"), State("url", "search"), prevent_initial_call="initial_duplicate")
    def update(start, end, *rest):
        *place, search = rest
        params = components.parse_search(search)
        params.update({"from": (start or "")[:10] or None, "to": (end or "")[:10] or None})
        places.take(params, place)
        context = current_context(params)
        cities = places.answered(context, params, _kept)
        shares = _bay_shares(context)
        return (bay_figure(context, shares),
                *components.table_outputs("coastal-bay-table", bay_table(context, shares), "coastal/bays", context),
                *components.table_outputs("coastal-points", point_table(context), "coastal/points", context),
                *cities, components.search_string(params))


TABLES = {"bays": lambda context: bay_table(context), "points": point_table}
