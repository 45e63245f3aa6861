"""The bureau dashboard as one static HTML file that opens offline (plotly.js embedded, no CDN).

It reads the warehouse and draws; it never recomputes an assessment. It is written in Chinese, the
bureaus' language, with the same words as the app: a class, a verdict, missing data and exceedance
multiples through pipelines/display.py (无数据 / 数据不足 where there is no valid value, 未达标 only
for a real failure, '总磷 1.8倍；氨氮 0.3倍'), never nan, None or the stored JSON."""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pipelines import clock, display, target_status
from pipelines.reference import standards
from pipelines.observations import BUREAU_TZ
from warehouse import db

SERIES_PARAMETERS = ("nh3n", "tp", "codmn", "do")
CLASS_COLOURS = standards.water_class_grades()["colour_hex"].to_dict()
NO_CLASS_COLOUR = "#9e9e9e"
LANG = "zh"
BOUNDARY_KINDS = {"provincial": "省界", "national": "国界", "city": "市界"}  # registry's boundary_kind
FILL = {"failed": "#fde0dd", "compliant": "#e5f5e0", "none": "#f0f0f0"}


def _latest_assessments(assessments: pd.DataFrame) -> pd.DataFrame:
    assessed = assessments[assessments["period"] == "day"].sort_values("period_start")
    return assessed.groupby("station_id").tail(1).set_index("station_id")


def _class_or_none(value) -> str | None:
    """A stored class, or None where there is none (read back as None, NaN or NA by the driver)."""
    return None if value is None or pd.isna(value) else value


def _failing_text(failing_json) -> str:
    return display.multiples_text(failing_json, LANG) or "—"


def _verdict(row) -> str:
    """'failed', 'compliant' or 'none' (no assessed class: no data, insufficient data)."""
    if row is None or row["status"] != "assessed" or _class_or_none(row["water_class"]) is None:
        return "none"
    if display.target_status_of(row) == "unset" or display.is_missing(row["is_compliant"]):
        return "none"  # a class without a target: 目标未定, no verdict
    return "compliant" if bool(row["is_compliant"]) else "failed"


def _status_text(row) -> str:
    if row is None:
        return display.word("no_data", LANG)
    if _verdict(row) == "none":
        if row["status"] == "assessed" and _class_or_none(row["water_class"]) is not None:
            return display.verdict_text(None, LANG, "assessed", display.target_status_of(row))  # 目标未定
        return display.class_text(None, LANG, row["status"] if row["status"] != "assessed" else "no data")
    return display.verdict_text(row["is_compliant"], LANG, "assessed", display.target_status_of(row))


def _month_text(month_to_date: pd.DataFrame, station_id: str) -> str:
    row = month_to_date.loc[station_id] if station_id in month_to_date.index else None
    if _verdict(row) == "none":
        return _status_text(row)
    scheme = row["standard"].split("scheme ")[-1].split(";")[0]
    return f"{row['water_class']} · {_status_text(row)}（协议方案 {scheme}）"


