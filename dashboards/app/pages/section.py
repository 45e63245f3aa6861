"""Section detail: a series per parameter over the GB 3838 class bands, with QC-flagged days,
censored means ('< limit') and quarantined readings marked; the published class against envmon's;
and the completeness of each day. A user opens only the sections of their scope, by link or by URL."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pandas as pd
from dash import ALL, Input, Output, State, dcc, html, no_update

from dashboards.app import components, figures, places
from dashboards.app.data import city_name, parse_day
from dashboards.app.i18n import t
from pipelines import display
from pipelines.clock import BUREAU_TZ

DEFAULT_DAYS = 90
READINGS_PER_DAY = {"river": 6, "lake-reservoir": 6, "sea": 1}  # 4-hourly automatic stations; one coastal sample
PREFERRED = ("nh3n", "tp", "codmn", "do", "cod", "bod5", "ph")


def _station(context, section_id: str | None):
    """(row, problem): the section if the user may open it."""
    if not section_id:
        return None, None
    stations = context.stations.set_index("station_id")
    if section_id not in stations.index or stations.loc[section_id, "station_type"] == "air":
        return None, "not_found"
    if not context.scope.allows(section_id):
        return None, "forbidden"
    return stations.loc[section_id].copy().rename(section_id), None


def _range(context, section_id: str) -> tuple[date | None, date | None]:
    """The period shown: up to the section's latest assessed day, or, for a section without one (a
    station the feed has not carried for a long time), up to its domain's, so that its days of
    数据不足 / 无数据 are shown as such rather than a blank page."""
    domain = _domain(context, section_id)
    latest = (context.warehouse.latest_assessed_day(domain, (section_id,))
              or context.warehouse.latest_assessed_day(domain, context.scope.key))
    if latest is None:
        return None, None
    end = parse_day(context.param("to"), latest)
    start = parse_day(context.param("from"), end - timedelta(days=DEFAULT_DAYS - 1))
    return min(start, end), end


def _domain(context, section_id: str) -> str:
    kind = context.stations.set_index("station_id").loc[section_id, "station_type"]
    return "seawater" if kind == "sea" else "surface_water"


def _parameters(context, section_id: str, start: date, end: date) -> tuple[list[str], list[str]]:
    rollups = context.warehouse.rollup_series((section_id,), start, end)
    present = sorted(set(rollups["parameter"]))
    chosen = context.param("parameters")
    if chosen:
        selected = [p for p in chosen.split(",") if p in present]
    else:
        selected = [p for p in PREFERRED if p in present][:4]
    return present, selected


def series_block(context, station, start: date, end: date, selected: list[str]):
    rollups = context.warehouse.rollup_series((station.name,), start, end)
    quarantined = context.warehouse.quarantined_readings(station.name, start, end)
    graphs = []
    for code in selected:
        mine = rollups[rollups["parameter"] == code]
        graphs.append(components.graph({"type": "series", "parameter": code},
                                       figures.parameter_series(station, code, mine, quarantined, context.lang)))
    if not graphs:
        graphs = [components.notice(t("no_data", context.lang), "info", "series-empty")]
    complete = figures.completeness(rollups[rollups["parameter"].isin(selected or rollups["parameter"].unique())],
                                    READINGS_PER_DAY.get(station["station_type"], 6), context.lang)
    daily = context.warehouse.assessments_between(start, end, (station.name,), _domain(context, station.name))
    first_at = datetime.combine(start, time.min, BUREAU_TZ)
    last_at = datetime.combine(end + timedelta(days=1), time.min, BUREAU_TZ)
    published = context.warehouse.published_results(station.name, first_at, last_at)
    return graphs, complete, figures.published_against_computed(daily[daily["status"] == "assessed"], published,
                                                                 context.lang)


def _quarantine_columns(lang: str) -> list[str]:
    return [t("col_partition_day", lang), t("col_parameter", lang), t("col_observed_at", lang), t("col_value", lang),
            t("col_original_value", lang), t("col_reason", lang)]


def quarantine_table(context, section_id: str | None = None) -> pd.DataFrame:
    """The section's quarantined readings: the day, the parameter, when it was read (Beijing time),
    the value as sent and why it was set aside, in the page's language."""
    from dashboards.app.pages.alerts import bureau_time
    from dashboards.app.reasons import readable

    lang = context.lang
    columns = _quarantine_columns(lang)
    section_id = section_id or context.param("section")
    station, problem = _station(context, section_id)
    if station is None:
        return pd.DataFrame(columns=columns)
    start, end = _range(context, section_id)
    if start is None:
        return pd.DataFrame(columns=columns)
    frame = context.warehouse.quarantined_readings(section_id, start, end)
    return pd.DataFrame({columns[0]: frame["partition_day"],
                         columns[1]: [display.parameter_name(c, lang) for c in frame["parameter"]],
                         columns[2]: [display.text_or_dash(v) for v in bureau_time(frame["observed_at"])],
                         columns[3]: [display.number_text(v, 3) for v in frame["value"]],
                         columns[4]: [display.text_or_dash(v) for v in frame["original_value"]],
                         columns[5]: [readable(e, r, lang) for e, r in zip(frame["expectation"], frame["reason"])]})


