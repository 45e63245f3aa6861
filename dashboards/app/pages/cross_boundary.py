"""Cross-boundary board: for each cross-boundary section, 24 months of its class against target
(month-to-date rows under the agreement's scheme, as stored), the compliance rate against the rate
its agreement requires, the jurisdictions on either side, the failing items with their multiples,
and the alert state. Failing sections come first."""
from __future__ import annotations

from datetime import date

import pandas as pd
from dash import Input, Output, State, dcc, html

from dashboards.app import components, figures, places
from dashboards.app.data import parse_day
from dashboards.app.i18n import TEXT, t, value_text
from pipelines import display
from pipelines.assessment import cross_boundary as schemes
from warehouse.queries import month_bounds

MONTHS = 24
RATE_MONTHS = 12  # the compliance rate is over the last 12 months shown


def failed(row) -> bool:
    """A real failure: a month with a class that misses its target, also when a required indicator
    is missing ('indicators incomplete': the ones it has already fail, surface_water.verdict_under)."""
    return (row is not None and row["status"] in ("assessed", "indicators incomplete")
            and not display.is_missing(row["water_class"]) and not display.is_missing(row["is_compliant"])
            and not bool(row["is_compliant"]))


def assessed(row) -> bool:
    """A month that counts in a rate: assessed, with a class and a compliance answer, or a real
    failure. A month without valid data (no data), with too few values (insufficient data), lacking
    a required indicator without failing (indicators incomplete) or without a target is never
    counted nor shown as a failure (the stored class may be NaN)."""
    return failed(row) or (row is not None and row["status"] == "assessed"
                           and not display.is_missing(row["water_class"]) and not display.is_missing(row["is_compliant"]))


def month_text(row, lang: str) -> str:
    """'Ⅳ · 未达标', 'Ⅱ · 达标', or why there is none: 无数据 (no row, or no valid data), 数据不足,
    指标不全; a failure lacking an indicator: 'Ⅴ · 未达标 (指标不全)'."""
    if row is None:
        return display.word("no_data", lang)
    target_status = display.target_status_of(row)  # against an assumed target the verdict says so
    if failed(row) and row["status"] != "assessed":
        return (f"{display.class_and_verdict(row['water_class'], False, lang, 'assessed', target_status)} "
                f"({display.word('indicators_incomplete', lang)})")
    return display.class_and_verdict(row["water_class"], row["is_compliant"], lang, row["status"], target_status)


def rate_of(rows: list, lang: str, periods: int = RATE_MONTHS) -> str:
    """The compliance rate over the assessed months among `rows` (the rate's months that have a
    row), with how many of the `periods` had data: '83% (10/12)', '80% (8/10, 10/12 期有数据)',
    '— (0/12, 无数据)'."""
    counted = [r for r in rows if assessed(r)]
    return display.rate_text(sum(not failed(r) for r in counted), len(counted), periods, lang)


def _months(end: date, count: int = MONTHS) -> list[date]:
    months = []
    year, month = end.year, end.month
    for _ in range(count):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _end(context) -> date | None:
    latest = context.warehouse.latest_assessed_day("surface_water", context.scope.key, period="month")
    chosen = parse_day(context.param("end"), latest)
    return min(chosen, latest) if chosen and latest else chosen


def _crossing(stations: pd.DataFrame) -> pd.Series:
    return stations["is_cross_boundary"].fillna(False).astype(bool) & stations["station_type"].isin(
        ["river", "lake-reservoir"])


def _sections(context) -> pd.DataFrame:
    """The user's cross-boundary sections; at national scope those of the province and city chosen
    (dashboards/app/places.py: a 403 outside the user's sections)."""
    if places.national():
        return places.narrowed(*places.place(context, _crossing))
    visible = context.visible
    return visible[visible["is_cross_boundary"].astype(bool) & visible["station_type"].isin(["river", "lake-reservoir"])]


def _filters(context) -> list:
    """The province and city dropdowns at national scope (issue 27), none at beibu scope."""
    return places.filter_dropdowns("cross", *places.place(context, _crossing), context.lang) if places.national() \
        else []


def board(context, end: date | None = None) -> tuple[pd.DataFrame, pd.DataFrame, list[date]]:
    """The sections in the order shown (failing first), the monthly rows and the months."""
    end = end or _end(context)
    sections = _sections(context)
    if end is None or sections.empty:
        return sections, pd.DataFrame(columns=["station_id"]), []
    months = _months(end)
    monthly = context.warehouse.assessments_between(months[0], months[-1], context.scope.key, "surface_water", "month")
    monthly = monthly[monthly["station_id"].isin(sections["station_id"])]
    newest = {r["station_id"]: failed(r) for r in monthly[monthly["period_start"] == months[-1]].to_dict("records")}
    failing = sections["station_id"].map(lambda s: newest.get(s, False)).astype(bool)
    sections = pd.concat([sections[failing], sections[~failing]])
    return sections, monthly, months


