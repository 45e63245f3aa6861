"""Alerts: the episodes of sections out of their target (open, acknowledged, resolved) with the
history of what was done about each, for the sections a user may see; on a warehouse from before
alert episodes (migration 0010), the alerts raised per section and day. Read-only: acknowledging is
`envmon alerts ack` (the app connects through the read-only role)."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dash import Input, Output, State, html

from dashboards.app import components
from dashboards.app.data import parse_day
from dashboards.app.i18n import t


def _range(context):
    latest = context.warehouse.latest_assessed_day("surface_water", context.scope.key)
    if latest is None:
        return None, None
    end = parse_day(context.param("to"), latest)
    return parse_day(context.param("from"), end - timedelta(days=89)), end


def state_of(episode) -> str:
    if episode["status"] == "resolved" or episode["resolved_on"] is not None and not pd.isna(episode["resolved_on"]):
        return "resolved"
    acknowledged = episode["acknowledged_at"]
    return "acknowledged" if acknowledged is not None and not pd.isna(acknowledged) else "open"


def episode_table(context) -> pd.DataFrame:
    start, end = _range(context)
    episodes = context.warehouse.alert_episodes(context.scope.key, start, end)
    names = context.stations.set_index("station_id")["name_zh"]
    return pd.DataFrame({"episode": episodes["episode_id"], "断面 section": episodes["section_id"].map(names),
                         "state": [state_of(e) for _, e in episodes.iterrows()], "opened": episodes["opened_on"],
                         "last failed": episodes["last_failed_on"], "resolved": episodes["resolved_on"],
                         "worst class": episodes["worst_class"], "target": episodes["target_class"],
                         "days failed": episodes["days_failed"], "items": episodes["failing_items"],
                         "acknowledged by": episodes["acknowledged_by"], "acknowledged at": episodes["acknowledged_at"],
                         "escalated at": episodes["escalated_at"]})


def history_table(context) -> pd.DataFrame:
    episodes = episode_table(context)
    return context.warehouse.alert_actions(tuple(int(e) for e in episodes["episode"]))


def alert_table(context) -> pd.DataFrame:
    """The per section-day alerts of warehouses before migration 0010 (kept, no longer written)."""
    start, end = _range(context)
    rows = context.warehouse.alerts(context.scope.key, start, end)
    names = context.stations.set_index("station_id")["name_zh"]
    return pd.DataFrame({"raised_at": rows["raised_at"], "断面 section": rows["station_id"].map(names),
                         "period": rows["period"], "day": rows["period_start"], "subject": rows["subject"],
                         "recipients": rows["recipients"], "state": rows["delivery_status"],
                         "attempts": rows["attempts"], "detail": rows["delivery_detail"]})


def render(context, rest):
    lang = context.lang
    start, end = _range(context)
    body = [html.Div([html.Label([t("period", lang), components.date_range("alerts-range", None, None, start, end)])],
                     className="filters"),
            html.H3(t("alerts_title", lang))]
    if context.warehouse.has_alert_episodes():
        body += [components.data_table("alerts-table", None, "alerts/episodes", context,
                                       style_rows=[{"if": {"filter_query": '{state} = "open"'}, "backgroundColor": "#fde0dd"}]),
                 html.H4("history"),
                 components.data_table("alerts-history", history_table(context), "alerts/history", context)]
    else:
        body += [components.data_table("alerts-table", None, "alerts/alerts", context)]
    return body, (start, end)


def register(app, current_context) -> None:
    @app.callback(*components.table_targets("alerts-table"), Output("url", "search", allow_duplicate=True),
                  Input("alerts-range", "start_date"), Input("alerts-range", "end_date"),
                  State("url", "search"), prevent_initial_call="initial_duplicate")
    def update(start, end, search):
        params = components.parse_search(search)
        params.update({"from": (start or "")[:10] or None, "to": (end or "")[:10] or None})
        context = current_context(params)
        if context.warehouse.has_alert_episodes():
            outputs = components.table_outputs("alerts-table", episode_table(context), "alerts/episodes", context)
        else:
            outputs = components.table_outputs("alerts-table", alert_table(context), "alerts/alerts", context)
        return (*outputs, components.search_string(params))


TABLES = {"alerts": alert_table, "episodes": episode_table, "history": history_table}
