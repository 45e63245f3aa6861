"""Overview: the map of sections by their latest assessed class against target, and the KPIs of
each city. Each domain (surface water, coastal waters, air) is shown on its own latest day with
assessed data, stated beside its figures: the feeds do not run together (real water CSVs may end
years before the air feed does), and one domain's day must not blank another's. A day that holds
only 'insufficient data' rows is never a domain's latest day."""
from __future__ import annotations

from datetime import date

import pandas as pd
from dash import Input, Output, State, dcc, html

from dashboards.app import components, figures
from dashboards.app.data import city_name, parse_day
from dashboards.app.i18n import t
from pipelines import clock, display

WORST_SURFACE = "劣Ⅴ"
GOOD_SURFACE = ("Ⅰ", "Ⅱ", "Ⅲ")
SIX_CITIES = ("南宁市", "北海市", "防城港市", "钦州市", "玉林市", "崇左市")
DOMAINS = ("surface_water", "seawater", "air")
DAY_IDS = {"surface_water": "latest-day-water", "seawater": "latest-day-sea", "air": "latest-day-air"}


def latest_days(context) -> dict[str, date | None]:
    """Each domain's latest day with assessed data, for the stations the user may see."""
    return {domain: context.warehouse.latest_assessed_day(domain, context.scope.key) for domain in DOMAINS}


def latest_day(context) -> date | None:
    """The newest of the domains' latest days: the furthest the 'as of' picker goes."""
    days = [day for day in latest_days(context).values() if day]
    return max(days) if days else None


def _day(context) -> date | None:
    """The 'as of' day chosen (default: the newest day of any domain)."""
    latest = latest_day(context)
    chosen = parse_day(context.param("day"), latest)
    return min(chosen, latest) if chosen and latest else chosen


def domain_days(context, as_of: date | None = None) -> dict[str, date | None]:
    """The day each domain is shown on: its own latest assessed day, or the day chosen where that
    is earlier."""
    as_of = as_of or _day(context)
    return {domain: (min(as_of, latest) if as_of and latest else latest)
            for domain, latest in latest_days(context).items()}


def _stations(context, city: str | None) -> pd.DataFrame:
    visible = context.visible
    return visible if not city else visible[visible["city"] == city]


def _day_text(day: date | None, lang: str = "zh") -> str:
    return str(day) if day else display.word("no_data", lang)


def map_figure(context, as_of: date | None, city: str | None) -> dict:
    days = domain_days(context, as_of)
    water_day, sea_day = days["surface_water"], days["seawater"]
    if water_day is None and sea_day is None:
        return figures.empty(t("no_data", context.lang), 600)
    stations = _stations(context, city)
    frames = [context.warehouse.latest_assessments(domain, day, context.scope.key)
              for domain, day in (("surface_water", water_day), ("seawater", sea_day)) if day]
    latest = pd.concat(frames, ignore_index=True)
    days_text = t("map_days", context.lang).format(water=_day_text(water_day, context.lang),
                                                   sea=_day_text(sea_day, context.lang))
    return figures.section_map(stations, latest, context.lang, city or context.scope.city, water_day or sea_day,
                               days_text)