def _alert_states(context, lang: str = "zh") -> dict[str, str]:
    """Each section's newest episode (open, acknowledged, resolved), or its newest alert on a
    warehouse from before alert episodes."""
    from dashboards.app.pages.alerts import state_of

    if context.warehouse.has_alert_episodes():
        episodes = context.warehouse.alert_episodes(context.scope.key)
        newest = episodes.drop_duplicates("section_id")  # newest first
        days = "天" if lang == "zh" else " d"
        return {e["section_id"]: f"{value_text('episode_state', state_of(e), lang)} · {e['opened_on']} "
                                 f"({e['days_failed']}{days})" for _, e in newest.iterrows()}
    alerts = context.warehouse.latest_alerts(context.scope.key)
    return {a["station_id"]: f"{a['period_start']} · {a['delivery_status']}" for _, a in alerts.iterrows()}


def board_table(context, end: date | None = None) -> pd.DataFrame:
    lang = context.lang
    sections, monthly, months = board(context, end)
    columns = [t("col_section", lang), t("upstream", lang), t("downstream", lang), t("target", lang),
               t("class", lang),
               t("compliance_rate", lang) + " (12)", t("agreement_rate", lang), t("failing_items", lang),
               t("alert_state", lang), "section_id"]
    if not months:
        return pd.DataFrame(columns=columns)
    alerts = _alert_states(context, lang)
    year_months = set(months[-RATE_MONTHS:])
    last_day = month_bounds(months[-1])[1]
    by_section: dict[str, dict] = {}
    for row in monthly.to_dict("records"):  # plain dicts: a few hundred rows, no pandas per row
        by_section.setdefault(row["station_id"], {})[row["period_start"]] = row
    rows = []
    for section in sections.to_dict("records"):
        mine = by_section.get(section["station_id"], {})
        recent = [r for month, r in mine.items() if month in year_months]
        newest = mine.get(months[-1])
        # the target of the newest month shown: in force on its last day (the registry's, by period)
        scheme = schemes.scheme_for(section["station_id"], months[-1].year, at=last_day)
        target_status = schemes.stored_target_status(scheme, section["station_id"], last_day)
        alert = alerts.get(section["station_id"])
        rows.append({
            columns[0]: f"{section['name_zh']} ({section['water_body']})",
            columns[1]: section["upstream_jurisdiction"], columns[2]: section["downstream_jurisdiction"],
            columns[3]: display.target_text(scheme.target_class, lang, target_status),
            columns[4]: month_text(newest, lang),
            columns[5]: rate_of(recent, lang, len(year_months)),
            # an agreement whose rate was never recovered (九洲江 2015–2017) says so, never 'nan%'
            columns[6]: f"{display.required_rate_text(scheme.required_monthly_compliance, lang)} "
                        f"({t('scheme_' + scheme.scheme_id, lang) if 'scheme_' + scheme.scheme_id in TEXT else scheme.scheme_id})",
            columns[7]: display.multiples_text(newest["failing_parameters"], lang) if failed(newest) else "",
            columns[8]: alert or "—",
            columns[9]: section["station_id"],
        })
    return pd.DataFrame(rows, columns=columns)


def render(context, rest):
    lang = context.lang
    end = _end(context)
    months = _months(end) if end else []
    links = html.Ul([html.Li(dcc.Link(f"{s['name_zh']} ({s['water_body']})", href=f"/section/{s['station_id']}"
                                      + components.search_string({"lang": context.param("lang")})))
                     for _, s in _sections(context).iterrows()], className="section-links")
    body = [
        html.Div([*_filters(context), html.Label([t("period", lang) + " (→)", dcc.DatePickerSingle(
            id="cross-end", date=end, display_format="YYYY-MM", max_date_allowed=end)])], className="filters"),
        components.graph("cross-strip", components.PENDING),
        components.data_table("cross-table", None, "cross-boundary/board", context,
                              # only a real failure: the verdict word itself, never 无数据 / 数据不足
                              style_rows=[{"if": {"filter_query": f'{{{t("class", lang)}}} contains "{display.word("failed", lang)}"'},
                                           "backgroundColor": "#fde0dd"}]),
        html.H4(t("section", lang)), links,
    ]
    days = (months[0], month_bounds(months[-1])[1]) if months else None
    return body, days


def register(app, current_context) -> None:
    @app.callback(Output("cross-strip", "figure"), *components.table_targets("cross-table"),
                  *places.filter_outputs("cross"), Output("url", "search", allow_duplicate=True),
                  Input("cross-end", "date"), *places.filter_inputs("cross"), State("url", "search"),
                  prevent_initial_call="initial_duplicate")
    def update(end, *rest):
        *place, search = rest
        params = components.parse_search(search)
        params["end"] = (end or "")[:10] or None
        places.take(params, place)
        context = current_context(params)
        cities = places.answered(context, params, _crossing)
        chosen = _end(context)
        sections, monthly, months = board(context, chosen)
        figure = figures.class_strip(sections, monthly, months, context.lang) if months else figures.empty(
            t("no_data", context.lang))
        table = board_table(context, chosen).drop(columns=["section_id"])
        return (figure, *components.table_outputs("cross-table", table, "cross-boundary/board", context),
                *cities, components.search_string(params))


TABLES = {"board": lambda context: board_table(context)}
