"""Pieces every page shares: the header with navigation and the data's honest label, tables with
their downloads, the date-range picker, and the page context (who asks, in which language)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import parse_qs, urlencode

import pandas as pd
from dash import dash_table, dcc, html

from dashboards.app.data import Scope, Warehouse, city_name, data_label
from dashboards.app.figures import FONT_FAMILY
from dashboards.app.i18n import t
from dashboards.app.users import User
from pipelines import display

NAVIGATION = (("/", "overview"), ("/cross-boundary", "cross_boundary"), ("/section", "section"),
              ("/reservoirs", "reservoirs"), ("/coastal", "coastal"), ("/air", "air"), ("/alerts", "alerts"),
              ("/quality", "quality"), ("/registry", "registry"), ("/documents", "documents"))
REGIONAL_ONLY = frozenset({"/registry"})  # the registry is the region's to keep: no link for a city bureau


@dataclass
class PageContext:
    warehouse: Warehouse
    stations: pd.DataFrame           # the whole registry (for names); `visible` is what the user may see
    scope: Scope
    user: User
    lang: str
    params: dict = field(default_factory=dict)

    @property
    def visible(self) -> pd.DataFrame:
        if self.scope.station_ids is None:
            return self.stations
        return self.stations[self.stations["station_id"].isin(self.scope.station_ids)]

    def param(self, name: str, default=None):
        return self.params.get(name, default)


def parse_search(search: str | None) -> dict:
    return {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}


def search_string(params: dict) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "", [])}
    return "?" + urlencode(kept) if kept else ""


def header(context: PageContext, path: str, sources: list[str]) -> html.Div:
    lang = context.lang
    links = []
    for href, key in NAVIGATION:
        if href in REGIONAL_ONLY and not context.user.is_regional:
            continue
        active = path == href or (href != "/" and path.startswith(href))
        links.append(dcc.Link(t(key, lang), href=href + search_string({"lang": "en"} if lang == "en" else {}),
                              className="nav-link active" if active else "nav-link", id=f"nav-{key}"))
    other = "zh" if lang == "en" else "en"
    switch_params = {**context.params, "lang": other if other == "en" else None}
    who = context.user.name + " · " + (t("regional", lang) if context.user.is_regional
                                       else city_name(context.scope.city or "", lang))
    return html.Div([
        html.Div([html.Span(t("title", lang), className="brand"),
                  html.Span([f"{t('signed_in_as', lang)}: ", html.B(who, id="user-name")], className="who"),
                  html.A("English" if other == "en" else "中文", href=path + search_string(switch_params),
                         className="lang", id="lang-switch"),
                  html.A(t("logout", lang), href="/logout", className="logout", id="logout")], className="topbar"),
        html.Nav(links, className="nav"),
        label_banner(sources, lang),
    ])


def label_banner(sources: list[str], lang: str) -> html.Div:
    """'Simulated' or 'measured' as the data shown say: the sources of the days on the page."""
    kind = data_label(sources)
    if kind == "simulated":
        return html.Div(t("simulated", lang), className="banner simulated", id="data-label", **{"data-kind": kind})
    if kind == "mixed":
        simulated = [s for s in sources if s.startswith("simulated-")]
        return html.Div(t("mixed", lang) + ", ".join(simulated) + " · " + t("measured", lang) + ": "
                        + ", ".join(s for s in sources if s not in simulated),
                        className="banner mixed", id="data-label", **{"data-kind": kind})
    if kind == "measured":
        return html.Div(t("measured", lang) + ": " + ", ".join(sources), className="banner measured",
                        id="data-label", **{"data-kind": kind})
    return html.Div("", className="banner none", id="data-label", **{"data-kind": kind})


def cell(value):
    """One cell as a table or a download shows it: a missing value (None, NaN, NaT) or an infinite
    one as '—', never a programmer's word. The pages word missing data themselves (无数据 /
    数据不足 through pipelines/display.py); this only keeps whatever they left from leaking."""
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    if display.is_missing(value) or (isinstance(value, float) and math.isinf(value)):
        return "—"
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def shown_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every cell as `cell` makes it (the table's data and its downloads alike)."""
    shown = frame.copy()
    for column in shown.columns:
        shown[column] = shown[column].map(cell).astype(object)
    return shown