def kpi_table(context, as_of: date | None = None, city: str | None = None) -> pd.DataFrame:
    """One row per city: share of sections at Ⅰ–Ⅲ and the 劣Ⅴ count (latest assessed class), the
    cross-boundary sections compliant this month so far, the day's AQI range over its stations and the
    share of 优良 station-days this year. Counts of stored verdicts, no verdict made here. The water
    columns are of surface water's day, the air columns of air's: each heading names its day."""
    lang = context.lang
    days = domain_days(context, as_of)
    day, air_day = days["surface_water"], days["air"]
    year = (air_day or day or clock.today()).year
    columns = [t("city", lang), f"{t('kpi_share_good', lang)} · {_day_text(day, lang)}",
               f"{t('kpi_worst', lang)} · {_day_text(day, lang)}",
               f"{t('kpi_cross_mtd', lang)} · {day.strftime('%Y-%m') if day else display.word('no_data', lang)}",
               f"{t('kpi_aqi', lang)} · {_day_text(air_day, lang)}",
               f"{t('kpi_good_days_year', lang).format(year=year)} · {_day_text(air_day, lang)}"]
    if day is None and air_day is None:
        return pd.DataFrame(columns=columns)
    visible = _stations(context, city)
    names = visible.set_index("station_id")

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame["station_id"].isin(names.index)]
        return frame.assign(city=frame["station_id"].map(names["city"]))

    if day:
        water = mine(context.warehouse.latest_assessments("surface_water", day, context.scope.key))
        month = mine(context.warehouse.assessments_between(day.replace(day=1), day.replace(day=1), context.scope.key,
                                                           "surface_water", "month"))
    else:
        water = pd.DataFrame(columns=["station_id", "water_class", "city"])
        month = pd.DataFrame(columns=["station_id", "status", "is_compliant", "city"])
    if air_day:
        air = mine(context.warehouse.assessments_between(air_day, air_day, context.scope.key, "air",
                                                         assessed_only=True))
        counts = mine(context.warehouse.air_day_counts(date(air_day.year, 1, 1), air_day, context.scope.key))
    else:
        air = pd.DataFrame(columns=["station_id", "aqi", "city"])
        counts = pd.DataFrame(columns=["station_id", "days_assessed", "days_good", "city"])
    no_data = display.word("no_data", lang)
    cities = [c for c in SIX_CITIES if c in set(visible["city"])]
    rows = []
    for name in cities:
        sections = water[(water["city"] == name) & water["water_class"].map(lambda c: not display.is_missing(c))]
        crossing = month[(month["city"] == name) & (month["status"] == "assessed")]
        aqi = air[air["city"] == name]["aqi"].dropna()
        good = counts[counts["city"] == name]
        assessed_days = int(good["days_assessed"].fillna(0).sum())
        good_days = int(good["days_good"].fillna(0).sum())
        good_share = sections["water_class"].isin(GOOD_SURFACE)
        rows.append({
            columns[0]: city_name(name, lang),
            columns[1]: f"{good_share.mean():.0%} ({int(good_share.sum())}/{len(sections)})" if len(sections) else no_data,
            columns[2]: int((sections["water_class"] == WORST_SURFACE).sum()) if len(sections) else no_data,
            columns[3]: f"{int((crossing['is_compliant'] == True).sum())}/{len(crossing)}" if len(crossing) else no_data,  # noqa: E712
            columns[4]: f"{int(aqi.min())}–{int(aqi.max())} ({len(aqi)})" if len(aqi) else no_data,
            columns[5]: f"{good_days / assessed_days:.1%} ({good_days}/{assessed_days})" if assessed_days else no_data,
        })
    return pd.DataFrame(rows, columns=columns)


def cross_boundary_today(context, as_of: date | None = None, city: str | None = None) -> pd.DataFrame:
    """The cross-boundary sections on surface water's day: class, verdict and the day it is of,
    failing items as a bulletin writes them; 无数据 where a section has no assessed day in the month
    before it. Failing sections first."""
    lang = context.lang
    day = domain_days(context, as_of)["surface_water"]
    columns = [t("col_section", lang), t("class", lang), t("target", lang), t("status", lang), t("failing_items", lang),
               t("upstream", lang), t("downstream", lang), t("col_section_id", lang)]
    if day is None:
        return pd.DataFrame(columns=columns)
    visible = _stations(context, city)
    crossing = visible[visible["is_cross_boundary"].astype(bool) & visible["station_type"].isin(["river", "lake-reservoir"])]
    latest = context.warehouse.latest_assessments("surface_water", day, context.scope.key).set_index("station_id")
    rows = []
    for _, section in crossing.iterrows():
        row = latest.loc[section["station_id"]] if section["station_id"] in latest.index else None
        water_class = None if row is None else row["water_class"]
        if row is None or display.is_missing(water_class):
            status = display.word("no_data", lang)
        else:
            status = (f"{display.verdict_text(row['is_compliant'], lang, row['status'], display.target_status_of(row))}"
                      f" · {row['period_start']}")
        rows.append({columns[0]: f"{section['name_zh']} ({section['water_body']})",
                     columns[1]: display.class_text(water_class, lang), columns[2]: display.target_text(section["target_class"], lang, display.target_status_of(row)),
                     columns[3]: status,
                     columns[4]: "" if row is None else figures.failing_text(row["failing_parameters"], lang),
                     columns[5]: display.text_or_dash(section["upstream_jurisdiction"]),
                     columns[6]: display.text_or_dash(section["downstream_jurisdiction"]),
                     columns[7]: section["station_id"]})
    frame = pd.DataFrame(rows, columns=columns)
    failing = frame[columns[3]].str.startswith(display.word("failed", lang))
    return pd.concat([frame[failing], frame[~failing]], ignore_index=True)  # failing sections first


