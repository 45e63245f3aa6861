"""What the pages read: warehouse/queries.py through a short-lived cache, the registry as the
warehouse holds it, and each user's scope (the stations they may see)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine

from dashboards.app.users import User
from warehouse import queries

# Answers are kept until the warehouse's data version changes (queries.data_version: a load, an
# ingest, a reassessment, an alert or an acknowledgement changes it), which the app reads once at
# the start of every request (refresh_version), so no request is answered from data older than
# the warehouse's; outside a request it is read again after VERSION_SECONDS. Never kept longer
# than CACHE_SECONDS, whatever the version says.
CACHE_SECONDS = 900.0
VERSION_SECONDS = 30.0
# read afresh each time: small, and changed by people (acknowledgements) rather than by loads
UNCACHED = frozenset({"alerts", "latest_alerts", "alert_episodes", "alert_actions", "alert_episode"})
CITY_OF_BUREAU = {"nanning": "南宁市", "beihai": "北海市", "fangchenggang": "防城港市", "qinzhou": "钦州市",
                  "yulin": "玉林市", "chongzuo": "崇左市"}
CITY_EN = {"南宁市": "Nanning", "北海市": "Beihai", "防城港市": "Fangchenggang", "钦州市": "Qinzhou", "玉林市": "Yulin",
           "崇左市": "Chongzuo", "湛江市": "Zhanjiang", "茂名市": "Maoming"}
WATER_TYPES = ("river", "lake-reservoir")
SIMULATED_PREFIX = "simulated-"


class Warehouse:
    """The queries of warehouse/queries.py, each answer (per arguments) kept while the warehouse's
    data version stays the same, at most `cache_seconds` (0: no cache)."""

    def __init__(self, engine: Engine, cache_seconds: float = CACHE_SECONDS, version_seconds: float = VERSION_SECONDS):
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.version_seconds = version_seconds
        self._cache: dict[tuple, tuple[float, object]] = {}
        self._version: tuple = (None, -1.0)
        self._lock = threading.Lock()
        self._registry: tuple = ("not read", None)  # (newest registry version seen, the key it made)

    def _current_version(self, now: float):
        version, checked = self._version
        if now - checked >= self.version_seconds:
            version = self.refresh_version(now)
        return version

    def refresh_version(self, now: float | None = None):
        """Read the warehouse's data version; answers kept under another one are dropped."""
        now = time.monotonic() if now is None else now
        version = queries.data_version(self.engine)
        with self._lock:
            if version != self._version[0]:
                self._cache.clear()
            self._version = (version, now)
        return version

    def use_its_registry(self) -> None:
        """Make the warehouse's registry this process's (registry.sections(), the targets in force:
        adopted and imported sections, their targets), as `envmon` does after db.migrate. Read-only:
        one query of the newest registry version per call (each request), the registry itself read
        again only when that changed or another warehouse's registry was made this process's."""
        from pipelines.reference import registry
        from warehouse import registry_store

        newest = newest_registry_version(self.engine)
        seen, key = self._registry
        if newest == seen and registry.version_key()[0] == key:
            return
        key = registry_store.use_warehouse_registry(self.engine) if newest is not None else None
        if key is None:
            registry.use_seed()
        self._registry = (newest, key)

    def __getattr__(self, name: str):
        function = getattr(queries, name)

        def cached(*args, **kwargs):
            if self.cache_seconds <= 0 or name in UNCACHED:
                return function(self.engine, *args, **kwargs)
            key = (name, args, tuple(sorted(kwargs.items())))
            now = time.monotonic()
            self._current_version(now)
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.cache_seconds:
                return hit[1]
            value = function(self.engine, *args, **kwargs)
            with self._lock:
                if len(self._cache) > 5000:
                    self._cache.clear()
                self._cache[key] = (now, value)
            return value

        return cached

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


class RequestMemo:
    """A Warehouse whose answers are kept for one request (one callback): a page that draws a map and
    tables from the same rows reads them once, whether or not the app's cache is on."""

    def __init__(self, warehouse: Warehouse):
        self._warehouse = warehouse
        self._answers: dict[tuple, object] = {}

    def __getattr__(self, name: str):
        attribute = getattr(self._warehouse, name)
        if not callable(attribute) or not hasattr(queries, name):
            return attribute

        def once(*args, **kwargs):
            key = (name, args, tuple(sorted(kwargs.items())))
            if key not in self._answers:
                self._answers[key] = attribute(*args, **kwargs)
            return self._answers[key]

        return once


def newest_registry_version(engine: Engine) -> int | None:
    """The newest registry version of the warehouse (registry_versions, migration 0016); None
    before that migration or before its first version (the seed files are the registry then)."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import DBAPIError

    from warehouse import schema

    try:
        with engine.connect() as connection:
            return connection.execute(select(func.max(schema.registry_versions.c.version_id))).scalar()
    except DBAPIError:   # no registry_versions table: a warehouse before migration 0016
        return None


class ResponseCache:
    """Whole callback answers (the JSON the browser gets), kept per user, request body and data
    version: a callback asked again with the same inputs, while the warehouse has not changed,
    is answered without a query, a figure or a serialisation. At most `max_bytes` in all (the
    least recently used go first) and never older than `max_seconds`."""

    def __init__(self, max_bytes: int = 64 * 2**20, max_seconds: float = CACHE_SECONDS):
        from collections import OrderedDict

        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._entries: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry[0] >= self.max_seconds:
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key, body: bytes) -> None:
        if len(body) > self.max_bytes // 8:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (time.monotonic(), body)
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key) -> None:
        _, body = self._entries.pop(key)
        self._bytes -= len(body)


@dataclass(frozen=True)
class Scope:
    """The stations a user may see: None for the regional role (all)."""
    station_ids: frozenset[str] | None
    city: str | None          # the city user's own city (南宁市 ...), None for regional users

    def allows(self, station_id: str) -> bool:
        return self.station_ids is None or station_id in self.station_ids

    @property
    def key(self) -> tuple | None:
        """Hashable, for cached queries."""
        return None if self.station_ids is None else tuple(sorted(self.station_ids))


def scope_for(user: User, stations: pd.DataFrame) -> Scope:
    """A city bureau sees its city's stations and the cross-boundary sections its bureau shares."""
    if user.is_regional:
        return Scope(None, None)
    city = CITY_OF_BUREAU[user.bureau]
    shared = stations["responsible_bureaus"].fillna("").map(lambda text: user.bureau in text.split(";"))
    own = (stations["city"] == city) | (shared & stations["is_cross_boundary"].astype(bool))
    return Scope(frozenset(stations.loc[own, "station_id"]), city)


def data_label(sources: list[str]) -> str:
    """'simulated', 'measured' or 'mixed', from the sources of the data shown."""
    if not sources:
        return "none"
    simulated = [s for s in sources if s.startswith(SIMULATED_PREFIX)]
    if len(simulated) == len(sources):
        return "simulated"
    return "mixed" if simulated else "measured"


def city_name(city: str, lang: str) -> str:
    return CITY_EN.get(city, city) if lang == "en" else city


def parse_day(text, default: date | None) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10]) if text else default
    except ValueError:
        return default
