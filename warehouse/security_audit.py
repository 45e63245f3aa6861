"""The security audit log (table security_audit, migration 0017): who signed in, who failed, who
was locked out, who changed which user, who acknowledged which alert, which API key was added or
revoked; each event with the user, the address and the time (等保 2.0's audit records of security
events). `record` is the one way in, for every kind of event; the dashboard's lockout is counted
from the same rows, so it holds across the app's processes and workers.

A detail never holds a secret: no password, code or key is ever passed to `record`.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, func, insert, inspect, select

from warehouse import schema

EVENTS = (
    "sign_in",            # a user signed in to the dashboard
    "sign_in_failed",     # a sign-in refused: unknown user, wrong password or code, disabled, locked
    "lockout",            # too many failures: the name is locked for the lockout minutes
    "logout",             # a user signed out
    "session_expired",    # an idle session ended by the app
    "user_added",         # envmon users add (a new user)
    "password_reset",     # envmon users add on an existing user: a new password (and role, bureau)
    "user_disabled",
    "user_enabled",
    "acknowledgement",    # an alert episode acknowledged (the app, envmon alerts ack)
    "key_added",          # an API key issued
    "key_revoked",        # an API key revoked
    "observation_withdrawn",  # a stored value withdrawn (envmon observations invalidate, a lab's complete statement)
    "observation_flagged",    # a stored value re-flagged by hand (envmon observations flag)
    "observation_restored",   # a withdrawal or flag ended (envmon observations restore)
)
NAME_CHARS = 150  # a name typed at the sign-in form is kept as typed, up to this long
ADDRESS_CHARS = 64
DETAIL_CHARS = 500
# failures that count toward a lockout: the checks made, not the attempts refused while locked
LOCKED = "locked"


def record(engine_or_connection, event: str, user_name: str | None, address: str | None,
           detail: str | None = None, now: datetime | None = None) -> int:
    """Add one event; returns its event_id. An engine writes in a transaction of its own; a
    connection writes in the caller's (the event lands with the change it records, or neither)."""
    from pipelines import clock

    if event not in EVENTS:
        raise ValueError(f"unknown security event {event!r}: one of {', '.join(EVENTS)}")
    row = {"occurred_at": now or clock.now(), "event": event, "user_name": _cut(user_name, NAME_CHARS),
           "address": _cut(address, ADDRESS_CHARS), "detail": _cut(detail, DETAIL_CHARS)}
    statement = insert(schema.security_audit).values(**row).returning(schema.security_audit.c.event_id)
    if isinstance(engine_or_connection, Engine):
        with engine_or_connection.begin() as connection:
            return connection.execute(statement).scalar_one()
    return engine_or_connection.execute(statement).scalar_one()


def _cut(text: str | None, length: int) -> str | None:
    return None if text is None else str(text)[:length]


def cli_address() -> str:
    """The address of a command-line change: the operating-system user who ran it."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a container's user without a passwd entry
        import os

        return f"cli:uid {os.getuid()}"


def ensure_table(engine: Engine) -> None:
    """Migrate a warehouse that has no audit table yet (a first `envmon users add` on a new
    embedded warehouse); a current one is left alone."""
    from warehouse import db

    if not inspect(engine).has_table("security_audit"):
        db.migrate(engine)


def locked_until(connection, user_name: str, lockout_minutes: float, now: datetime) -> datetime | None:
    """The end of the name's lockout, if one is in force now."""
    table = schema.security_audit
    last = connection.execute(select(func.max(table.c.occurred_at)).where(
        table.c.user_name == _cut(user_name, NAME_CHARS), table.c.event == "lockout")).scalar()
    if last is None:
        return None
    until = last + timedelta(minutes=lockout_minutes)
    return until if until > now else None


def failures_in_window(connection, user_name: str, window_minutes: float, now: datetime) -> int:
    """Failed sign-ins of the name in the last window, since its last sign-in or lockout (either
    starts the count again); the attempts refused while it was locked do not count."""
    table = schema.security_audit
    name = _cut(user_name, NAME_CHARS)
    reset = connection.execute(select(func.max(table.c.occurred_at)).where(
        table.c.user_name == name, table.c.event.in_(("sign_in", "lockout")))).scalar()
    start = now - timedelta(minutes=window_minutes)
    if reset is not None:
        start = max(start, reset)
    return connection.execute(select(func.count()).where(
        table.c.user_name == name, table.c.event == "sign_in_failed", table.c.occurred_at > start,
        (table.c.detail.is_(None)) | (table.c.detail != LOCKED))).scalar_one()


def events(engine: Engine, since: datetime | None = None, limit: int | None = None,
           newest_first: bool = False) -> pd.DataFrame:
    """The events from `since` (every one without it), in the order they happened (or the newest
    first, at most `limit` of them)."""
    table = schema.security_audit
    query = select(table)
    if since is not None:
        query = query.where(table.c.occurred_at >= since)
    query = query.order_by(table.c.event_id.desc() if newest_first else table.c.event_id)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    # object columns: a missing detail, name or address stays None (never NaN)
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in table.columns], dtype=object)
