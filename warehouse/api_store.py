"""The open data API's partner keys and access log (tables api_keys and api_access_log, migration
0018, issue 26), managed by `envmon apikeys add|list|revoke` and read by `envmon api`.

A key is 32 random bytes (secrets.token_urlsafe) behind the prefix `envmon_`: printed once when it
is added, stored only as its SHA-256. A fast hash is enough here, unlike for passwords: a key has
256 bits of entropy, so no dictionary or brute force reaches it, and the server looks a key up by
its hash on every request. Adding and revoking a key are recorded in the security audit log
(warehouse/security_audit.py) in the same transaction.

A scope is a list of `city:NAME` (a city of the registry, 玉林市, or its bureau's id, yulin) and
`section:ID` (any station or section id of the registry), kept as text 'city:玉林市;section:…'.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from warehouse import schema

KEY_PREFIX = "envmon_"
SHOWN_PREFIX_CHARS = 12   # 'envmon_' and 5 characters of the secret: enough to tell keys apart
SCOPE_KINDS = ("city", "section")


class ApiKeyError(ValueError):
    """A key command that cannot be carried out (an unknown city or section, no such key)."""


@dataclass(frozen=True)
class ApiKey:
    key_id: int
    organisation: str
    scope: str
    key_prefix: str


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_scope(text: str) -> list[tuple[str, str]]:
    """'city:玉林市,section:x' (commas or semicolons) as [(kind, value)]; ApiKeyError on bad form."""
    items = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        kind, _, value = part.partition(":")
        if kind not in SCOPE_KINDS or not value.strip():
            raise ApiKeyError(f"scope item {part!r}: write city:NAME or section:ID")
        items.append((kind, value.strip()))
    if not items:
        raise ApiKeyError("a key needs a scope: --scope city:NAME or section:ID (several: comma-separated)")
    return items


def check_scope(items: list[tuple[str, str]], stations: pd.DataFrame, city_of_bureau: dict[str, str]) -> str:
    """The scope as stored, each city named as the registry names it; ApiKeyError for a city or
    section the registry does not hold."""
    cities = set(stations["city"].dropna())
    ids = set(stations["station_id"])
    stored = []
    for kind, value in items:
        if kind == "city":
            city = city_of_bureau.get(value, value)
            if city not in cities:
                raise ApiKeyError(f"city {value!r} is not a city of the registry ({', '.join(sorted(cities))})")
            stored.append(f"city:{city}")
        elif value not in ids:
            raise ApiKeyError(f"section {value!r} is not in the registry")
        else:
            stored.append(f"section:{value}")
    return ";".join(dict.fromkeys(stored))


def add_key(engine: Engine, organisation: str, scope: str, created_by: str, address: str) -> tuple[ApiKey, str]:
    """A new key for `organisation`: (its row, the key itself, to be shown once)."""
    from pipelines import clock
    from warehouse import security_audit

    if not organisation.strip():
        raise ApiKeyError("the organisation's name is empty")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = {"organisation": organisation.strip(), "key_hash": key_hash(key), "key_prefix": key[:SHOWN_PREFIX_CHARS],
           "scope": scope, "created_at": clock.now(), "created_by": created_by}
    table = schema.api_keys
    with engine.begin() as connection:
        key_id = connection.execute(insert(table).values(**row).returning(table.c.key_id)).scalar_one()
        security_audit.record(connection, "key_added", organisation, address,
                              f"API key {key_id} ({row['key_prefix']}…), scope {scope}")
    return ApiKey(key_id, row["organisation"], scope, row["key_prefix"]), key


def revoke_key(engine: Engine, key_id: int, revoked_by: str, address: str) -> ApiKey:
    from pipelines import clock
    from warehouse import security_audit

    table = schema.api_keys
    with engine.begin() as connection:
        row = connection.execute(select(table).where(table.c.key_id == key_id)).mappings().first()
        if row is None:
            raise ApiKeyError(f"no API key {key_id}")
        if row["revoked_at"] is not None:
            raise ApiKeyError(f"API key {key_id} was revoked already ({row['revoked_at']:%Y-%m-%d %H:%M} UTC)")
        connection.execute(update(table).where(table.c.key_id == key_id).values(
            revoked_at=clock.now(), revoked_by=revoked_by))
        security_audit.record(connection, "key_revoked", row["organisation"], address,
                              f"API key {key_id} ({row['key_prefix']}…)")
    return ApiKey(key_id, row["organisation"], row["scope"], row["key_prefix"])


def list_keys(engine: Engine) -> pd.DataFrame:
    """Every key (never its hash): id, organisation, prefix, scope, created, revoked."""
    table = schema.api_keys
    columns = ["key_id", "organisation", "key_prefix", "scope", "created_at", "created_by", "revoked_at", "revoked_by"]
    with engine.connect() as connection:
        rows = connection.execute(select(*(table.c[c] for c in columns)).order_by(table.c.key_id)).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=columns, dtype=object)


def key_for(engine: Engine, key: str) -> ApiKey | None:
    """The key in force that `key` is, or None (unknown or revoked)."""
    table = schema.api_keys
    with engine.connect() as connection:
        row = connection.execute(select(table).where(
            table.c.key_hash == key_hash(key), table.c.revoked_at.is_(None))).mappings().first()
    return None if row is None else ApiKey(row["key_id"], row["organisation"], row["scope"], row["key_prefix"])


def log_access(engine: Engine, key: ApiKey, *, address: str | None, method: str, path: str, query: str,
               collection: str | None, status: int, rows: int, now: datetime | None = None) -> None:
    from pipelines import clock

    with engine.begin() as connection:
        connection.execute(insert(schema.api_access_log).values(
            occurred_at=now or clock.now(), key_id=key.key_id, organisation=key.organisation,
            address=(address or "")[:64] or None, method=method[:8], path=path, query=query or None,
            collection=(collection or None) and collection[:64], status=status, rows=rows))


def access_log(engine: Engine, key_id: int | None = None) -> pd.DataFrame:
    """The partner requests, oldest first (one key's, or all)."""
    table = schema.api_access_log
    query = select(table).order_by(table.c.access_id)
    if key_id is not None:
        query = query.where(table.c.key_id == key_id)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in table.columns], dtype=object)
