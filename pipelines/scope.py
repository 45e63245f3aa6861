"""The registry's scope (ENVMON_SCOPE, issue 27): the Beibu Gulf stations, or all the feeds publish.

At `beibu` scope (the default) a payload's station that the registry lacks is counted out of scope,
and noted as unknown when it lies in one of the registry's cities (warehouse/registry_drift.py).

At `national` scope the registry is everything the CNEMC feeds publish: a station or section a payload
names that the registry lacks is adopted on reading, through `envmon registry adopt`'s path
(warehouse/registry_adopt.py, from the feed's own facts, target `unset`: classes and AQI, no verdict,
until a bureau imports its list), as one registry version per payload, and the payload is read again
with it in the registry. It joins from the day of its earliest reading in that payload.

The parser has no warehouse of its own: the ingest binds the one it loads into (`bind`, called
by pipelines/ingest/batches.prepare before any payload is read); a payload read with none bound (a bare
parse) is read as at beibu scope, its stations reported unknown, never adopted.
"""
from __future__ import annotations

from datetime import date

from pipelines import clock, config

ADOPTING_SOURCES = ("cnemc-water", "cnemc-air")
ADOPTED_BY = "envmon (ENVMON_SCOPE=national)"
_BOUND: dict[str, str | None] = {"warehouse_url": None}


def national() -> bool:
    return config.scope() == "national"


def takes_city(city: str, registry_cities) -> bool:
    """Whether a station the registry lacks, in `city` ('' when the feed names none), is one to note:
    at beibu scope only in the registry's own cities; at national scope everywhere."""
    return national() or bool(city) and city in registry_cities


def bind(settings) -> None:
    """The warehouse the payloads read from now on are adopted into (the ingest's own)."""
    _BOUND["warehouse_url"] = settings.warehouse_url


def unbind() -> None:
    _BOUND["warehouse_url"] = None


def adopt_published(source: str, parsed, fetched_at) -> bool:
    """At national scope, adopt the stations `parsed` names that the registry lacks (one registry
    version for the payload); True when some were, so that the caller reads the payload again."""
    if source not in ADOPTING_SOURCES or not parsed.unknown_stations or not national():
        return False
    if _BOUND["warehouse_url"] is None:
        return False
    from warehouse import db, registry_adopt

    engine = db.engine_for(_BOUND["warehouse_url"])
    first_day = min((u["observed_day"] for u in parsed.unknown_stations if u.get("observed_day")),
                    default=_bureau_day(fetched_at))
    registry_adopt.adopt_published(engine, parsed.unknown_stations, applied_by=ADOPTED_BY, valid_from=first_day,
                                   seen_at=clock.now())
    return True


def _bureau_day(fetched_at) -> date:
    from pipelines.observations import BUREAU_TZ

    return (fetched_at or clock.now()).astimezone(BUREAU_TZ).date()
