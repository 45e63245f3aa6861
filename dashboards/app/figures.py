"""Figures of the app as plain plotly dicts (built without plotly's validation: a callback answers
in milliseconds). They draw what the warehouse holds; none classifies anything."""
from __future__ import annotations

from datetime import date

import pandas as pd

from dashboards.app import geo
from dashboards.app.data import city_name
from dashboards.app.reasons import readable
from dashboards.app.i18n import t
from pipelines import display
from pipelines.reference import standards

SURFACE_CLASSES = (*standards.SURFACE_WATER_CLASSES, standards.SURFACE_WATER_WORST)
SEA_CLASSES = (*standards.SEAWATER_CLASSES, standards.SEAWATER_WORST)
SEA_COLOURS = dict(zip(SEA_CLASSES, ("#1f77d0", "#2ca02c", "#e6c300", "#ff7f0e", "#d62728")))
NO_CLASS = "#9e9e9e"
FAIL_RING = "#8b0000"
# DejaVu before WenQuanYi: WenQuanYi Micro Hei draws Ⅴ (U+2164) as a blank
FONT_FAMILY = "Noto Sans CJK SC, Microsoft YaHei, DejaVu Sans, WenQuanYi Micro Hei, sans-serif"
FONT = {"family": FONT_FAMILY, "size": 12}


def class_colours() -> dict[str, str]:
    colours = standards.water_class_grades()["colour_hex"].to_dict()
    return {**colours, **SEA_COLOURS}


def class_rank(water_class) -> int | None:
    if water_class in SURFACE_CLASSES:
        return SURFACE_CLASSES.index(water_class)
    if water_class in SEA_CLASSES:
        return SEA_CLASSES.index(water_class)
    return None


def failing_text(failing_json: str | None, lang: str = "zh") -> str:
    """The stored failing items with their 超标倍数 against the target ((C − S) / S, 2011 method), as
    a bulletin writes them: '总磷 1.8倍；氨氮 0.3倍' (pipelines/display.py, never the stored JSON)."""
    return display.multiples_text(failing_json, lang)


