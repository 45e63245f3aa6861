"""Alerts: the episodes of sections out of their target (open, acknowledged, resolved) with the
history of what was done about each, for the sections a user may see; on a warehouse from before
alert episodes (migration 0010), the alerts raised per section and day.

An open episode can be acknowledged here with a comment, as the logged-in user, by the same
pipelines.alerts.acknowledge as `envmon alerts ack` (the audit trail, and no escalation after it).
Who may: the callback itself checks that the episode's section is in the user's scope (a city
bureau: its own sections and the cross-boundary ones it shares; regional: all), whatever the request
holds. The write goes through the app's acknowledging connection (ENVMON_DASHBOARD_ACK_URL), never
the read-only one the pages read through."""
from __future__ import annotations

import logging
from datetime import timedelta

import pandas as pd
from dash import Input, Output, State, dcc, html

from dashboards.app import components
from dashboards.app.data import parse_day
from dashboards.app.i18n import t, value_text
from pipelines import display


log = logging.getLogger(__name__)
COMMENT_CHARS = 1000
WORDS = {  # (中文, English)
    "ack_title": ("确认预警", "Acknowledge an episode"),
    "ack_episode": ("选择未结束的预警", "an open episode"),
    "ack_comment": ("说明（处理情况）", "comment (what is being done)"),
    "ack_button": ("确认", "Acknowledge"),
    "ack_done": ("已确认：预警 {id}，确认人 {who}", "Acknowledged: episode {id}, by {who}"),
    "ack_forbidden": ("无权确认此预警（不在本局负责的断面范围内）",
                      "You may not acknowledge this episode (its section is not one your bureau answers for)"),
    "ack_not_open": ("预警 {id} 已结束，无需确认", "Episode {id} is no longer open"),
    "ack_choose": ("请先选择一条预警", "Choose an episode first"),
    "ack_off": ("本系统未配置确认功能的数据库连接；请用 envmon alerts ack",
                "Acknowledging is not configured here (ENVMON_DASHBOARD_ACK_URL); use envmon alerts ack"),
    "acknowledged": ("已确认", "acknowledged"),
    "history": ("处理记录", "history"),
}


def w(key: str, lang: str) -> str:
    return WORDS[key][1 if lang == "en" else 0]


def bureau_time(instants: pd.Series) -> pd.Series:
    """UTC instants as the bureaus read them: Beijing time, to the minute, marked as such."""
    from pipelines.clock import BUREAU_TZ

    times = pd.to_datetime(instants, utc=True, errors="coerce")
    return times.dt.tz_convert(BUREAU_TZ).dt.strftime("%Y-%m-%d %H:%M (UTC+8)").where(times.notna(), None)


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


def _episodes(context) -> pd.DataFrame:
    start, end = _range(context)
    return context.warehouse.alert_episodes(context.scope.key, start, end)


def _day_or_dash(values: pd.Series) -> list[str]:
    return [display.text_or_dash(v) for v in values]


def episode_table(context) -> pd.DataFrame:
    """The episodes as a duty officer reads them: headings and states in the page's language, the
    failing items with their 超标倍数 as a bulletin writes them ('总磷 1.8倍；氨氮 0.3倍'), never the
    stored JSON; '—' where there is nothing to say (an open episode's resolution day)."""
    lang = context.lang
    episodes = _episodes(context)
    names = context.stations.set_index("station_id")["name_zh"]
    return pd.DataFrame({
        t("col_episode", lang): episodes["episode_id"],
        t("col_section", lang): episodes["section_id"].map(names),
        t("alert_state", lang): [value_text("episode_state", state_of(e), lang) for _, e in episodes.iterrows()],
        t("col_opened", lang): _day_or_dash(episodes["opened_on"]),
        t("col_last_failed", lang): _day_or_dash(episodes["last_failed_on"]),
        t("col_resolved", lang): _day_or_dash(episodes["resolved_on"]),
        t("col_worst_class", lang): [display.class_text(c, lang) for c in episodes["worst_class"]],
        t("target", lang): _day_or_dash(episodes["target_class"]),
        t("col_days_failed", lang): episodes["days_failed"],
        t("failing_items", lang): [display.multiples_text(items, lang) or "—" for items in episodes["failing_items"]],
        t("col_acknowledged_by", lang): _day_or_dash(episodes["acknowledged_by"]),
        t("col_acknowledged_at", lang): _day_or_dash(bureau_time(episodes["acknowledged_at"])),
        t("col_escalated_at", lang): _day_or_dash(bureau_time(episodes["escalated_at"]))})


