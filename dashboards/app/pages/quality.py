"""Data quality: the ingest log per source and night (read, loaded, quarantined), the quarantine's
reasons in words, the payload log of the real sources, and the Great Expectations Data Docs; for
regional users, the security audit log (who signed in, who failed, who changed what)."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dash import Input, Output, State, html

from dashboards.app import components, figures
from dashboards.app.data import parse_day
from dashboards.app.i18n import t, value_text
from dashboards.app.pages.alerts import bureau_time
from dashboards.app.reasons import readable
from dashboards.app.signin import AUDIT_TABLE


def _range(context):
    _, latest = context.warehouse.assessed_day_range(context.scope.key)
    if latest is None:
        return None, None
    end = parse_day(context.param("to"), latest)
    return parse_day(context.param("from"), end - timedelta(days=29)), end


LOG_HEADINGS = {"partition_day": "col_partition_day", "source": "col_source", "domain": "col_domain",
                "rows_read": "col_rows_read", "rows_loaded": "col_rows_loaded", "rows_quarantined": "col_rows_quarantined",
                "loaded_at": "col_loaded_at", "batch_id": "col_batch"}
PAYLOAD_HEADINGS = {"payload_id": "col_payload", "source": "col_source", "received_at": "col_received_at",
                    "fetched_at": "col_fetched_at", "origin": "col_origin", "status": "status", "error": "col_error",
                    "rows_read": "col_rows_read", "rows_loaded": "col_rows_loaded",
                    "rows_quarantined": "col_rows_quarantined", "rows_out_of_scope": "col_rows_out_of_scope"}


def headed(frame: pd.DataFrame, headings: dict[str, str], lang: str) -> pd.DataFrame:
    """The stored columns named as the page's language names them (the field names are not shown)."""
    return frame[list(headings)].rename(columns={c: t(key, lang) for c, key in headings.items()})


def _log(context) -> pd.DataFrame:
    start, end = _range(context)
    if end is None:
        return pd.DataFrame(columns=list(LOG_HEADINGS))
    return context.warehouse.ingest_log(start, end)


def log_table(context, log: pd.DataFrame | None = None) -> pd.DataFrame:
    lang = context.lang
    log = (_log(context) if log is None else log).copy()
    log["domain"] = [value_text("domain", d, lang) for d in log["domain"]]
    log["loaded_at"] = bureau_time(log["loaded_at"])
    return headed(log, LOG_HEADINGS, lang)


def reason_table(context) -> pd.DataFrame:
    lang = context.lang
    columns = [t("col_partition_day", lang), t("col_source", lang), t("col_rows", lang), t("col_reason", lang)]
    start, end = _range(context)
    if end is None:
        return pd.DataFrame(columns=columns)
    summary = context.warehouse.quarantine_summary(start, end, context.scope.key)
    return pd.DataFrame({columns[0]: summary["partition_day"], columns[1]: summary["source"],
                         columns[2]: summary["rows"],
                         columns[3]: [readable(e, r, lang) for e, r in zip(summary["expectation"], summary["reason"])]})


def payload_table(context) -> pd.DataFrame:
    lang = context.lang
    payloads = context.warehouse.payloads().copy()
    payloads["status"] = [value_text("payload_status", v, lang) for v in payloads["status"]]
    for column in ("received_at", "fetched_at"):
        payloads[column] = bureau_time(payloads[column])
    return headed(payloads, PAYLOAD_HEADINGS, lang)


GAP_HEADINGS = {"source": "col_source", "expected_at": "col_expected_at", "tries": "col_tries",
                "last_tried_at": "col_last_tried_at", "last_error": "col_error"}


def gap_table(context) -> pd.DataFrame:
    """The collection ledger's gaps (issue 21): each expected hour or snapshot a feed never
    delivered, on the bureaus' clock; no error reads '—' (pipelines/display.py)."""
    from pipelines.display import text_or_dash

    gaps = context.warehouse.collection_gaps().copy()
    for column in ("expected_at", "last_tried_at"):
        gaps[column] = bureau_time(gaps[column])
    gaps["last_error"] = [text_or_dash(e) for e in gaps["last_error"]]
    return headed(gaps, GAP_HEADINGS, context.lang)


AUDIT_DAYS = 30
AUDIT_ROWS = 2000
AUDIT_HEADINGS = {"occurred_at": "col_at", "event": "col_event", "user_name": "col_user", "address": "col_address",
                  "detail": "col_detail"}


def audit_table(context) -> pd.DataFrame | None:
    """The security audit log of the last AUDIT_DAYS days, the newest first, on the bureaus' clock:
    regional users only (None otherwise: no table, and its download is 404). Read afresh, never
    from the cache."""
    from pipelines import clock
    from pipelines.display import text_or_dash
    from warehouse import security_audit

    if not context.user.is_regional:
        return None
    lang = context.lang
    events = security_audit.events(context.warehouse.engine, clock.now() - timedelta(days=AUDIT_DAYS),
                                   limit=AUDIT_ROWS, newest_first=True)
    events["occurred_at"] = bureau_time(events["occurred_at"])
    events["event"] = [value_text("security_event", e, lang) for e in events["event"]]
    events["detail"] = [text_or_dash(value_text("security_detail", d, lang)) for d in events["detail"]]
    for column in ("user_name", "address"):
        events[column] = [text_or_dash(v) for v in events[column]]
    return headed(events, AUDIT_HEADINGS, lang)


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
        html.H4(t("collection_gaps", lang)),
        components.data_table("quality-gaps", gap_table(context), "quality/gaps", context, page_size=10),
    ]
    if context.user.is_regional:  # filled by its own callback, which the response cache leaves alone
        body += [html.H4(t("security_audit", lang).format(days=AUDIT_DAYS)),
                 components.data_table(AUDIT_TABLE, None, "quality/security", context, page_size=15)]
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
        log = _log(context)
        return (figures.ingest_bars(log, context.lang),
                *components.table_outputs("quality-reasons", reason_table(context), "quality/reasons", context),
                *components.table_outputs("quality-table", log_table(context, log), "quality/log", context),
                components.search_string(params))


    @app.callback(*components.table_targets(AUDIT_TABLE), Input("quality-range", "start_date"), State("url", "search"))
    def security_log(_start, search):
        context = current_context(components.parse_search(search))
        frame = audit_table(context)
        if frame is None:  # a crafted request of a city user: nothing
            frame = pd.DataFrame()
        return components.table_outputs(AUDIT_TABLE, frame, "quality/security", context)


TABLES = {"log": log_table, "reasons": reason_table, "payloads": payload_table, "gaps": gap_table,
          "security": audit_table}