def table_payload(frame: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """A frame as a DataTable's `data` and `columns` (every cell as text the table shows)."""
    shown = shown_frame(frame)
    return shown.to_dict("records"), [{"name": c, "id": c} for c in shown.columns]


def data_table(table_id: str, frame: pd.DataFrame | None, download: str, context: PageContext, page_size: int = 25,
               style_rows: list | None = None) -> html.Div:
    """A table that shows all its rows (paged, never cut off) with CSV and XLSX downloads of the same
    rows, made again on the server for the same user. `frame` None: the page's callback fills it."""
    data, columns = table_payload(frame) if frame is not None else ([], [])
    query = search_string(context.params)
    return html.Div([
        dash_table.DataTable(
            id=table_id, data=data, columns=columns,
            page_size=page_size, sort_action="native", filter_action="native",
            filter_options={"placeholder_text": t("filter", context.lang)},  # the table's own default is English
            style_table={"overflowX": "auto"}, style_cell={"textAlign": "left", "fontSize": 13, "padding": "4px",
                                                           "fontFamily": FONT_FAMILY, "whiteSpace": "normal",
                                                           "height": "auto"},
            style_header={"backgroundColor": "#35495e", "color": "white", "fontWeight": "bold"},
            style_data_conditional=style_rows or []),
        html.Div([t("download", context.lang) + ": ",
                  html.A("CSV", href=f"/download/{download}.csv{query}", id=f"{table_id}-csv", className="download"),
                  " · ",
                  html.A("XLSX", href=f"/download/{download}.xlsx{query}", id=f"{table_id}-xlsx", className="download")],
                 className="downloads", id=f"{table_id}-downloads"),
    ], className="table-block")


def download_links(table_id: str, download: str, context: PageContext) -> list:
    query = search_string(context.params)
    return [t("download", context.lang) + ": ",
            html.A("CSV", href=f"/download/{download}.csv{query}", id=f"{table_id}-csv", className="download"), " · ",
            html.A("XLSX", href=f"/download/{download}.xlsx{query}", id=f"{table_id}-xlsx", className="download")]


SHOWN_ROWS = 500  # a page carries at most this many rows of a table; its downloads carry all


def table_outputs(table_id: str, frame: pd.DataFrame, download: str, context: PageContext) -> tuple:
    """What a page's callback returns for one table: its data (the first SHOWN_ROWS rows), its
    columns and its download links (every row), saying so where rows were left to the download."""
    data, columns = table_payload(frame.head(SHOWN_ROWS))
    links = download_links(table_id, download, context)
    if len(frame) > SHOWN_ROWS:
        links = [f"{SHOWN_ROWS} / {len(frame)} · "] + links
    return data, columns, links


def table_targets(table_id: str) -> list:
    from dash import Output

    return [Output(table_id, "data"), Output(table_id, "columns"), Output(f"{table_id}-downloads", "children")]


PENDING = {"data": [], "layout": {"height": 60, "xaxis": {"visible": False}, "yaxis": {"visible": False}}}


def date_range(picker_id: str, first: date | None, last: date | None, start: date | None, end: date | None) -> dcc.DatePickerRange:
    return dcc.DatePickerRange(id=picker_id, min_date_allowed=first, max_date_allowed=last, start_date=start,
                               end_date=end, display_format="YYYY-MM-DD", first_day_of_week=1)


def graph(graph_id: str, figure: dict, **kwargs) -> dcc.Graph:
    # no 'Share chart' button: plotly.js would upload the figure's data to Plotly Cloud, off the bureau's network
    return dcc.Graph(id=graph_id, figure=figure, config={"displaylogo": False, "responsive": False,
                                                         "showSendToCloud": False}, **kwargs)


def notice(text: str, kind: str = "info", element_id: str | None = None) -> html.Div:
    props = {"id": element_id} if element_id else {}
    return html.Div(text, className=f"notice {kind}", **props)
