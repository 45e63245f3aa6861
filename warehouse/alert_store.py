"""The alert tables' reads and writes (pipelines/alerts): episodes, the duty officers' actions,
notices and the outbox of deliveries, plus the few reads of other tables the operational checks
make. Kept apart from db.py so that the alerts' SQL is in one place."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from warehouse import schema

E, A, N, D = schema.alert_episodes, schema.alert_actions, schema.alert_notices, schema.alert_deliveries


# --- reads for the episodes ------------------------------------------------------------------

def section_assessments(connection: Connection, section_ids, first: date | None, last: date | None = None) -> list[dict]:
    """The day assessments of these sections from `first` on (every day when None) to `last`."""
    a = schema.assessments
    query = select(a).where(a.c.period == "day", a.c.station_id.in_(list(section_ids)))
    if first is not None:
        query = query.where(a.c.period_start >= first)
    if last is not None:
        query = query.where(a.c.period_start <= last)
    return [dict(row) for row in connection.execute(query.order_by(a.c.period_start)).mappings().all()]


def daily_rollups(connection: Connection, station_ids, first: date, last: date) -> pd.DataFrame:
    r = schema.rollups
    query = select(r).where(r.c.period == "day", r.c.station_id.in_(list(station_ids)),
                            r.c.period_start >= first, r.c.period_start <= last)
    return pd.DataFrame(connection.execute(query).mappings().all(), columns=[c.name for c in r.c])


def episodes_of(connection: Connection, section_id: str) -> list[dict]:
    query = select(E).where(E.c.section_id == section_id).order_by(E.c.opened_on, E.c.episode_id)
    return [dict(row) for row in connection.execute(query).mappings().all()]


def episode(connection: Connection, episode_id: int) -> dict | None:
    row = connection.execute(select(E).where(E.c.episode_id == episode_id)).mappings().first()
    return dict(row) if row else None


def insert_episode(connection: Connection, row: dict) -> int:
    return int(connection.execute(insert(E).returning(E.c.episode_id), [row]).scalar_one())


def update_episode(connection: Connection, episode_id: int, **values) -> None:
    connection.execute(update(E).where(E.c.episode_id == episode_id).values(**values))


def open_episodes(connection: Connection) -> list[dict]:
    query = select(E).where(E.c.status == "open").order_by(E.c.opened_on, E.c.episode_id)
    return [dict(row) for row in connection.execute(query).mappings().all()]


def list_episodes(engine: Engine, statuses=None, section_id: str | None = None) -> list[dict]:
    query = select(E).order_by(E.c.opened_on.desc(), E.c.episode_id.desc())
    if statuses:
        query = query.where(E.c.status.in_(list(statuses)))
    if section_id:
        query = query.where(E.c.section_id == section_id)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]


def episodes_changed_since(engine: Engine, since: datetime) -> list[dict]:
    query = select(E).where(E.c.updated_at >= since).order_by(E.c.section_id, E.c.opened_on)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]


# --- actions (the audit trail) ---------------------------------------------------------------

def insert_action(connection: Connection, row: dict) -> None:
    connection.execute(insert(A), [row])


def actions_of(engine: Engine, episode_id: int) -> list[dict]:
    query = select(A).where(A.c.episode_id == episode_id).order_by(A.c.acted_at, A.c.action_id)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]


# --- notices and deliveries ------------------------------------------------------------------

def notice_keys(connection: Connection, keys) -> set[str]:
    keys = list(keys)
    if not keys:
        return set()
    query = select(N.c.notice_key).where(N.c.notice_key.in_(keys))
    return set(connection.execute(query).scalars().all())


def notices_of_episode(connection: Connection, episode_id: int) -> list[dict]:
    query = select(N).where(N.c.episode_id == episode_id).order_by(N.c.notice_id)
    return [dict(row) for row in connection.execute(query).mappings().all()]


def insert_notice(connection: Connection, row: dict, deliveries: list[dict]) -> int | None:
    """The notice and its deliveries, unless a notice of the same key exists (then None). Called
    under the alerts lock, so the check and the insert are not raced."""
    if notice_keys(connection, [row["notice_key"]]):
        return None
    notice_id = int(connection.execute(insert(N).returning(N.c.notice_id), [row]).scalar_one())
    if deliveries:
        connection.execute(insert(D), [{**d, "notice_id": notice_id} for d in deliveries])
    return notice_id


def notices_since(engine: Engine, since: datetime) -> list[dict]:
    query = select(N).where(N.c.created_at >= since).order_by(N.c.notice_id)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]


def notice(connection: Connection, notice_id: int) -> dict:
    return dict(connection.execute(select(N).where(N.c.notice_id == notice_id)).mappings().one())


def due_deliveries(engine: Engine, now: datetime, lease: timedelta, include_held: bool) -> list[dict]:
    """Deliveries to attempt now: pending ones whose time has come, claims older than the lease
    (a sender that died mid-send), and, when asked, the held ones."""
    due = or_(and_(D.c.status == "pending", or_(D.c.not_before.is_(None), D.c.not_before <= now)),
              and_(D.c.status == "sending", D.c.claimed_at < now - lease))
    if include_held:
        due = or_(due, D.c.status == "held")
    query = select(D).where(due).order_by(D.c.delivery_id)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]


def claim_delivery(engine: Engine, delivery: dict, now: datetime) -> bool:
    """Take the delivery for sending; False when another sender took it first (the update is
    conditional on the state it was read in)."""
    with engine.begin() as connection:
        result = connection.execute(
            update(D).where(D.c.delivery_id == delivery["delivery_id"], D.c.status == delivery["status"],
                            D.c.attempts == delivery["attempts"])
            .values(status="sending", claimed_at=now))
        return result.rowcount == 1


def finish_delivery(engine: Engine, delivery_id: int, **values) -> None:
    with engine.begin() as connection:
        connection.execute(update(D).where(D.c.delivery_id == delivery_id).values(**values))


def requeue_failed(engine: Engine) -> int:
    with engine.begin() as connection:
        return connection.execute(update(D).where(D.c.status == "failed")
                                  .values(status="pending", attempts=0, not_before=None)).rowcount


def sent_to_target_since(engine: Engine, channel: str, target: str, since: datetime) -> list[datetime]:
    """When messages went to one robot or hook recently: its rate limit holds across workers."""
    query = select(D.c.sent_at).where(D.c.channel == channel, D.c.target == target, D.c.status == "sent",
                                      D.c.sent_at >= since).order_by(D.c.sent_at)
    with engine.connect() as connection:
        return list(connection.execute(query).scalars().all())


def deliveries(engine: Engine, statuses=None, notice_ids=None) -> list[dict]:
    query = select(D, N.c.kind, N.c.category, N.c.subject_id, N.c.episode_id, N.c.notice_key).join(
        N, N.c.notice_id == D.c.notice_id).order_by(D.c.delivery_id)
    if statuses:
        query = query.where(D.c.status.in_(list(statuses)))
    if notice_ids is not None:
        query = query.where(D.c.notice_id.in_(list(notice_ids)))
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]


def delivery_counts(engine: Engine, notice_ids) -> dict[str, int]:
    notice_ids = list(notice_ids)
    if not notice_ids:
        return {}
    query = select(D.c.status, func.count()).where(D.c.notice_id.in_(notice_ids)).group_by(D.c.status)
    with engine.connect() as connection:
        return {status: count for status, count in connection.execute(query).all()}


# --- reads of the operational checks ---------------------------------------------------------

def watermarks(engine: Engine) -> dict[str, datetime]:
    w = schema.watermarks
    with engine.connect() as connection:
        return {source: at for source, at in connection.execute(select(w.c.source, w.c.last_observed_at)).all()}


def partition_shares(engine: Engine, first: date, last: date) -> pd.DataFrame:
    """rows read and quarantined per (source, day) from the partition log."""
    log = schema.partition_log
    query = select(log.c.source, log.c.partition_day, log.c.rows_read, log.c.rows_quarantined).where(
        log.c.partition_day >= first, log.c.partition_day <= last)
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(),
                            columns=["source", "partition_day", "rows_read", "rows_quarantined"])


def published_agreement(engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """Published readings compared with envmon's own between two instants: source, time, agrees."""
    p = schema.published_results
    query = select(p.c.source, p.c.observed_at, p.c.agrees).where(
        p.c.agrees.is_not(None), p.c.observed_at >= start, p.c.observed_at < end)
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all(), columns=["source", "observed_at", "agrees"])


