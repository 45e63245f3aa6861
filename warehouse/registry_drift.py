"""The stations and sections payloads name in the registry's cities that the registry lacks
(table unknown_stations, migration 0011): recorded by each ingest, listed by `envmon registry
unknown`, counted in the run summary, and offered to the alerts as newly seen."""
from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from warehouse import schema
from warehouse.db import partition_lock

COLUMNS = [c.name for c in schema.unknown_stations.c]


def record_unknowns(engine: Engine, unknowns: list[dict], payload_id: int | None, seen_at: datetime) -> list[dict]:
    """Count each unknown station seen by a payload; returns those seen for the first time. A
    payload seen again (--payload-id, resume) does not count twice."""
    if not unknowns:
        return []
    table, first_seen = schema.unknown_stations, []
    with engine.begin() as connection:
        partition_lock(connection, "unknown_stations")
        for unknown in unknowns:
            key = (table.c.source == unknown["source"]) & (table.c.station_key == unknown["station_key"])
            known = connection.execute(select(table).where(key)).mappings().first()
            if known is None:
                row = {"source": unknown["source"], "station_key": unknown["station_key"],
                       "name_zh": unknown["name_zh"], "city": unknown["city"], "water_body": unknown.get("water_body"),
                       "city_basis": unknown["city_basis"], "first_seen_at": seen_at, "first_payload_id": payload_id,
                       "last_seen_at": seen_at, "last_payload_id": payload_id, "payloads_seen": 1,
                       "values_seen": int(unknown.get("values", 0)),
                       "longitude": unknown.get("longitude"), "latitude": unknown.get("latitude")}
                connection.execute(insert(table), [row])
                first_seen.append(row)
            elif payload_id is None or payload_id not in (known["first_payload_id"], known["last_payload_id"]):
                connection.execute(update(table).where(key).values(
                    last_seen_at=seen_at, last_payload_id=payload_id, payloads_seen=known["payloads_seen"] + 1,
                    values_seen=known["values_seen"] + int(unknown.get("values", 0)),
                    # the newest coordinates the payloads give (none from the water feed: kept as they were)
                    longitude=unknown.get("longitude", known["longitude"]), latitude=unknown.get("latitude", known["latitude"])))
    return first_seen


def unknown_stations(engine: Engine) -> pd.DataFrame:
    """Every unknown station, by source, city and name."""
    table = schema.unknown_stations
    with engine.connect() as connection:
        rows = connection.execute(select(table).order_by(table.c.source, table.c.city, table.c.name_zh)).mappings().all()
    return pd.DataFrame(rows, columns=COLUMNS)


def newly_seen(engine: Engine, since: datetime) -> list[dict]:
    """The unknown stations first seen at or after `since`: one operational notice each (issue 13)."""
    table = schema.unknown_stations
    with engine.connect() as connection:
        rows = connection.execute(select(table).where(table.c.first_seen_at >= since)
                                  .order_by(table.c.first_seen_at, table.c.station_key)).mappings().all()
    return [dict(row) for row in rows]


def seen_since(engine: Engine, since: datetime) -> dict:
    """For the run summary: how many unknown stations there are, seen since `since`, and new."""
    frame = unknown_stations(engine)
    if frame.empty:
        return {"total": 0, "seen": 0, "new": 0, "names": []}
    last = pd.to_datetime(frame["last_seen_at"], utc=True)
    first = pd.to_datetime(frame["first_seen_at"], utc=True)
    since = pd.Timestamp(since).tz_convert("UTC") if pd.Timestamp(since).tzinfo else pd.Timestamp(since, tz="UTC")
    return {"total": len(frame), "seen": int((last >= since).sum()), "new": int((first >= since).sum()),
            "names": sorted(f"{r.name_zh} ({r.city})" for r in frame.itertuples())}
