"""Data quality: the ingest log per source and night (read, loaded, quarantined), the quarantine's
reasons in words, the payload log of the real sources, and the Great Expectations Data Docs."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dash import Input, Output, State, html

from dashboards.app import components, figures
from dashboards.app.data import parse_day
from dashboards.app.i18n import t
from dashboards.app.reasons import readable


def _range(context):
    _, latest = context.warehouse.assessed_day_range(context.scope.key)
    if latest is None:
        return None, None
    end = parse_day(context.param("to"), latest)
    return parse_day(context.param("from"), end - timedelta(days=29)), end


def log_table(context) -> pd.DataFrame:
    start, end = _range(context)
    if end is None:
        return pd.DataFrame(columns=["partition_day", "source", "rows_read", "rows_loaded", "rows_quarantined"])
    log = context.warehouse.ingest_log(start, end)
    return log[["partition_day", "source", "domain", "rows_read", "rows_loaded", "rows_quarantined", "loaded_at",
                "batch_id"]]


def reason_table(context) -> pd.DataFrame:
    start, end = _range(context)
    if end is None:
        return pd.DataFrame(columns=["partition_day", "source", "rows", "reason"])
    summary = context.warehouse.quarantine_summary(start, end, context.scope.key)
    return pd.DataFrame({"partition_day": summary["partition_day"], "source": summary["source"],
                         "rows": summary["rows"],
                         "reason": [readable(e, r, context.lang) for e, r in zip(summary["expectation"], summary["reason"])]})


def payload_table(context) -> pd.DataFrame:
    return context.warehouse.payloads()


def render(context, rest):
    lang = context.lang
    start, end = _range(context)
    body = [
        html.Div([html.Label([t("period", lang), components.date_range("quality-range", None, None, start, end)]),
                  html.A(t("data_docs", lang), href="/data-docs/index.html", id="data-docs-link", target="_blank")],
                 className="filters"),
        components.graph("quality-log", components.PENDING),
        html.H4(t("quarantine_reasons", lang)),
        components.data_table("quality-reasons", None, "quality/reasons", context),
        html.H4(t("ingest_log", lang)),
        components.data_table("quality-table", None, "quality/log", context),
        html.H4(t("payload_log", lang)),
        components.data_table("quality-payloads", payload_table(context), "quality/payloads", context, page_size=10),
    ]
    return body, (start, end)


def register(app, current_context) -> None:
    @app.callback(Output("quality-log", "figure"), *components.table_targets("quality-reasons"),
                  *components.table_targets("quality-table"), Output("url", "search", allow_duplicate=True),
                  Input("quality-range", "start_date"), Input("quality-range", "end_date"),
                  State("url", "search"), prevent_initial_call="initial_duplicate")
    def update(start, end, search):
        params = components.parse_search(search)
        params.update({"from": (start or "")[:10] or None, "to": (end or "")[:10] or None})
        context = current_context(params)
        log = log_table(context)
        return (figures.ingest_bars(log, context.lang),
                *components.table_outputs("quality-reasons", reason_table(context), "quality/reasons", context),
                *components.table_outputs("quality-table", log, "quality/log", context), components.search_string(params))


TABLES = {"log": log_table, "reasons": reason_table, "payloads": payload_table}