def history_table(context) -> pd.DataFrame:
    """Who acknowledged or resolved the episodes shown, when, and their comment."""
    lang = context.lang
    episodes = _episodes(context)
    names = context.stations.set_index("station_id")["name_zh"]
    actions = context.warehouse.alert_actions(tuple(int(e) for e in episodes["episode_id"]))
    sections = dict(zip(episodes["episode_id"].astype(int), episodes["section_id"].map(names)))
    return pd.DataFrame({t("col_episode", lang): actions["episode_id"],
                         t("col_section", lang): actions["episode_id"].map(lambda e: sections.get(int(e))),
                         t("col_action", lang): [value_text("action", a, lang) for a in actions["action"]],
                         t("col_by", lang): actions["actor"],
                         t("col_at", lang): _day_or_dash(bureau_time(actions["acted_at"])),
                         t("col_comment", lang): _day_or_dash(actions["comment"])}).iloc[::-1]  # the newest first


def ack_options(context) -> list[dict]:
    """The open episodes of the sections the user may see (acknowledged ones too: a later
    acknowledgement adds to the audit trail, as `envmon alerts ack` does)."""
    episodes = context.warehouse.alert_episodes(context.scope.key)
    names = context.stations.set_index("station_id")["name_zh"]
    options = []
    for _, e in episodes[episodes["status"] == "open"].iterrows():
        label = f"#{e['episode_id']} {names.get(e['section_id'], e['section_id'])} · {e['opened_on']} … {e['last_failed_on']}"
        if e["acknowledged_by"] is not None and not pd.isna(e["acknowledged_by"]):
            label += f" ({w('acknowledged', context.lang)}: {e['acknowledged_by']})"
        options.append({"label": label, "value": int(e["episode_id"])})
    return options


def acknowledge_as(context, ack_engine, episode_id, comment) -> tuple[str, str]:
    """Acknowledge an episode as the context's user, if the user may: (kind, message). The scope
    check is here, on the server, for whatever episode id a request names; an episode outside
    the scope and one that does not exist get the same answer."""
    from pipelines import alerts

    lang = context.lang
    if ack_engine is None:
        return "off", w("ack_off", lang)
    try:
        episode_id = int(episode_id)
    except (TypeError, ValueError):
        return "choose", w("ack_choose", lang)
    episode = context.warehouse.alert_episode(episode_id)
    if episode is None or not context.scope.allows(episode["section_id"]):
        log.warning("user %s may not acknowledge alert episode %s", context.user.name, episode_id)
        return "forbidden", w("ack_forbidden", lang)
    if episode["status"] != "open":
        return "not-open", w("ack_not_open", lang).format(id=episode_id)
    text = (comment or "").strip()[:COMMENT_CHARS] or None
    alerts.acknowledge(ack_engine, episode_id, context.user.name, text)
    log.info("alert episode %s acknowledged by %s", episode_id, context.user.name)
    _audit_acknowledgement(context.user.name, episode_id)
    return "done", w("ack_done", lang).format(id=episode_id, who=context.user.name)


def _audit_acknowledgement(name: str, episode_id: int) -> None:
    """The security audit log's record of it (dashboards/app/signin.py), with the user's address."""
    import flask

    sign_in = flask.current_app.config.get("ENVMON_SIGN_IN")
    if sign_in is not None:
        sign_in.record("acknowledgement", name, flask.request.remote_addr, f"episode {episode_id}")