def cross_boundary_table(stations: pd.DataFrame, assessments: pd.DataFrame) -> go.Figure:
    crossing = stations[stations["is_cross_boundary"]].set_index("station_id")
    daily = assessments[(assessments["period"] == "day") & assessments["station_id"].isin(crossing.index)]
    latest = _latest_assessments(daily)
    failed_days = daily[daily["is_compliant"] == False].groupby("station_id").size()  # noqa: E712
    monthly = assessments[(assessments["period"] == "month") & assessments["station_id"].isin(crossing.index)]
    month_to_date = monthly.sort_values("period_start").groupby("station_id").tail(1).set_index("station_id")
    assessed_days = daily[daily["status"] == "assessed"].groupby("station_id").size()
    rows, fills = [], []
    for station_id, station in crossing.iterrows():
        last = latest.loc[station_id] if station_id in latest.index else None
        kind = BOUNDARY_KINDS.get(str(station["boundary_kind"]).strip(), "")
        rows.append({
            "断面": f"{station['name_zh']} ({station['water_body']})",
            "交界": f"{kind + '：' if kind else ''}{display.text_or_dash(station['upstream_jurisdiction'])} → "
                    f"{display.text_or_dash(station['downstream_jurisdiction'])}",
            "最近评价日": "—" if last is None else str(last["period_start"]),
            "类别": display.class_text(None if last is None else _class_or_none(last["water_class"]), LANG,
                                      None if last is None or last["status"] == "assessed" else last["status"]),
            "目标": display.text_or_dash(station["target_class"]),
            "状态": _status_text(last),
            "超标项目（超标倍数）": "—" if last is None else _failing_text(last["failing_parameters"]),
            "未达标天数": f"{int(failed_days.get(station_id, 0))} / {int(assessed_days.get(station_id, 0))}",
            "本月至今": _month_text(month_to_date, station_id),
        })
        fills.append(FILL[_verdict(last)])
    table = pd.DataFrame(rows)
    figure = go.Figure(go.Table(
        header={"values": list(table.columns), "fill_color": "#35495e", "font": {"color": "white"}, "align": "left"},
        cells={"values": [table[c] for c in table.columns], "fill_color": [fills] * len(table.columns), "align": "left"},
    ))
    figure.update_layout(title="跨界断面 最近一日评价（GB 3838-2002）", height=140 + 50 * len(table),
                         margin={"l": 10, "r": 10, "t": 50, "b": 10})
    return figure


def section_map(stations: pd.DataFrame, assessments: pd.DataFrame) -> go.Figure:
    water = stations[stations["station_type"].isin(["river", "lake-reservoir"])].set_index("station_id")
    latest = _latest_assessments(assessments[assessments["domain"] == "surface_water"])
    figure = go.Figure()
    for water_class in [*standards.SURFACE_WATER_CLASSES, standards.SURFACE_WATER_WORST, None]:
        ids = [sid for sid in water.index  # a section without a class (no data, insufficient data) too
               if (_class_or_none(latest.loc[sid, "water_class"]) if sid in latest.index else None) == water_class]
        if not ids:
            continue
        subset = water.loc[ids]
        symbols = ["diamond" if flag else "circle" for flag in subset["is_cross_boundary"]]
        label = water_class or display.word("no_data", LANG)
        figure.add_trace(go.Scatter(
            x=subset["longitude"], y=subset["latitude"], mode="markers+text", name=label,
            text=subset["name_zh"], textposition="top center", textfont={"size": 9},
            marker={"size": 12, "color": CLASS_COLOURS.get(water_class, NO_CLASS_COLOUR), "symbol": symbols,
                    "line": {"width": 1, "color": "#333"}},
            customdata=[[display.text_or_dash(v) for v in row] for row in
                        subset[["water_body", "target_class", "city"]].values.tolist()],
            hovertemplate="%{text}<br>%{customdata[0]}，%{customdata[2]}<br>目标 %{customdata[1]}<extra>"
                          + label + "</extra>",
        ))
    figure.update_layout(
        title="断面水质类别 各断面最近一日类别（◆ 跨界断面；位置为近似，见断面登记表）",
        xaxis={"title": "经度 (°E)"}, yaxis={"title": "纬度 (°N)", "scaleanchor": "x"},
        height=640, legend_title="水质类别",
    )
    return figure


def _limit_shapes(station: pd.Series, row: int) -> list[dict]:
    water_body_type = "lake" if station["station_type"] == "lake-reservoir" else "river"
    shapes = []
    for parameter_index, code in enumerate(SERIES_PARAMETERS, start=1):
        for water_class, dash in ((station["target_class"], "dash"), (standards.EXCEEDANCE_BASIS_CLASS, "dot")):
            limit = standards.surface_water_limit(code, water_class, water_body_type)
            if limit is None:
                continue
            axis = "" if parameter_index == 1 else str(parameter_index)
            shapes.append({"type": "line", "xref": f"x{axis} domain", "yref": f"y{axis}", "x0": 0, "x1": 1,
                           "y0": limit, "y1": limit, "line": {"dash": dash, "width": 1,
                                                              "color": "#d62728" if dash == "dash" else "#555"}})
    return shapes