def empty(message: str, height: int = 300) -> dict:
    return {"data": [], "layout": {"height": height, "font": FONT, "xaxis": {"visible": False},
                                   "yaxis": {"visible": False},
                                   "annotations": [{"text": message, "showarrow": False, "font": {"size": 15},
                                                    "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}]}}


# --- overview map --------------------------------------------------------------------------

def section_map(stations: pd.DataFrame, latest: pd.DataFrame, lang: str, highlight_city: str | None,
                day: date | None, days_text: str | None = None) -> dict:
    """Sections and coastal points on the base map, coloured by their latest assessed class, ringed
    dark red where it misses the target; cross-boundary sections are diamonds."""
    colours = class_colours()
    latest_rows = {r["station_id"]: r for r in latest.to_dict("records")}
    traces = geo.base_traces(highlight_city, lang)
    shown = stations[stations["station_type"].isin(["river", "lake-reservoir", "sea"])]
    groups: dict[str, list] = {}
    points = []
    for station in shown.to_dict("records"):
        row = latest_rows.get(station["station_id"])
        water_class = None if row is None or display.is_missing(row["water_class"]) else row["water_class"]
        compliant = None if water_class is None or display.is_missing(row["is_compliant"]) else bool(row["is_compliant"])
        if display.target_status_of(row) == "unset":  # a class without a target: no verdict, no ring
            compliant = None
        groups.setdefault(water_class or "", []).append((station, row, compliant))
        points.append({"x": station["longitude"], "y": station["latitude"], "text": station["name_zh"],
                       "priority": (2 if station["is_cross_boundary"] else 0) + (1 if compliant is False else 0)})
    order = [*SURFACE_CLASSES, *SEA_CLASSES, ""]
    for water_class in sorted(groups, key=order.index):
        members = groups[water_class]
        hover = []
        for station, row, compliant in members:
            verdict = display.verdict_text(compliant, lang, "assessed" if water_class else "no data",
                                           display.target_status_of(row))
            line = (f"<b>{station['name_zh']}</b> ({station['water_body']}, {station['city']})<br>"
                    f"{t('class', lang)} {display.class_text(water_class, lang)} · {t('target', lang)} "
                    f"{display.text_or_dash(station['target_class'])} · {verdict}")
            if row is not None:
                line += f"<br>{row['period_start']}"
                items = failing_text(row["failing_parameters"], lang)
                if items and compliant is False:
                    line += f"<br>{items}"
            if station["is_cross_boundary"]:
                line += f"<br>◆ {station['upstream_jurisdiction']} → {station['downstream_jurisdiction']}"
            hover.append(line)
        traces.append({
            "type": "scatter", "mode": "markers", "name": water_class or display.word("no_data", lang),
            "x": [m[0]["longitude"] for m in members], "y": [m[0]["latitude"] for m in members],
            "customdata": [m[0]["station_id"] for m in members], "hovertext": hover, "hoverinfo": "text",
            "marker": {"size": [15 if m[0]["is_cross_boundary"] else 11 for m in members],
                       "color": colours.get(water_class, NO_CLASS),
                       "symbol": ["diamond" if m[0]["is_cross_boundary"] else
                                  "square" if m[0]["station_type"] == "sea" else "circle" for m in members],
                       "line": {"width": [3 if m[2] is False else 1 for m in members],
                                "color": [FAIL_RING if m[2] is False else "#333" for m in members]}},
        })
    # legend keys for the ring and the diamond
    traces.append({"type": "scatter", "mode": "markers", "x": [None], "y": [None], "name": t("fails_target", lang),
                   "marker": {"size": 11, "color": "white", "line": {"width": 3, "color": FAIL_RING}}})
    traces.append({"type": "scatter", "mode": "markers", "x": [None], "y": [None], "name": t("cross_marker", lang),
                   "marker": {"size": 13, "color": "white", "symbol": "diamond", "line": {"width": 1, "color": "#333"}}})
    bays = [{**bay, "priority": 10} for bay in geo.bay_label_points(shown.to_dict("records"))]
    annotations = _labels(points + bays, lang)
    layout = {**geo.axes(), "font": FONT, "annotations": annotations, "hovermode": "closest",
              "title": {"text": f"{t('map_title', lang)} · {days_text or day or '—'}", "x": 0.01,
                        "font": {"size": 15}},
              "legend": {"x": 0.995, "xanchor": "right", "y": 0.995, "bgcolor": "rgba(255,255,255,0.85)",
                         "bordercolor": "#bbb", "borderwidth": 1}}
    return {"data": traces, "layout": layout}


def national_map(air: pd.DataFrame, classes: pd.DataFrame, lang: str, days_text: str) -> dict:
    """The national Overview (issue 27): each air station at its coordinates, one scatter (SVG: plotly's
    WebGL traces compile code at run time, which the app's CSP forbids) per
    HJ 633 AQI level (grey: no AQI that day); beside it the sections, which the water feed publishes
    without coordinates, counted by class per province or city (`classes`: group, water_class)."""
    levels = standards.aqi_levels()
    traces = []
    aqi = pd.to_numeric(air["aqi"], errors="coerce")
    placed = air["longitude"].notna() & air["latitude"].notna()
    pending = placed.copy()
    for _, level in levels.iterrows():
        high = float(level["aqi_high"]) if str(level["aqi_high"]).strip() not in ("", "nan") else float("inf")
        members = air[pending & (aqi >= float(level["aqi_low"])) & (aqi <= high)]
        pending &= ~air.index.isin(members.index)
        traces.append(_air_points(members, f"{level['category']} ({level['aqi_low']}–{level['aqi_high']})"
                                  if high != float("inf") else f"{level['category']} (>{int(level['aqi_low']) - 1})",
                                  level["hex"], lang))
    traces.append(_air_points(air[pending], display.word("no_data", lang), NO_CLASS, lang))
    groups = sorted(g for g in set(classes["group"].fillna("")) if g)
    counted = classes.assign(water_class=classes["water_class"].map(
        lambda c: "" if display.is_missing(c) else c)).groupby(["group", "water_class"]).size()
    colours = class_colours()
    for water_class in [*SURFACE_CLASSES, ""]:
        counts = [int(counted.get((g, water_class), 0)) for g in groups]
        if not any(counts):
            continue
        traces.append({"type": "bar", "orientation": "h", "y": groups, "x": counts, "xaxis": "x2", "yaxis": "y2",
                       "name": display.class_text(water_class, lang) if water_class else display.word("no_data", lang),
                       "marker": {"color": colours.get(water_class, NO_CLASS)}, "legendgroup": "water"})
    layout = {"font": FONT, "hovermode": "closest", "barmode": "stack", "height": max(600, 14 * len(groups) + 120),
              "title": {"text": f"{t('national_map_title', lang)} · {days_text}", "x": 0.01, "font": {"size": 15}},
              "xaxis": {"domain": [0, 0.6], "title": {"text": "°E"}, "zeroline": False},
              "yaxis": {"title": {"text": "°N"}, "scaleanchor": "x", "zeroline": False},
              "xaxis2": {"domain": [0.72, 1], "anchor": "y2", "title": {"text": t("national_map_sections", lang)}},
              "yaxis2": {"anchor": "x2", "autorange": "reversed", "automargin": True, "type": "category"},
              "legend": {"orientation": "h", "y": -0.08}}
    return {"data": traces, "layout": layout}


def _air_points(members: pd.DataFrame, name: str, colour: str, lang: str) -> dict:
    hover = [f"<b>{n}</b> ({c})<br>AQI {display.text_or_dash(a)}"
             for n, c, a in zip(members["name_zh"], members["city"], members["aqi"].map(
                 lambda v: None if display.is_missing(v) else int(v)))]
    return {"type": "scatter", "mode": "markers", "name": name, "x": members["longitude"].tolist(),
            "y": members["latitude"].tolist(), "customdata": members["station_id"].tolist(), "hovertext": hover,
            "hoverinfo": "text", "marker": {"size": 6, "color": colour, "line": {"width": 0.5, "color": "#333"}},
            "legendgroup": "air"}


def _labels(points: list[dict], lang: str) -> list[dict]:
    fixed = []
    annotations = []
    for city in geo.city_label_points(lang):
        big = city["kind"] == "city"
        fixed.append({**city, "font_px": 15 if big else 12})
        annotations.append({"x": city["x"], "y": city["y"], "text": city["text"], "showarrow": False,
                            "font": {"size": 15 if big else 12, "color": "#6d5f45" if big else "#9a8f7a"},
                            "opacity": 0.9, "name": "city-label"})
    for point in geo.place_labels(points, fixed):
        if not point["placed"]:
            continue
        if point.get("kind") == "bay":  # the bay's name on its water, no leader line
            annotations.append({"x": point["x"], "y": point["y"], "text": f"<i>{point['text']}</i>",
                                "showarrow": True, "arrowwidth": 0.1, "arrowcolor": "rgba(0,0,0,0)",
                                "ax": point["ax"], "ay": point["ay"], "font": {"size": 12, "color": "#1f5f99"},
                                "name": "bay-label"})
            continue
        annotations.append({"x": point["x"], "y": point["y"], "text": point["text"], "showarrow": True,
                            "arrowhead": 0, "arrowwidth": 0.7, "arrowcolor": "#666", "ax": point["ax"],
                            "ay": point["ay"], "font": {"size": 11, "color": "#222"},
                            "bgcolor": "rgba(255,255,255,0.75)", "borderpad": 0, "name": "station-label"})
    return annotations


# --- cross-boundary strip ------------------------------------------------------------------

def class_strip(sections: pd.DataFrame, monthly: pd.DataFrame, months: list[date], lang: str) -> dict:
    """One row per section, one cell per month: the month's class, coloured; an ✗ where it failed
    the target of its agreement's scheme. A month without valid data, or with too few, has no class
    and no ✗: its hover says 无数据 / 数据不足 (pipelines/display.py), never a failure."""
    colours = class_colours()
    sections_list = sections.to_dict("records")
    labels = [f"{'◆ ' if s['is_cross_boundary'] else ''}{s['name_zh']} · {s['water_body']}" for s in sections_list]
    by_key = {(r["station_id"], r["period_start"]): r for r in monthly.to_dict("records")}
    z, text, hover = [], [], []
    for section in sections_list:
        z_row, text_row, hover_row = [], [], []
        for month in months:
            row = by_key.get((section["station_id"], month))
            # a month without valid data (no row, NaN class), with too few, or lacking a required
            # indicator without failing has no class and no ✗; one failing on what it has is a failure
            status = "no data" if row is None else row["status"]
            has_class = row is not None and not display.is_missing(row["water_class"])
            failed = (has_class and status in ("assessed", "indicators incomplete")
                      and not display.is_missing(row["is_compliant"]) and not bool(row["is_compliant"]))
            # a class computed without a target (issue 23) is shown, with no verdict
            water_class = row["water_class"] if has_class and (status in ("assessed", "target unset") or failed) else None
            rank = class_rank(water_class)
            z_row.append(rank)
            text_row.append("" if water_class is None else f"{water_class}{'✗' if failed else ''}")
            verdict = display.class_and_verdict(water_class, None if row is None else row["is_compliant"], lang,
                                                "assessed" if failed else status, display.target_status_of(row))
            if failed and status != "assessed":
                verdict += f" ({display.word('indicators_incomplete', lang)})"
            target = "—" if row is None or display.is_missing(row["target_class"]) else row["target_class"]
            hover_row.append(f"{section['name_zh']} {month:%Y-%m}<br>{t('class', lang)} {verdict} · "
                             f"{t('target', lang)} {target}"
                             + (f"<br>{failing_text(row['failing_parameters'], lang)}" if failed else ""))
        z.append(z_row)
        text.append(text_row)
        hover.append(hover_row)
    scale = []
    for index, water_class in enumerate(SURFACE_CLASSES):
        low, high = index / len(SURFACE_CLASSES), (index + 1) / len(SURFACE_CLASSES)
        scale += [[low, colours[water_class]], [high, colours[water_class]]]
    return {"data": [{"type": "heatmap", "z": z, "x": [m.strftime("%Y-%m") for m in months], "y": labels,
                      "text": text, "texttemplate": "%{text}", "hovertext": hover, "hoverinfo": "text",
                      "zmin": -0.5, "zmax": len(SURFACE_CLASSES) - 0.5, "colorscale": scale, "showscale": False,
                      "xgap": 2, "ygap": 2}],
            "layout": {"font": FONT, "height": 90 + 34 * max(len(labels), 1), "margin": {"l": 220, "r": 10, "t": 40, "b": 40},
                       "title": {"text": t("strip_title", lang), "x": 0.01, "font": {"size": 15}},
                       "xaxis": {"type": "category", "side": "top", "tickangle": -45},
                       "yaxis": {"autorange": "reversed"}}}


# --- section detail ------------------------------------------------------------------------

def parameter_series(station: pd.Series, code: str, rollups: pd.DataFrame, quarantined: pd.DataFrame,
                     lang: str) -> dict:
    """A parameter's daily means (bars: min–max) over the GB 3838 class bands of the section's water
    body type, with flagged days, censored means ('< limit') and quarantined readings marked."""
    params = standards.parameters()
    name = params.loc[code, "name_en" if lang == "en" else "name_zh"] if code in params.index else code
    unit = standards.unit_of(code) if code in params.index else ""
    days = [str(d) for d in rollups["period_start"]]
    mean = rollups["mean"].astype(float)
    traces = [{"type": "scatter", "mode": "lines+markers", "name": name, "x": days,
               "y": mean.round(4).tolist(), "line": {"width": 1.4, "color": "#1b4f72"}, "marker": {"size": 4},
               "error_y": {"type": "data", "symmetric": False, "thickness": 0.8, "width": 0,
                           "array": (rollups["maximum"].astype(float) - mean).round(4).tolist(),
                           "arrayminus": (mean - rollups["minimum"].astype(float)).round(4).tolist()},
               "customdata": list(zip([display.text_or_dash(r) if not display.is_missing(r) else
                                       display.number_text(m, 3) for r, m in zip(rollups["reported_mean"], mean)],
                                      rollups["values_assessable"].fillna(0).astype(int).tolist(),
                                      rollups["values_flagged"].fillna(0).astype(int).tolist(),
                                      rollups["values_censored"].fillna(0).astype(int).tolist())),
               "hovertemplate": "%{x}: %{customdata[0]} " + unit + f"<br>{t('hover_used', lang)} %{{customdata[1]}} · "
                                f"{t('hover_flagged', lang)} %{{customdata[2]}} · {t('hover_censored', lang)} "
                                "%{customdata[3]}<extra></extra>"}]
    flagged = rollups[rollups["values_flagged"] > 0]
    if len(flagged):
        traces.append({"type": "scatter", "mode": "markers", "name": t("flagged", lang),
                       "x": [str(d) for d in flagged["period_start"]], "y": flagged["mean"].astype(float).tolist(),
                       "marker": {"symbol": "triangle-up-open", "size": 11, "color": "#e67e22", "line": {"width": 2}},
                       "hovertemplate": "%{x}: " + t("hover_flagged_note", lang) + "<extra></extra>"})
    censored = rollups[rollups["reported_mean"].fillna("").astype(str).str.startswith("<")]
    if len(censored):
        traces.append({"type": "scatter", "mode": "markers", "name": t("censored", lang),
                       "x": [str(d) for d in censored["period_start"]],
                       "y": censored["detection_limit"].astype(float).tolist(),
                       "text": censored["reported_mean"].astype(str).tolist(),
                       "marker": {"symbol": "circle-open", "size": 10, "color": "#7f8c8d", "line": {"width": 2}},
                       "hovertemplate": "%{x}: %{text}<extra>" + t("censored", lang) + "</extra>"})
    mine = quarantined[quarantined["parameter"] == code] if len(quarantined) else quarantined
    if len(mine):
        # drawn on the axis floor: a quarantined value (−9999, 1e300) would only crush the scale
        floor = float(rollups["minimum"].astype(float).min()) if rollups["minimum"].notna().any() else 0.0
        traces.append({"type": "scatter", "mode": "markers", "name": t("quarantined", lang),
                       "x": [str(d) for d in mine["partition_day"]], "y": [floor] * len(mine),
                       "text": [f"{display.text_or_dash(o)} → {readable(e, r, lang)}" for o, e, r in
                                zip(mine["original_value"], mine["expectation"], mine["reason"])],
                       "marker": {"symbol": "x", "size": 10, "color": "#c0392b"},
                       "hovertemplate": "%{x}: " + t("hover_quarantined", lang) + " %{text}<extra></extra>"})
    water_body_type = "lake" if station["station_type"] == "lake-reservoir" else "river"
    shapes, colours = [], class_colours()
    limits = [(c, standards.surface_water_limit(code, c, water_body_type)) for c in standards.SURFACE_WATER_CLASSES]
    limits = [(c, v) for c, v in limits if v is not None]
    greater_is_better = code == "do"
    previous = 0.0 if not greater_is_better else None
    for water_class, limit in limits:
        if greater_is_better:
            shapes.append(_band(limit, previous, colours[water_class]))
        else:
            shapes.append(_band(previous, limit, colours[water_class]))
        previous = limit
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": limit, "y1": limit,
                       "line": {"width": 2 if water_class == station["target_class"] else 0.6,
                                "dash": "dash" if water_class == station["target_class"] else "dot",
                                "color": "#c0392b" if water_class == station["target_class"] else "#888"}})
    annotations = [{"xref": "paper", "x": 1.0, "xanchor": "left", "yref": "y", "y": v, "text": c, "showarrow": False,
                    "font": {"size": 10, "color": "#555"}} for c, v in limits]
    return {"data": traces, "layout": {
        "font": FONT, "height": 260, "margin": {"l": 60, "r": 40, "t": 30, "b": 30}, "shapes": shapes,
        "annotations": annotations, "showlegend": True, "legend": {"orientation": "h", "y": 1.12, "x": 0},
        "title": {"text": f"{name} {code} ({unit})", "x": 0.01, "font": {"size": 13}},
        "xaxis": {"type": "date", "title": None}, "yaxis": {"title": unit, "rangemode": "tozero"}}}


def _band(low, high, colour: str) -> dict:
    return {"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": low if low is not None else 0,
            "y1": high if high is not None else 0, "fillcolor": colour, "opacity": 0.08, "line": {"width": 0},
            "layer": "below"}


def completeness(rollups: pd.DataFrame, expected_per_day: int, lang: str) -> dict:
    """Readings per day of the section (the best-covered parameter), against what its schedule gives."""
    if rollups.empty:
        return empty(t("no_data", lang), 220)
    counts = (rollups.assign(n=rollups["values_assessable"] + rollups["values_flagged"])
              .groupby("period_start")["n"].max())
    share = (counts / expected_per_day).clip(upper=1.0)
    return {"data": [{"type": "bar", "x": [str(d) for d in share.index], "y": (share * 100).round(1).tolist(),
                      "marker": {"color": ["#2e86c1" if s >= 0.999 else "#f5b041" if s >= 0.66 else "#cb4335"
                                           for s in share]},
                      "hovertemplate": "%{x}: %{y}% · " + (f"of {expected_per_day} readings expected" if lang == "en"
                                                           else f"应有 {expected_per_day} 个数据") + "<extra></extra>"}],
            "layout": {"font": FONT, "height": 200, "margin": {"l": 50, "r": 10, "t": 30, "b": 30},
                       "title": {"text": t("completeness", lang), "x": 0.01, "font": {"size": 13}},
                       "yaxis": {"range": [0, 105], "ticksuffix": "%"}, "xaxis": {"type": "date"}}}


def published_against_computed(daily: pd.DataFrame, published: pd.DataFrame, lang: str) -> dict:
    """envmon's daily class (stored) and, where the feed published one, the feed's class and envmon's
    class from the same reading, on one class axis."""
    traces = []
    if len(daily):
        traces.append({"type": "scatter", "mode": "lines+markers", "name": t("envmon_daily", lang),
                       "x": [str(d) for d in daily["period_start"]],
                       "y": [class_rank(c) for c in daily["water_class"]], "line": {"shape": "hv", "color": "#1b4f72"}})
    if len(published):
        times = [pd.Timestamp(t).tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M") for t in published["observed_at"]]
        traces.append({"type": "scatter", "mode": "markers", "name": t("cnemc_published", lang), "x": times,
                       "y": [class_rank(c) for c in published["published_class"]],
                       "marker": {"symbol": "circle-open", "size": 9, "color": "#d35400"}})
        traces.append({"type": "scatter", "mode": "markers", "name": t("envmon_same", lang), "x": times,
                       "y": [class_rank(c) for c in published["envmon_class"]],
                       "marker": {"symbol": "x", "size": 6, "color": "#1b4f72"}})
    if not traces:
        return empty(t("no_data", lang), 220)
    return {"data": traces, "layout": {
        "font": FONT, "height": 240, "margin": {"l": 50, "r": 10, "t": 30, "b": 30},
        "title": {"text": t("published_vs_computed", lang), "x": 0.01, "font": {"size": 13}},
        "yaxis": {"tickvals": list(range(len(SURFACE_CLASSES))), "ticktext": list(SURFACE_CLASSES),
                  "range": [-0.5, len(SURFACE_CLASSES) - 0.5], "autorange": "reversed"},
        "legend": {"orientation": "h", "y": 1.15}}}


# --- air -----------------------------------------------------------------------------------

def aqi_colourscale(top: float = 500.0) -> list:
    levels = standards.aqi_levels()
    scale = []
    for _, level in levels.iterrows():
        high = float(level["aqi_high"]) if str(level["aqi_high"]).strip() not in ("", "nan") else top
        scale += [[float(level["aqi_low"]) / top, level["hex"]], [min(high / top, 1.0), level["hex"]]]
    return scale


def aqi_calendar(stations: pd.DataFrame, daily: pd.DataFrame, lang: str) -> dict:
    """Daily AQI of each station of the cities shown (HJ 633 level colours), a row per station."""
    if daily.empty:
        return empty(t("no_data", lang))
    names = stations.set_index("station_id")
    table = daily.pivot_table(index="station_id", columns="period_start", values="aqi", aggfunc="first")
    labels = [f"{city_name(names.loc[s, 'city'], lang)} {names.loc[s, 'name_zh']}" for s in table.index]
    # a station-day without an assessed AQI is a gap, and its hover says 无数据, not a blank or NaN
    words = [[display.aqi_text(v, lang) for v in row] for row in table.values.tolist()]
    return {"data": [{"type": "heatmap", "z": table.where(table.notna(), None).values.tolist(),
                      "x": [str(d) for d in table.columns], "y": labels, "zmin": 0, "zmax": 500, "text": words,
                      "colorscale": aqi_colourscale(), "colorbar": {"title": {"text": "AQI"}},
                      "hovertemplate": "%{y}<br>%{x}: AQI %{text}<extra></extra>", "xgap": 1, "ygap": 1}],
            "layout": {"font": FONT, "height": 120 + 24 * max(len(labels), 1), "margin": {"l": 200, "r": 10, "t": 40, "b": 40},
                       "title": {"text": t("aqi_calendar", lang), "x": 0.01, "font": {"size": 15}},
                       "xaxis": {"type": "date"}}}


def pollutant_series(stations: pd.DataFrame, rollups: pd.DataFrame, code: str, lang: str) -> dict:
    if rollups.empty:
        return empty(t("no_data", lang))
    names = stations.set_index("station_id")
    traces = []
    for station_id, rows in rollups.groupby("station_id"):
        traces.append({"type": "scatter", "mode": "lines", "name": f"{names.loc[station_id, 'name_zh']}",
                       "x": [str(d) for d in rows["period_start"]], "y": rows["mean"].astype(float).round(2).tolist(),
                       "line": {"width": 1.2}})
    unit = standards.unit_of(code)
    return {"data": traces, "layout": {"font": FONT, "height": 320, "margin": {"l": 60, "r": 10, "t": 40, "b": 30},
                                       "title": {"text": f"{display.POLLUTANT_LABELS.get(code, code)} ({unit}) · "
                                                         f"{t('daily_means', lang)}", "x": 0.01,
                                                 "font": {"size": 14}},
                                       "yaxis": {"title": unit}, "xaxis": {"type": "date"}}}


def ingest_bars(log: pd.DataFrame, lang: str) -> dict:
    if log.empty:
        return empty(t("no_data", lang))
    traces = []
    for source, rows in log.groupby("source"):
        rows = rows.sort_values("partition_day")
        share = (rows["rows_quarantined"] / rows["rows_read"].where(rows["rows_read"] > 0)).fillna(0) * 100
        counts = [rows[c].fillna(0).astype(int).tolist() for c in ("rows_read", "rows_loaded", "rows_quarantined")]
        traces.append({"type": "scatter", "mode": "lines+markers", "name": source,
                       "x": [str(d) for d in rows["partition_day"]], "y": share.round(2).tolist(),
                       "customdata": list(zip(*counts)),
                       "hovertemplate": f"{source} %{{x}}: {t('quarantined_share', lang)} %{{y}}%<br>"
                                        f"{t('hover_read', lang)} %{{customdata[0]}} · {t('hover_loaded', lang)} "
                                        f"%{{customdata[1]}} · {t('hover_quarantined', lang)} %{{customdata[2]}}"
                                        "<extra></extra>"})
    return {"data": traces, "layout": {"font": FONT, "height": 300, "margin": {"l": 50, "r": 10, "t": 40, "b": 30},
                                       "title": {"text": t("ingest_log", lang) + " · " + t("quarantined_share", lang),
                                                 "x": 0.01,
                                                 "font": {"size": 14}},
                                       "yaxis": {"ticksuffix": "%", "rangemode": "tozero"}, "xaxis": {"type": "date"}}}
