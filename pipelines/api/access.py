"""Who may read what through the open data API (issue 26).

Two tiers, decided per station:
- public (no key): what CNEMC already publishes: the stations, the daily and monthly classes, AQI
  and primary pollutants, and the air stations' 1-hour concentrations (values whose QC flag is
  assessable, value and unit only). Rate-limited per client address (ENVMON_API_PUBLIC_RATE).
- partner (a key of `envmon apikeys add`, sent as `X-API-Key: KEY` or `Authorization: Bearer KEY`):
  for the stations of its scope, the raw observations with QC flags, notes, censoring, detection
  limits and original values, the quarantine counts, and the assessments' verdicts (target,
  compliance, failing items). Outside its scope a key reads what the public reads, no more.
An unknown or revoked key is refused (401), never served as the public.

A scope `city:NAME` holds the stations of that city and the cross-boundary sections its bureau
shares (the registry's responsible_bureaus), as a city user of the dashboard sees them;
`section:ID` holds that station or section.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

ENV_VARS = ("ENVMON_API_WAREHOUSE_URL", "ENVMON_API_PUBLIC_RATE", "ENVMON_API_PARTNER_RATE", "ENVMON_API_MAX_LIMIT")
DEFAULT_PUBLIC_RATE = "60/minute"
DEFAULT_PARTNER_RATE = "600/minute"
PUBLIC_QC_FLAGS = ("good", "not_evaluated")  # a value QC found suspect or failed is not published
PUBLIC_AVERAGING = ("PT1H",)                  # CNEMC publishes the hourly concentrations


@dataclass(frozen=True)
class Settings:
    public_rate: str
    partner_rate: str
    max_limit: int


def settings_from(environ=None) -> Settings:
    from limits import parse

    env = os.environ if environ is None else environ
    public = env.get("ENVMON_API_PUBLIC_RATE") or DEFAULT_PUBLIC_RATE
    partner = env.get("ENVMON_API_PARTNER_RATE") or DEFAULT_PARTNER_RATE
    for name, value in (("ENVMON_API_PUBLIC_RATE", public), ("ENVMON_API_PARTNER_RATE", partner)):
        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{name} must be a rate such as 60/minute, not {value!r}") from None
    limit = env.get("ENVMON_API_MAX_LIMIT") or "10000"
    if not limit.isdigit() or int(limit) < 1:
        raise ValueError(f"ENVMON_API_MAX_LIMIT must be a whole number of rows, not {limit!r}")
    return Settings(public, partner, int(limit))


def city_of_bureau() -> dict[str, str]:
    """bureau id → city, from bureaus.csv's jurisdiction ('广西壮族自治区 玉林市' → 玉林市)."""
    from pipelines.reference import registry

    bureaus = registry.bureaus()
    return {bureau: str(place).split()[-1] for bureau, place in bureaus["jurisdiction"].items()
            if str(place).split() and str(place).split()[-1].endswith("市")}


def scoped_station_ids(scope: str, stations: pd.DataFrame) -> frozenset[str]:
    """The stations a key's stored scope ('city:玉林市;section:x') holds."""
    bureau_of_city = {city: bureau for bureau, city in city_of_bureau().items()}
    ids: set[str] = set()
    shared = stations["responsible_bureaus"].fillna("").map(lambda text: set(str(text).split(";")))
    crossing = stations["is_cross_boundary"].fillna(False).astype(bool)
    for item in scope.split(";"):
        kind, _, value = item.partition(":")
        if kind == "section":
            ids.add(value)
        elif kind == "city":
            bureau = bureau_of_city.get(value)
            own = stations["city"] == value
            if bureau is not None:
                own = own | (crossing & shared.map(lambda names: bureau in names))
            ids.update(stations.loc[own, "station_id"])
    return frozenset(ids & set(stations["station_id"]))


@dataclass(frozen=True)
class Caller:
    """The request's reader: the public (key None) or a partner key and the stations it holds."""
    key: object = None                      # warehouse.api_store.ApiKey
    station_ids: frozenset[str] = frozenset()

    @property
    def is_partner(self) -> bool:
        return self.key is not None

    def sees_raw(self, station_id: str) -> bool:
        return self.key is not None and station_id in self.station_ids


class RateLimits:
    """Fixed windows per client (the address for the public, the key for a partner), in this
    process's memory: each API process counts its own requests."""

    def __init__(self, settings: Settings):
        from limits import parse
        from limits.storage import MemoryStorage
        from limits.strategies import FixedWindowRateLimiter

        self.limiter = FixedWindowRateLimiter(MemoryStorage())
        self.public, self.partner = parse(settings.public_rate), parse(settings.partner_rate)

    def allow(self, caller: Caller, address: str) -> tuple[bool, int]:
        """(within the limit, seconds until the window resets)."""
        item = self.partner if caller.is_partner else self.public
        who = f"key:{caller.key.key_id}" if caller.is_partner else f"address:{address}"
        allowed = self.limiter.hit(item, who)
        reset, _remaining = self.limiter.get_window_stats(item, who)
        import time

        return allowed, max(1, int(reset - time.time()) + 1)
