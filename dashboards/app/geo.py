"""The Overview map, drawn offline from dashboards/geo/beibu.geojson (city boundaries, land cut by
the coastline, the large rivers, inland water areas and the reservoirs they name; sources and
licences in dashboards/geo/SOURCES.md) on plain longitude/latitude
axes: no tiles, no fonts and no topojson fetched from anywhere. Labels are placed so that none
overlaps another (greedy, in screen pixels of the fixed-size figure)."""
from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

GEO_FILE = Path(__file__).resolve().parents[1] / "geo" / "beibu.geojson"
LON_RANGE = (106.35, 111.4)
LAT_RANGE = (20.8, 24.1)
MAP_WIDTH, MAP_HEIGHT = 940, 700
MARGIN = {"l": 55, "r": 10, "t": 40, "b": 30}
SEA = "#d6e6f4"
LAND = "#f6f3ec"
RIVER = "#5b9bd5"
WATER = "#9cc3e6"        # rivers mapped as areas, lakes, reservoirs: the river's hue, filled
RESERVOIR_EDGE = "#3f7fbf"
# longitude degrees are shorter than latitude degrees here: keep the map's shape (plate carrée
# stretched by 1/cos(latitude), close to what a conformal projection shows at this scale)
ASPECT = 1 / math.cos(math.radians(sum(LAT_RANGE) / 2))


@cache
def layers() -> dict:
    return json.loads(GEO_FILE.read_text(encoding="utf-8"))


def _rings(geometry: dict) -> list[list]:
    kind, coordinates = geometry["type"], geometry["coordinates"]
    if kind == "Polygon":
        return [coordinates[0]]
    if kind == "MultiPolygon":
        return [polygon[0] for polygon in coordinates]
    if kind == "LineString":
        return [coordinates]
    if kind == "MultiLineString":
        return list(coordinates)
    return []


def _joined(rings: list[list]) -> tuple[list, list]:
    """One trace for many rings: None between them (plotly draws each as its own line)."""
    xs, ys = [], []
    for ring in rings:
        xs += [p[0] for p in ring] + [None]
        ys += [p[1] for p in ring] + [None]
    return xs, ys


@cache
def _base_traces(highlight_city: str | None, lang: str) -> tuple[dict, ...]:
    traces = []
    features = layers()["features"]
    land = [r for f in features if f["properties"]["layer"] == "land" for r in _rings(f["geometry"])]
    for ring in land:  # one trace per polygon: 'toself' fills each trace as one shape
        traces.append({"type": "scatter", "x": [p[0] for p in ring], "y": [p[1] for p in ring], "mode": "lines",
                       "fill": "toself", "fillcolor": LAND, "line": {"width": 0.6, "color": "#9bb3c7"},
                       "hoverinfo": "skip", "showlegend": False})
    water = [r for f in features if f["properties"]["layer"] == "water" for r in _rings(f["geometry"])]
    if water:  # one trace: 'toself' fills each gap-separated ring on its own
        xs, ys = _joined(water)
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "fill": "toself",
                       "fillcolor": WATER, "line": {"width": 0.4, "color": RIVER}, "hoverinfo": "skip",
                       "showlegend": False, "name": "water"})
    for feature in features:
        props = feature["properties"]
        if props["layer"] != "reservoir":
            continue
        xs, ys = _joined(_rings(feature["geometry"]))
        name = f"{props['name_zh']} ({props['area_km2']:g} km²)"
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "fill": "toself",
                       "fillcolor": WATER, "line": {"width": 1.0, "color": RESERVOIR_EDGE}, "name": name,
                       "hoverinfo": "text", "text": name, "hoveron": "fills", "showlegend": False})
    for feature in features:
        props = feature["properties"]
        if props["layer"] not in ("city", "context_city"):
            continue
        xs, ys = _joined(_rings(feature["geometry"]))
        own = highlight_city is not None and props["name_zh"] == highlight_city
        name = props["name_en"] if lang == "en" else props["name_zh"]
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "name": name,
                       "fill": "toself" if own else "none", "fillcolor": "rgba(255, 224, 130, 0.35)",
                       "line": {"width": 1.6 if props["layer"] == "city" else 0.8, "color": "#7a6f5a",
                                "dash": "solid" if props["layer"] == "city" else "dot"},
                       "hoverinfo": "text", "text": name, "hoveron": "points", "showlegend": False})
    for feature in features:
        props = feature["properties"]
        if props["layer"] != "river":
            continue
        xs, ys = _joined(_rings(feature["geometry"]))
        name = f"{props['name_zh']} {props['name_en']}" if lang == "en" else props["name_zh"]
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "name": name,
                       "line": {"width": 1.8, "color": RIVER}, "hoverinfo": "text", "text": name,
                       "showlegend": False})
    return tuple(traces)