def latest_notice(connection: Connection, kind: str, subject_id: str) -> dict | None:
    query = select(N).where(N.c.kind == kind, N.c.subject_id == subject_id).order_by(N.c.notice_id.desc()).limit(1)
    row = connection.execute(query).mappings().first()
    return dict(row) if row else None


# --- the sections' day verdicts ---------------------------------------------------------------

SD = schema.alert_section_days


def replace_section_days(connection: Connection, rows: list[dict]) -> None:
    """Store the day verdicts of these (section, day) pairs, replacing what was there."""
    from sqlalchemy import delete, tuple_

    if not rows:
        return
    for start in range(0, len(rows), 500):
        chunk = rows[start:start + 500]
        keys = [(r["section_id"], r["day"]) for r in chunk]
        connection.execute(delete(SD).where(tuple_(SD.c.section_id, SD.c.day).in_(keys)))
        connection.execute(insert(SD), chunk)


def section_days(connection: Connection, section_id: str, first: date) -> list[dict]:
    query = select(SD).where(SD.c.section_id == section_id, SD.c.day >= first).order_by(SD.c.day)
    return [dict(row) for row in connection.execute(query).mappings().all()]


def section_day_range(connection: Connection, section_id: str) -> date | None:
    return connection.execute(select(func.max(SD.c.day)).where(SD.c.section_id == section_id)).scalar()


def assessments_of(engine: Engine, period: str, starts, section_ids) -> list[dict]:
    a = schema.assessments
    query = select(a).where(a.c.period == period, a.c.period_start.in_(list(starts)),
                            a.c.station_id.in_(list(section_ids))).order_by(a.c.period_start, a.c.station_id)
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]