def _daily_columns(lang: str) -> list[str]:
    return [t("col_day", lang), t("class", lang), t("target", lang), t("status", lang), t("failing_items", lang),
            t("col_values_used", lang), t("col_standard", lang)]


def daily_table(context, section_id: str | None = None) -> pd.DataFrame:
    """The section's daily classes: 无数据 / 数据不足 / 指标不全 where a day has no valid class (as
    its stored status says), 未达标 only for an assessed day that failed its target."""
    lang = context.lang
    columns = _daily_columns(lang)
    section_id = section_id or context.param("section")
    station, problem = _station(context, section_id)
    if station is None:
        return pd.DataFrame(columns=columns)
    start, end = _range(context, section_id)
    if start is None:
        return pd.DataFrame(columns=columns)
    daily = context.warehouse.assessments_between(start, end, (section_id,), _domain(context, section_id))
    frame = pd.DataFrame({
        columns[0]: daily["period_start"],
        columns[1]: [display.class_text(c, lang, s) for c, s in zip(daily["water_class"], daily["status"])],
        columns[2]: [display.target_text(r["target_class"], lang, display.target_status_of(r))
                     for r in daily.to_dict("records")],
        columns[3]: [display.verdict_text(v, lang, s, display.target_status_of(r))
                     for v, s, r in zip(daily["is_compliant"], daily["status"], daily.to_dict("records"))],
        columns[4]: [figures.failing_text(f, lang) for f in daily["failing_parameters"]],
        columns[5]: daily["values_used"], columns[6]: [display.text_or_dash(v) for v in daily["standard"]]})
    return frame.sort_values(columns[0], ascending=False)


def _options(sections: pd.DataFrame, lang: str) -> list[dict]:
    return [{"label": f"{'◆ ' if s['is_cross_boundary'] else ''}{s['name_zh']} · {s['water_body']} "
                      f"({city_name(s['city'], lang)})",
             "value": s["station_id"]} for _, s in sections.iterrows() if s["station_type"] != "air"]


def _national_sections(context) -> tuple[pd.DataFrame, pd.DataFrame, str | None, str | None]:
    """National scope (issue 27): the user's sections with provinces, those of the province and city
    chosen (refused outside the user's stations), and the two chosen."""
    visible, province, city = places.place(context, lambda stations: stations["station_type"] != "air")
    return visible, places.narrowed(visible, province, city), province, city


def _picker(context):
    lang = context.lang
    if not places.national():
        return html.Div([html.Label([t("section", lang), dcc.Dropdown(id="section-pick", options=_options(
            context.visible, lang), style={"width": "420px"})])], className="filters")
    visible, shown, province, city = _national_sections(context)
    return html.Div([
        *places.filter_dropdowns("section", visible, province, city, lang),
        html.Label([t("section", lang), dcc.Dropdown(id="section-pick", options=_options(shown, lang),
                                                     style={"width": "420px"})])], className="filters")