def base_traces(highlight_city: str | None, lang: str) -> list[dict]:
    return [dict(t) for t in _base_traces(highlight_city, lang)]


def city_label_points(lang: str) -> list[dict]:
    """A label position for each city: the centre of its largest polygon's bounding box, nudged to land."""
    out = []
    for feature in layers()["features"]:
        props = feature["properties"]
        if props["layer"] not in ("city", "context_city"):
            continue
        ring = max(_rings(feature["geometry"]), key=len)
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        out.append({"x": (min(xs) + max(xs)) / 2, "y": (min(ys) + max(ys)) / 2,
                    "text": props["name_en"] if lang == "en" else props["name_zh"], "kind": props["layer"]})
    return out


def bay_label_points(stations: list[dict]) -> list[dict]:
    """A label for each bay of the registry at the mean of its points' registered positions: no
    openly licensed outline of the bays was found (dashboards/geo/SOURCES.md); their water is the
    sea that the coastline leaves."""
    bays: dict[str, list] = {}
    for station in stations:
        if station["station_type"] == "sea":
            bays.setdefault(station["water_body"], []).append((station["longitude"], station["latitude"]))
    return [{"x": sum(p[0] for p in points) / len(points), "y": sum(p[1] for p in points) / len(points),
             "text": name, "kind": "bay"} for name, points in sorted(bays.items())]


def axes() -> dict:
    return {
        "xaxis": {"range": list(LON_RANGE), "showgrid": False, "zeroline": False, "title": None,
                  "ticksuffix": "°E", "constrain": "domain"},
        "yaxis": {"range": list(LAT_RANGE), "showgrid": False, "zeroline": False, "title": None,
                  "ticksuffix": "°N", "scaleanchor": "x", "scaleratio": ASPECT, "constrain": "domain"},
        "plot_bgcolor": SEA, "width": MAP_WIDTH, "height": MAP_HEIGHT, "margin": MARGIN,
    }


# --- labels that do not overlap -------------------------------------------------------------

def _pixels_per_degree() -> tuple[float, float]:
    width = MAP_WIDTH - MARGIN["l"] - MARGIN["r"]
    height = MAP_HEIGHT - MARGIN["t"] - MARGIN["b"]
    lon_span, lat_span = LON_RANGE[1] - LON_RANGE[0], (LAT_RANGE[1] - LAT_RANGE[0]) * ASPECT
    scale = min(width / lon_span, height / lat_span)  # scaleanchor: one scale, the tighter one
    return scale, scale * ASPECT


def text_size(text: str, font_px: float) -> tuple[float, float]:
    """Width and height in pixels of a one-line label (CJK glyphs are square, Latin ones narrower)."""
    width = sum(font_px if ord(ch) > 0x2E80 else font_px * 0.6 for ch in text)
    return width + 4, font_px + 5


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


DIRECTIONS = [(1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (-1, -1), (1, 1), (-1, 1)]
RADII = (12, 26, 42, 60, 82)


def place_labels(points: list[dict], fixed: list[dict] = (), font_px: float = 11) -> list[dict]:
    """For each point {x, y, text, priority}: a label offset (ax, ay in pixels, screen y downwards)
    whose box overlaps no other label, no fixed label and no marker, or none at all (the point
    keeps its hover text). Higher priority is placed first."""
    sx, sy = _pixels_per_degree()

    def screen(x, y):
        return (x - LON_RANGE[0]) * sx, (LAT_RANGE[1] - y) * sy

    taken = []
    for label in fixed:
        cx, cy = screen(label["x"], label["y"])
        w, h = text_size(label["text"], label.get("font_px", 13))
        taken.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    markers = [screen(p["x"], p["y"]) for p in points]
    marker_boxes = [(mx - 7, my - 7, mx + 7, my + 7) for mx, my in markers]
    placed = []
    for index in sorted(range(len(points)), key=lambda i: -points[i].get("priority", 0)):
        point = points[index]
        mx, my = markers[index]
        w, h = text_size(point["text"], font_px)
        choice = None
        for radius in RADII:
            for dx, dy in DIRECTIONS:
                cx = mx + dx * (radius + w / 2 * abs(dx))
                cy = my + dy * (radius * 0.7 + h / 2 * abs(dy))
                box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                if any(_overlaps(box, other) for other in taken) or \
                        any(_overlaps(box, m) for m in marker_boxes):
                    continue
                choice = (cx - mx, cy - my, box)
                break
            if choice:
                break
        if choice is None:
            placed.append({**point, "placed": False})
            continue
        taken.append(choice[2])
        placed.append({**point, "placed": True, "ax": round(choice[0], 1), "ay": round(choice[1], 1),
                       "box": choice[2]})
    return placed
