"""`envmon registry adopt NAME | --all-unknown` (issue 23): a section or station that the feeds publish
in the registry's cities but that the registry lacks (unknown_stations, warehouse/registry_drift.py)
joins the registry from the feed's own facts, as a registry version of kind 'adopt' recorded with
who adopted it and when.

What the feed gives is all it gets: a water section its name, province, basin, river and city (the
payload's tooltip, or the feed's earlier tooltips); an air station its code, name, area (city) and
coordinates. No target: it is `unset` (classes, no verdict: 目标未定) until a bureau's list or a
version sets one. Nothing is guessed: the county and a section's coordinates stay unknown, and say so.

From which day: `valid_from` (default the adoption's day, on the bureaus' clock). It is assessed from
then on: the days already stored from valid_from are reassessed at once. Its readings of earlier
payloads were counted out of scope at parse time and never stored, so the past is not reassessed
from the warehouse; to have it, adopt with an earlier valid_from and ingest the archived payloads
again (`envmon ingest --payload-id N`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine, and_, bindparam, delete

from pipelines.reference import registry
from warehouse import registry_drift, registry_store, schema

WATER_SOURCE, AIR_SOURCE = "cnemc-water", "cnemc-air"
LAKE_ENDINGS = ("水库", "湖")


class AdoptionError(ValueError):
    """A name that matches no unknown station, or more than one: one clear line."""


@dataclass
class Adoption:
    applied: registry_store.AppliedVersion | None
    adopted: list[dict]            # station_id, name_zh, city, water_body, source, station_key
    reassessed: dict | None


def candidates(engine: Engine, names: list[str] | None, all_unknown: bool) -> pd.DataFrame:
    """The unknown stations to adopt: each NAME matched by name (名称) or by key (an air station's code,
    a section's province/basin/name); a name matching none, or several, is refused."""
    unknown = registry_drift.unknown_stations(engine)   # an adopted station leaves it (_forget_unknown)
    if all_unknown:
        return unknown.reset_index(drop=True)
    chosen = []
    for name in names or []:
        match = unknown[(unknown["name_zh"] == name) | (unknown["station_key"] == name)]
        if match.empty:
            raise AdoptionError(f"registry adopt: {name!r} is not an unknown station or section (`envmon registry "
                                "unknown` lists them by name and key)")
        if len(match) > 1:
            keys = "; ".join(f"{r.station_key} ({r.source}, {r.city})" for r in match.itertuples())
            raise AdoptionError(f"registry adopt: {name!r} names {len(match)} unknown stations: give its key, one of {keys}")
        chosen.append(match)
    return pd.concat(chosen, ignore_index=True) if chosen else unknown.iloc[0:0]


def station_row(unknown: dict) -> dict:
    """The registry row of an unknown station, from the feed's own facts only."""
    seen = (f"first seen {unknown['first_seen_at']:%Y-%m-%d}, payload {unknown['first_payload_id']}; "
            f"city from {unknown['city_basis']}")
    if unknown["source"] == AIR_SOURCE:
        return {"station_id": unknown["station_key"], "registry": registry.AIR_REGISTRY, "name_zh": unknown["name_zh"],
                "city": unknown["city"], "county": "UNKNOWN", "station_type": registry.AIR_STATION_TYPE,
                "longitude": _number(unknown.get("longitude")), "latitude": _number(unknown.get("latitude")),
                "coordinate_basis": "as the CNEMC hourly feed publishes them" if _number(unknown.get("longitude"))
                is not None else "UNKNOWN: the payloads seen gave none",
                "is_cross_boundary": False, "is_background": False, "name_history": "",
                "source": f"CNEMC hourly feed ({seen})", "feed_key": unknown["station_key"],
                "assumptions": "adopted from the feed: county not published; not a background station unless a list says so"}
    province, basin, name = (unknown["station_key"].split("/") + ["", "", ""])[:3]
    river = unknown.get("water_body") or ""
    return {"station_id": "cnemc-" + hashlib.sha1(unknown["station_key"].encode("utf-8")).hexdigest()[:10],
            "registry": registry.SECTIONS_REGISTRY, "name_zh": unknown["name_zh"] or name,
            "water_body": river or "UNKNOWN", "basin": basin, "province": province, "city": unknown["city"],
            "county": "UNKNOWN", "station_type": "lake-reservoir" if river.endswith(LAKE_ENDINGS) else "river",
            "longitude": None, "latitude": None, "coordinate_basis": "UNKNOWN: the water feed publishes no coordinates",
            "is_cross_boundary": False, "boundary_kind": "", "upstream_jurisdiction": "", "downstream_jurisdiction": "",
            "responsible_bureaus": _city_bureau(unknown["city"]), "is_drinking_water_source": False,
            "network": "CNEMC automatic station (adopted from the feed)",
            # the parser matches the feed's sections by this prefix (registry.cnemc_water_sections)
            "name_basis": f"CNEMC feed name (adopted; key {unknown['station_key']})",
            "source": f"CNEMC surface-water feed ({seen})", "feed_key": unknown["station_key"],
            "assumptions": "adopted from the feed: target unset; county and coordinates unknown"
                           + ("" if river else "; river unknown")}


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def _city_bureau(city: str) -> str:
    """The city's bureau (bureaus.csv, by its jurisdiction), so that notices reach someone."""
    bureaus = registry.bureaus()
    found = [b for b, j in zip(bureaus["bureau_id"], bureaus["jurisdiction"]) if city and j.endswith(city)]
    return ";".join(found)


def adopt(engine: Engine, *, names: list[str] | None = None, all_unknown: bool = False, applied_by: str,
          valid_from: date, settings=None, reassess: bool = True) -> Adoption:
    """Adopt the unknown stations named (or all of them): one registry version of kind 'adopt', their
    targets unset, then the stored days from valid_from reassessed. Nothing to adopt: no version."""
    registry_store.use_warehouse_registry(engine)
    chosen = candidates(engine, names, all_unknown)
    if chosen.empty:
        return Adoption(None, [], None)
    rows = [station_row(row) for row in chosen.to_dict("records")]
    document = "the feeds' own payloads (" + "; ".join(
        f"{r['source']} {r['station_key']}, payloads {r['first_payload_id']}..{r['last_payload_id']}"
        for r in chosen.to_dict("records")) + ")"
    applied = registry_store.apply_registry_version(
        engine, kind="adopt", applied_by=applied_by, source_document=document, valid_from=valid_from,
        stations=pd.DataFrame(rows), withdrawn=[], targets=None,
        summary={"adopted": [{"station_id": r["station_id"], "name_zh": r["name_zh"], "city": r["city"],
                              "feed_key": r["feed_key"]} for r in rows]})
    _forget_unknown(engine, chosen)
    reassessed = registry_store.reassess_changed(engine, applied, settings) if reassess else None
    adopted = [{"station_id": r["station_id"], "name_zh": r["name_zh"], "city": r["city"],
                "water_body": r.get("water_body", ""), "source": u["source"], "station_key": u["station_key"]}
               for r, u in zip(rows, chosen.to_dict("records"))]
    return Adoption(applied, adopted, reassessed)


def adopt_published(engine: Engine, unknowns: list[dict], *, applied_by: str, valid_from: date, seen_at) -> Adoption:
    """National scope (pipelines/scope.py): the stations a payload publishes that the registry lacks
    (the parser's Parsed.unknown_stations), adopted as they are read, as one registry version of kind
    'adopt' for the payload, targets unset. None is stored yet, so there is nothing to reassess."""
    registry_store.use_warehouse_registry(engine)
    seen = [{**u, "first_seen_at": seen_at, "first_payload_id": "being read"} for u in unknowns]
    rows = [station_row(u) for u in seen]
    rows = list({row["station_id"]: row for row in rows}.values())  # a key the payload repeats joins once
    sources = sorted({u["source"] for u in unknowns})
    applied = registry_store.apply_registry_version(
        engine, kind="adopt", applied_by=applied_by, valid_from=valid_from, stations=pd.DataFrame(rows),
        withdrawn=[], targets=None,
        source_document=f"the {', '.join(sources)} payload read at {seen_at:%Y-%m-%d %H:%M %Z} "
                        f"({len(rows)} stations it publishes that the registry lacked; ENVMON_SCOPE=national)",
        summary={"adopted": len(rows), "scope": "national", "sources": sources})
    _forget_unknown(engine, pd.DataFrame(seen, columns=["source", "station_key"]))
    registry_store.use_warehouse_registry(engine)
    adopted = [{"station_id": r["station_id"], "name_zh": r["name_zh"], "city": r["city"],
                "water_body": r.get("water_body", ""), "station_key": r["feed_key"],
                "source": AIR_SOURCE if r["registry"] == registry.AIR_REGISTRY else WATER_SOURCE} for r in rows]
    return Adoption(applied, adopted, None)


def _forget_unknown(engine: Engine, chosen: pd.DataFrame) -> None:
    """An adopted station is no longer unknown (its sightings are in the version's source document)."""
    table = schema.unknown_stations
    keys = [{"s": row["source"], "k": row["station_key"]} for row in chosen.to_dict("records")]
    if not keys:
        return
    with engine.begin() as connection:   # one statement for all of them (1,600 at a national adoption)
        connection.execute(delete(table).where(and_(table.c.source == bindparam("s"),
                                                    table.c.station_key == bindparam("k"))), keys)