def section_series(stations: pd.DataFrame, series: pd.DataFrame) -> go.Figure:
    water = stations[stations["station_type"].isin(["river", "lake-reservoir"])].sort_values(
        ["is_cross_boundary", "station_id"], ascending=[False, True]).set_index("station_id")
    figure = make_subplots(rows=len(SERIES_PARAMETERS), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                           subplot_titles=[f"{standards.parameters().loc[c, 'name_zh']} {c} "
                                           f"({standards.unit_of(c)})" for c in SERIES_PARAMETERS])
    trace_owner = []
    # one pass over the rollups, and plain lists for plotly (a pandas column costs it a conversion)
    series = series.sort_values("period_start")
    groups = {key: points for key, points in series.groupby(["station_id", "parameter"], sort=False)}
    empty = series.iloc[0:0]
    for station_id in water.index:
        for row, code in enumerate(SERIES_PARAMETERS, start=1):
            points = groups.get((station_id, code), empty)
            mean, low, high = (points[c].to_numpy(dtype=float) for c in ("mean", "minimum", "maximum"))
            figure.add_trace(go.Scatter(
                x=[str(d) for d in points["period_start"]], y=mean.tolist(), mode="lines+markers",
                marker={"size": 5}, name=code, showlegend=False, visible=station_id == water.index[0],
                error_y={"type": "data", "symmetric": False, "array": (high - mean).tolist(),
                         "arrayminus": (mean - low).tolist(), "thickness": 1, "width": 2},
                customdata=[[int(used or 0), int(flagged or 0),
                             display.text_or_dash(reported) if not display.is_missing(reported)
                             else display.number_text(value, 3), int(censored or 0)]
                            for used, flagged, reported, censored, value in zip(
                                points["values_assessable"].fillna(0), points["values_flagged"].fillna(0),
                                points["reported_mean"], points["values_censored"].fillna(0), mean)],
                # a mean below the detection limit reads "< limit", as a report would print it
                hovertemplate="%{x}（北京时间）<br>日均值 %{customdata[2]}<br>参评 %{customdata[0]} 个，"
                              "质控标记 %{customdata[1]} 个，低于检出限 %{customdata[3]} 个<extra></extra>",
            ), row=row, col=1)
            trace_owner.append(station_id)
    buttons = []
    for station_id, station in water.iterrows():
        label = (f"{'◆ ' if station['is_cross_boundary'] else ''}{station['name_zh']} · {station['water_body']}"
                 f"（目标 {display.text_or_dash(station['target_class'])}）")
        buttons.append({"label": label, "method": "update",
                        "args": [{"visible": [owner == station_id for owner in trace_owner]},
                                 {"shapes": _limit_shapes(station, 0), "title.text": _series_title(station)}]})
    first = water.iloc[0]
    figure.update_layout(
        title=_series_title(first), shapes=_limit_shapes(first, 0), height=900,
        updatemenus=[{"buttons": buttons, "direction": "down", "x": 0, "xanchor": "left", "y": 1.03,
                      "yanchor": "bottom"}],
        title_y=0.99, title_yanchor="top", margin={"t": 150},
    )
    figure.update_xaxes(tickformat="%Y-%m-%d", dtick=86_400_000)  # one tick a day
    figure.update_xaxes(title_text="日期（北京时间，UTC+8）", row=len(SERIES_PARAMETERS), col=1)
    return figure