def render(context, rest):
    lang = context.lang
    section_id = rest[0] if rest else None
    if not section_id:
        return [_picker(context), components.notice(t("sections_shown", lang) + f": {len(context.visible)}")], None
    station, problem = _station(context, section_id)
    if problem == "forbidden":
        return [components.notice(t("forbidden", lang), "error", "forbidden")], None
    if station is None:
        return [components.notice(t("not_found", lang), "error", "not-found")], None
    context.params["section"] = section_id
    start, end = _range(context, section_id)
    title = html.H2([f"{'◆ ' if station['is_cross_boundary'] else ''}{station['name_zh']} · {station['water_body']} · "
                     f"{city_name(station['city'], lang)} · {t('target', lang)} "
                     f"{display.class_text(station['target_class'], lang, 'target unset')}"], id="section-title")
    assumptions = station.get("assumptions")
    facts = html.P(f"{display.text_or_dash(station['upstream_jurisdiction'])} → "
                   f"{display.text_or_dash(station['downstream_jurisdiction'])}"
                   if station["is_cross_boundary"] else ("" if display.is_missing(assumptions) else assumptions),
                   className="hint")
    if start is None:
        return [_picker(context), title, components.notice(t("no_data", lang), "info", "section-empty")], None
    present, selected = _parameters(context, section_id, start, end)
    first, last = context.warehouse.assessed_day_range((section_id,))
    body = [
        _picker(context), title, facts,
        html.Div([
            html.Label([t("period", lang), components.date_range("section-range", first, last, start, end)]),
            html.Label([t("parameters", lang), dcc.Checklist(id="section-parameters", options=[
                {"label": f"{display.parameter_name(code, lang)} {code}", "value": code} for code in present], value=selected,
                                                             inline=True, className="checklist")]),
        ], className="filters"),
        html.Div(id="section-series"),
        components.graph("section-completeness", components.PENDING),
        components.graph("section-published", components.PENDING),
        html.H4(t("quarantined", lang)),
        components.data_table("section-quarantine", None, "section/quarantine", context),
        html.H4(t("class", lang)),
        components.data_table("section-daily", None, "section/daily", context, page_size=15),
    ]
    return body, (start, end)


def register(app, current_context) -> None:
    @app.callback(Output("section-series", "children"), Output("section-completeness", "figure"),
                  Output("section-published", "figure"), *components.table_targets("section-quarantine"),
                  *components.table_targets("section-daily"), Output("url", "search", allow_duplicate=True),
                  Input("section-range", "start_date"), Input("section-range", "end_date"),
                  Input("section-parameters", "value"), State("url", "pathname"), State("url", "search"),
                  prevent_initial_call="initial_duplicate")
    def update(start, end, selected, pathname, search):
        params = components.parse_search(search)
        params.update({"from": (start or "")[:10] or None, "to": (end or "")[:10] or None,
                       "parameters": ",".join(selected or []) or None})
        context = current_context(params)
        section_id = [p for p in (pathname or "").split("/") if p][-1]
        station, problem = _station(context, section_id)
        if station is None:  # a crafted request for a section outside the user's scope
            return ([components.notice(t("forbidden", context.lang), "error", "forbidden")], no_update, no_update,
                    [], [], [], [], [], [], no_update)
        context.params["section"] = section_id
        first, last = _range(context, section_id)
        graphs, complete, published = series_block(context, station, first, last, selected or [])
        return (graphs, complete, published,
                *components.table_outputs("section-quarantine", quarantine_table(context, section_id),
                                          "section/quarantine", context),
                *components.table_outputs("section-daily", daily_table(context, section_id), "section/daily", context),
                components.search_string(params))

    @app.callback(Output("url", "pathname", allow_duplicate=True), Input("section-pick", "value"),
                  prevent_initial_call=True)
    def pick(section_id):
        return f"/section/{section_id}" if section_id else no_update

    if places.national():
        @app.callback(Output("section-pick", "options"), Output("section-city", "options"),
                      Input("section-province", "value"), Input("section-city", "value"), State("url", "search"),
                      prevent_initial_call=True)
        def narrow(province, city, search):
            """The sections of the province and city chosen (issue 27), refused outside the user's stations."""
            params = components.parse_search(search)
            params.update(province=province or None, city=city or None)
            context = current_context(params)
            visible, shown, province, _ = _national_sections(context)
            return _options(shown, context.lang), places.cities_of(visible, province, context.lang)


TABLES = {"quarantine": quarantine_table, "daily": daily_table}