def ack_block(context) -> html.Div:
    import flask

    lang = context.lang
    if flask.current_app.config.get("ENVMON_ACK_ENGINE") is None:
        return html.Div([html.H4(w("ack_title", lang)), components.notice(w("ack_off", lang), "info", "alerts-ack-off")],
                        className="ack-block", id="alerts-ack")
    return html.Div([
        html.H4(w("ack_title", lang)),
        dcc.Dropdown(id="alerts-ack-episode", options=ack_options(context), placeholder=w("ack_episode", lang)),
        dcc.Textarea(id="alerts-ack-comment", maxLength=COMMENT_CHARS, placeholder=w("ack_comment", lang),
                     style={"width": "100%", "height": 60}),
        html.Button(w("ack_button", lang), id="alerts-ack-button", n_clicks=0),
        html.Div(id="alerts-ack-result", role="status"),
    ], className="ack-block", id="alerts-ack")


def alert_table(context) -> pd.DataFrame:
    """The per section-day alerts of warehouses before migration 0010 (kept, no longer written)."""
    lang = context.lang
    start, end = _range(context)
    rows = context.warehouse.alerts(context.scope.key, start, end)
    names = context.stations.set_index("station_id")["name_zh"]
    return pd.DataFrame({t("col_raised_at", lang): _day_or_dash(bureau_time(rows["raised_at"])),
                         t("col_section", lang): rows["station_id"].map(names),
                         t("col_period_kind", lang): [value_text("period", v, lang) for v in rows["period"]],
                         t("col_day", lang): _day_or_dash(rows["period_start"]),
                         t("col_subject", lang): rows["subject"], t("col_recipients", lang): rows["recipients"],
                         t("col_delivery", lang): [value_text("delivery", v, lang) for v in rows["delivery_status"]],
                         t("col_attempts", lang): rows["attempts"],
                         t("col_detail", lang): _day_or_dash(rows["delivery_detail"])})


def render(context, rest):
    lang = context.lang
    start, end = _range(context)
    body = [html.Div([html.Label([t("period", lang), components.date_range("alerts-range", None, None, start, end)])],
                     className="filters"),
            html.H3(t("alerts_title", lang)), dcc.Store(id="alerts-ack-done")]
    if context.warehouse.has_alert_episodes():
        body += [components.data_table("alerts-table", None, "alerts/episodes", context,
                                       style_rows=[{"if": {"filter_query": f'{{{t("alert_state", lang)}}} = '
                                                                    f'"{value_text("episode_state", "open", lang)}"'},
                                                    "backgroundColor": "#fde0dd"}]),
                 ack_block(context),
                 html.H4(w("history", lang)),
                 components.data_table("alerts-history", history_table(context), "alerts/history", context)]
    else:
        body += [components.data_table("alerts-table", None, "alerts/alerts", context)]
    return body, (start, end)


def register(app, current_context) -> None:
    @app.callback(*components.table_targets("alerts-table"), Output("url", "search", allow_duplicate=True),
                  Input("alerts-range", "start_date"), Input("alerts-range", "end_date"),
                  Input("alerts-ack-done", "data"), State("url", "search"), prevent_initial_call="initial_duplicate")
    def update(start, end, _acknowledged, search):
        params = components.parse_search(search)
        params.update({"from": (start or "")[:10] or None, "to": (end or "")[:10] or None})
        context = current_context(params)
        if context.warehouse.has_alert_episodes():
            outputs = components.table_outputs("alerts-table", episode_table(context), "alerts/episodes", context)
        else:
            outputs = components.table_outputs("alerts-table", alert_table(context), "alerts/alerts", context)
        return (*outputs, components.search_string(params))

    @app.callback(Output("alerts-ack-result", "children"), Output("alerts-ack-result", "className"),
                  Output("alerts-history", "data"), Output("alerts-history", "columns"),
                  Output("alerts-ack-episode", "options"), Output("alerts-ack-done", "data"),
                  Input("alerts-ack-button", "n_clicks"), State("alerts-ack-episode", "value"),
                  State("alerts-ack-comment", "value"), State("url", "search"), prevent_initial_call=True)
    def acknowledge(_clicks, episode_id, comment, search):
        import flask

        context = current_context(components.parse_search(search))
        kind, message = acknowledge_as(context, flask.current_app.config.get("ENVMON_ACK_ENGINE"), episode_id, comment)
        data, columns = components.table_payload(history_table(context))
        return (message, f"notice {'info' if kind == 'done' else 'error'} ack-{kind}", data, columns,
                ack_options(context), kind)


TABLES = {"alerts": alert_table, "episodes": episode_table, "history": history_table}