def air_quality_calendar(stations: pd.DataFrame, assessments: pd.DataFrame) -> go.Figure:
    """Daily AQI of every air station, coloured by the HJ 633 levels."""
    air = assessments[(assessments["domain"] == "air") & assessments["aqi"].notna()]
    names = stations.set_index("station_id")
    table = air.pivot_table(index="station_id", columns="period_start", values="aqi", aggfunc="first")
    labels = [f"{names.loc[s, 'city']} {names.loc[s, 'name_zh']} ({s})" for s in table.index]
    levels = standards.aqi_levels()
    top = 500.0
    colourscale = []
    for _, level in levels.iterrows():
        low = level["aqi_low"] / top
        high = (level["aqi_high"] if not pd.isna(level["aqi_high"]) else top) / top
        colourscale += [[low, level["hex"]], [min(high, 1.0), level["hex"]]]
    # a station-day without an assessed AQI is a gap: blank in its cell, 无数据 in its hover
    words = [[display.aqi_text(v, LANG) for v in row] for row in table.values.tolist()]
    figure = go.Figure(go.Heatmap(
        z=table.values, x=[str(d) for d in table.columns], y=labels, zmin=0, zmax=top, colorscale=colourscale,
        text=[["" if display.is_missing(v) else w for v, w in zip(row, word_row)]
              for row, word_row in zip(table.values.tolist(), words)],
        customdata=words, texttemplate="%{text}", colorbar={"title": "AQI"},
        hovertemplate="%{y}<br>%{x}：AQI %{customdata}<extra></extra>",
    ))
    figure.update_layout(title="空气质量日报 各站日 AQI（HJ 633，按级别着色）",
                         height=160 + 22 * max(len(labels), 1),
                         xaxis={"title": "日期（北京时间）", "type": "category"})
    return figure


def _series_title(station: pd.Series) -> str:
    return (f"{station['name_zh']}（{station['water_body']}）：日均值（误差线：最小–最大），红色虚线为目标类别"
            f"（{display.text_or_dash(station['target_class'])}）限值，灰色点线为Ⅲ类限值")


def _label_text(data_label: str) -> str:
    """The nightly's data label (pipelines/config.data_label, in English) as the page says it."""
    if "simulated" in data_label:
        return "模拟数据（envmon 模拟器生成，并非实测）"
    if "live" in data_label:
        return "实测数据（中国环境监测总站实时数据）"
    if "files" in data_label or "replay" in data_label:
        return "实测数据（中国环境监测总站数据文件）"
    return f"实测数据（{data_label}）"


def write_report(engine, out_dir: Path, data_label: str, data_docs: Path | None = None) -> Path:
    stations = db.read_table(engine, "stations")
    # a row from before target_status was stored tells the registry's status (never official by default)
    assessments = target_status.filled(db.read_table(engine, "assessments", order_by=["period_start", "station_id"]))
    series = db.rollups(engine, "day", SERIES_PARAMETERS)  # the dashboard never scans raw observations
    figures = [cross_boundary_table(stations, assessments), section_map(stations, assessments),
               section_series(stations, series), air_quality_calendar(stations, assessments)]
    parts = [figure.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
             for i, figure in enumerate(figures)]
    daily = assessments[assessments["period"] == "day"]
    days = sorted(daily["period_start"].unique()) if len(daily) else []
    period = f"{days[0]} – {days[-1]}" if days else "尚无评价结果"
    generated = clock.now().astimezone(BUREAU_TZ).strftime("%Y-%m-%d %H:%M UTC+8")
    docs_link = ""
    if data_docs is not None:
        relative = os.path.relpath(data_docs, out_dir)
        docs_link = f' 数据校验报告：<a href="{html.escape(relative)}">Great Expectations Data Docs</a>。'
    banner = ""
    if "simulated" in data_label:
        banner = '<div class="banner">模拟数据 SIMULATED — 由 envmon 模拟器生成，并非实测，不得上报。</div>'
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>envmon · 北部湾城市群水环境质量</title>
<style>body{{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:16px;}}
.banner{{background:#b71c1c;color:#fff;padding:8px 12px;font-weight:bold;margin-bottom:8px}}
.meta{{color:#555}}</style></head><body>
{banner}
<h1>envmon · 北部湾城市群 水环境质量</h1>
<p class="meta">时段 {html.escape(period)} · 数据：{html.escape(_label_text(data_label))} · 生成于 {generated}。
水质类别：GB 3838-2002，按所测评价指标日均值的单因子评价法；环境空气：HJ 633 日 AQI。{docs_link}</p>
{''.join(parts)}
</body></html>"""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
