"""The reads behind envmon's Prometheus metrics (pipelines/operations/metrics.py), made at every
scrape: each is a small aggregate over an indexed column, so a scrape stays cheap however many
years the warehouse holds (README "Operating: watching it" gives the time of one)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine, and_, case, func, select

from warehouse import schema
from warehouse.queries import ASSESSED

# the outbox's deliveries that have not reached anyone yet (pipelines/alerts/health.py says the same)
UNSENT = ("pending", "sending", "held", "failed")


def newest_observation_by_source(engine: Engine) -> dict[str, datetime]:
    """Each source's newest observation: its watermark where it has one (the real sources), else the
    newest row of the newest day its partition log records (the simulated sources)."""
    w, log, o = schema.watermarks, schema.partition_log, schema.observations
    with engine.connect() as connection:
        newest = dict(connection.execute(select(w.c.source, w.c.last_observed_at)).all())
        days = connection.execute(select(log.c.source, func.max(log.c.partition_day)).group_by(log.c.source)).all()
        for source, day in days:
            if source in newest:
                continue
            at = connection.execute(select(func.max(o.c.observed_at)).where(
                o.c.source == source, o.c.partition_day == day)).scalar()
            if at is not None:
                newest[source] = _utc(at, engine)
    return newest


def cross_boundary_sections(engine: Engine) -> list[dict]:
    """The cross-boundary sections with their newest observation holding a value (None: none yet)
    and their latest assessed day. The newest day is found on the observations' key (station,
    day), then its newest time in that one day."""
    s, o, a = schema.stations, schema.observations, schema.assessments
    with engine.connect() as connection:
        sections = connection.execute(select(s.c.station_id, s.c.name_zh).where(s.c.is_cross_boundary.is_(True))
                                      .order_by(s.c.station_id)).all()
        assessed = dict(connection.execute(
            select(a.c.station_id, func.max(a.c.period_start))
            .where(a.c.period == "day", a.c.status == ASSESSED, a.c.is_cross_boundary.is_(True))
            .group_by(a.c.station_id)).all())
        out = []
        for section_id, name in sections:
            with_value = and_(o.c.station_id == section_id, o.c.value.is_not(None))
            day = connection.execute(select(func.max(o.c.partition_day)).where(with_value)).scalar()
            newest = None if day is None else connection.execute(
                select(func.max(o.c.observed_at)).where(with_value, o.c.partition_day == day)).scalar()
            out.append({"section_id": section_id, "name": name, "newest_observation": _utc(newest, engine),
                        "latest_assessed_day": assessed.get(section_id)})
    return out


def latest_assessed_day_by_domain(engine: Engine) -> dict[str, date]:
    a = schema.assessments
    query = (select(a.c.domain, func.max(a.c.period_start)).where(a.c.period == "day", a.c.status == ASSESSED)
             .group_by(a.c.domain))
    with engine.connect() as connection:
        return dict(connection.execute(query).all())


def payload_counts(engine: Engine) -> list[dict]:
    """Payloads by source and status, and how many of each a fault left unfinished (received,
    stored, or failed for a retryable reason: what `envmon ingest --resume` takes up)."""
    p = schema.payloads
    retryable = and_(p.c.status == "failed", p.c.retryable.is_(True))
    unfinished = func.sum(case((p.c.status.in_(("received", "stored")) | retryable, 1), else_=0))
    query = select(p.c.source, p.c.status, func.count(), unfinished).group_by(p.c.source, p.c.status)
    with engine.connect() as connection:
        return [{"source": source, "status": status, "payloads": int(count), "unfinished": int(left or 0)}
                for source, status, count, left in connection.execute(query).all()]


def rows_read_and_quarantined(engine: Engine, first: date) -> dict[str, tuple[int, int]]:
    """Per source, values read and quarantined on the days from `first` on (the partition log)."""
    log = schema.partition_log
    query = (select(log.c.source, func.sum(log.c.rows_read), func.sum(log.c.rows_quarantined))
             .where(log.c.partition_day >= first).group_by(log.c.source))
    with engine.connect() as connection:
        return {source: (int(read or 0), int(held or 0)) for source, read, held in connection.execute(query).all()}


def delivery_counts(engine: Engine) -> list[dict]:
    d = schema.alert_deliveries
    query = select(d.c.status, d.c.channel, func.count()).group_by(d.c.status, d.c.channel)
    with engine.connect() as connection:
        return [{"status": status, "channel": channel, "deliveries": int(count)}
                for status, channel, count in connection.execute(query).all()]


def unsent_deliveries(engine: Engine) -> list[dict]:
    """The deliveries not sent yet, with what their waiting time is counted from."""
    d = schema.alert_deliveries
    query = select(d.c.status, d.c.channel, d.c.attempts, d.c.not_before, d.c.created_at).where(d.c.status.in_(UNSENT))
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings().all()]


def _utc(value, engine: Engine) -> datetime | None:
    """A max() over a UtcDateTime column: SQLite hands back naive text or datetimes, PostgreSQL aware ones."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return schema.UtcDateTime().process_result_value(value, engine.dialect)