def _city_param(context) -> str | None:
    city = context.param("city")
    if context.scope.city:  # a city bureau sees its own city (and the shared sections)
        return None if city != context.scope.city else city
    return city if city in SIX_CITIES else None


def render(context, rest):
    lang = context.lang
    latest = latest_day(context)
    day = _day(context)
    days = domain_days(context, day)
    city = _city_param(context)
    first, _ = context.warehouse.assessed_day_range(context.scope.key)
    options = [{"label": t("all_cities", lang), "value": ""}] + [
        {"label": city_name(c, lang), "value": c} for c in SIX_CITIES if c in set(context.visible["city"])]
    stated = [f"{t('latest_days', lang)}: "]
    for domain in DOMAINS:
        stated += [t(f"domain_{domain}", lang) + " ", html.B(_day_text(days[domain], lang), id=DAY_IDS[domain]),
                   " · " if domain != DOMAINS[-1] else ""]
    filters = html.Div([
        html.Label([t("as_of", lang), dcc.DatePickerSingle(id="overview-day", date=day, min_date_allowed=first,
                                                           max_date_allowed=latest, display_format="YYYY-MM-DD")]),
        html.Label([t("city", lang), dcc.Dropdown(id="overview-city", options=options, value=city or "",
                                                  clearable=False, style={"width": "200px"})]),
        html.Span(stated, className="hint", id="latest-days"),
    ], className="filters")
    body = [
        filters,
        html.Div([
            components.graph("overview-map", components.PENDING, className="map"),
            html.Div([html.H3(t("kpi_title", lang)),
                      components.data_table("overview-kpi", None, "overview/kpi", context)], className="side"),
        ], className="row"),
        html.H3(f"{t('cross_boundary', lang)} · {t('domain_surface_water', lang)} {_day_text(days['surface_water'], lang)}",
                id="overview-cross-title"),
        components.data_table("overview-cross", None, "overview/cross", context,
                              style_rows=[{"if": {"filter_query": f'{{{t("status", lang)}}} contains "{t("failed", lang)}"'},
                                           "backgroundColor": "#fde0dd"}]),
    ]
    shown = [d for d in days.values() if d]
    return body, ((min(shown), max(shown)) if shown else None)


def register(app, current_context) -> None:
    # draws the page when it opens (the route only lays it out) and again at each change of a filter
    @app.callback(Output("overview-map", "figure"), *components.table_targets("overview-kpi"),
                  *components.table_targets("overview-cross"), Output("url", "search", allow_duplicate=True),
                  Input("overview-day", "date"), Input("overview-city", "value"), State("url", "search"),
                  prevent_initial_call="initial_duplicate")
    def update(day, city, search):
        params = components.parse_search(search)
        params.update(day=(day or "")[:10] or None, city=city or None)
        context = current_context(params)
        chosen = _day(context)
        city = _city_param(context)
        crossing = cross_boundary_today(context, chosen, city).drop(columns=[t("col_section_id", context.lang)])
        return (map_figure(context, chosen, city),
                *components.table_outputs("overview-kpi", kpi_table(context, chosen, city), "overview/kpi", context),
                *components.table_outputs("overview-cross", crossing, "overview/cross", context),
                components.search_string(params))


TABLES = {
    "kpi": lambda context: kpi_table(context, None, _city_param(context)),
    "cross": lambda context: cross_boundary_today(context, None, _city_param(context)),
}
