"""The read-only queries of the bureaus' dashboard app (dashboards/app): stored rollups,
assessments, alerts and the ingest log, never the raw observations (one section's quarantined
readings excepted) and never a write. Each returns a DataFrame; `station_ids` limits the rows to
the stations a user may see (None: all), so that the limit is applied in SQL, not after it.

Every function works on PostgreSQL (production: the read-only role envmon_dashboard) and SQLite.
"""
from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import Engine, case, func, literal, select

from warehouse import schema

ASSESSED = "assessed"
TARGET_UNSET = "target unset"   # classed, without a target to judge it against (issue 23)


def _frame(engine: Engine, query, columns=None) -> pd.DataFrame:
    with engine.connect() as connection:
        result = connection.execute(query)
        rows = result.mappings().all()
        return pd.DataFrame(rows, columns=columns or list(result.keys()))


def _limit(query, column, station_ids):
    if station_ids is None:
        return query
    return query.where(column.in_(sorted(station_ids)))


STATION_COLUMNS = ["station_id", "name_zh", "station_type", "water_body", "city", "county", "longitude", "latitude",
                   "target_class", "is_cross_boundary", "boundary_kind", "upstream_jurisdiction",
                   "downstream_jurisdiction", "responsible_bureaus", "assumptions"]


def stations(engine: Engine) -> pd.DataFrame:
    """The registry as the warehouse holds it (sections, coastal points, air stations)."""
    table = schema.stations
    return _frame(engine, select(*(table.c[c] for c in STATION_COLUMNS)).order_by(table.c.station_id), STATION_COLUMNS)


def latest_assessed_day(engine: Engine, domain: str, station_ids=None, period: str = "day") -> date | None:
    """The newest day that holds at least one assessed row of `domain`: a day whose rows all say
    'insufficient data' (a quarantined reading's fallback day, a feed that was down) is never it."""
    a = schema.assessments
    query = _limit(select(func.max(a.c.period_start)).where(
        a.c.period == period, a.c.domain == domain, a.c.status == ASSESSED), a.c.station_id, station_ids)
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def assessed_day_range(engine: Engine, station_ids=None) -> tuple[date | None, date | None]:
    """The first and last day with an assessed daily row of any domain."""
    a = schema.assessments
    query = _limit(select(func.min(a.c.period_start), func.max(a.c.period_start)).where(
        a.c.period == "day", a.c.status == ASSESSED), a.c.station_id, station_ids)
    with engine.connect() as connection:
        first, last = connection.execute(query).one()
    return first, last


# the columns the app reads, named: a column a later migration adds changes nothing here
ASSESSMENT_COLUMNS = ["station_id", "period", "period_start", "domain", "standard", "water_class", "target_class",
                      "is_compliant", "grade", "indicators_assessed", "failing_parameters", "values_used",
                      "is_cross_boundary", "status", "aqi", "primary_pollutants", "target_status"]


def latest_assessments(engine: Engine, domain: str, as_of: date, station_ids=None, lookback_days: int = 31) -> pd.DataFrame:
    """Each station's newest assessed daily row of `domain` on or before `as_of`, no older than
    `lookback_days` (a section silent for longer shows no class rather than a stale one). A day
    classed without a target (status 'target unset', issue 23) is one: its class is shown, its
    verdict reads 目标未定."""
    a = schema.assessments
    first = date.fromordinal(as_of.toordinal() - lookback_days)
    ranked = _limit(select(*(a.c[c] for c in ASSESSMENT_COLUMNS), func.row_number().over(
        partition_by=a.c.station_id, order_by=a.c.period_start.desc()).label("newest")).where(
        a.c.period == "day", a.c.domain == domain, a.c.status.in_((ASSESSED, TARGET_UNSET)),
        a.c.period_start >= first, a.c.period_start <= as_of), a.c.station_id, station_ids).subquery()
    query = select(*(ranked.c[c] for c in ASSESSMENT_COLUMNS)).where(ranked.c.newest == 1)
    return _with_target_status(_frame(engine, query, ASSESSMENT_COLUMNS))


def assessments_between(engine: Engine, first: date, last: date, station_ids=None, domain: str | None = None,
                        period: str = "day", assessed_only: bool = False) -> pd.DataFrame:
    """Stored assessment rows of a period kind whose period starts between `first` and `last`."""
    a = schema.assessments
    query = select(*(a.c[c] for c in ASSESSMENT_COLUMNS)).where(
        a.c.period == period, a.c.period_start >= first, a.c.period_start <= last)
    if domain is not None:
        query = query.where(a.c.domain == domain)
    if assessed_only:
        query = query.where(a.c.status == ASSESSED)
    query = _limit(query, a.c.station_id, station_ids).order_by(a.c.station_id, a.c.period_start)
    return _with_target_status(_frame(engine, query, ASSESSMENT_COLUMNS))


def _with_target_status(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows from before target_status was stored (NULL) told with the registry's status of the
    target in force that day (pipelines/target_status.py): never passed off as official."""
    from pipelines import target_status

    return target_status.filled(frame)


def air_day_counts(engine: Engine, first: date, last: date, station_ids=None) -> pd.DataFrame:
    """Per air station: assessed days between `first` and `last` and those with AQI ≤ 100 (优良),
    counted in SQL (a year of rows need not travel)."""
    a = schema.assessments
    good = func.sum(case((a.c.aqi <= 100, 1), else_=0))
    query = _limit(select(a.c.station_id, func.count().label("days_assessed"), good.label("days_good")).where(
        a.c.period == "day", a.c.domain == "air", a.c.status == ASSESSED,
        a.c.period_start >= first, a.c.period_start <= last), a.c.station_id, station_ids).group_by(a.c.station_id)
    return _frame(engine, query, ["station_id", "days_assessed", "days_good"])


ROLLUP_COLUMNS = ["station_id", "parameter", "averaging_period", "period", "period_start", "mean", "minimum",
                  "maximum", "values_assessable", "values_flagged", "values_censored", "days_with_data",
                  "detection_limit", "reported_mean", "censoring_method"]


def rollup_series(engine: Engine, station_ids, first: date, last: date, parameters=None,
                  period: str = "day") -> pd.DataFrame:
    """Daily (or monthly) rollups of stations between two days: mean, min, max, the counts of values
    used, flagged and censored, and the mean as reported ('< limit' below the detection limit)."""
    r = schema.rollups
    query = select(*(r.c[c] for c in ROLLUP_COLUMNS)).where(
        r.c.period == period, r.c.period_start >= first, r.c.period_start <= last)
    if parameters is not None:
        query = query.where(r.c.parameter.in_(list(parameters)))
    query = _limit(query, r.c.station_id, station_ids).order_by(r.c.station_id, r.c.parameter, r.c.period_start)
    return _frame(engine, query, ROLLUP_COLUMNS)


def parameters(engine: Engine) -> pd.DataFrame:
    table = schema.parameters
    columns = ["code", "name_zh", "name_en", "unit"]
    return _frame(engine, select(*(table.c[c] for c in columns)), columns)


QUARANTINE_COLUMNS = ["source", "partition_day", "station_id", "parameter", "observed_at", "value",
                      "original_value", "expectation", "reason"]


def quarantined_readings(engine: Engine, station_id: str, first: date, last: date) -> pd.DataFrame:
    """One station's quarantined readings between two days, each with its rule and reason."""
    q = schema.quarantine
    query = (select(*(q.c[c] for c in QUARANTINE_COLUMNS))
             .where(q.c.station_id == station_id, q.c.partition_day >= first, q.c.partition_day <= last)
             .order_by(q.c.partition_day, q.c.observed_at))
    return _frame(engine, query, QUARANTINE_COLUMNS)


def quarantine_summary(engine: Engine, first: date, last: date, station_ids=None) -> pd.DataFrame:
    """Quarantined rows per source, night and rule, with one reason as the rule wrote it."""
    q = schema.quarantine
    query = (select(q.c.source, q.c.partition_day, q.c.expectation, func.count().label("rows"),
                    func.min(q.c.reason).label("reason"))
             .where(q.c.partition_day >= first, q.c.partition_day <= last))
    if station_ids is not None:
        # rows without a station (a payload row that named none) are shown to regional users only
        query = query.where(q.c.station_id.in_(sorted(station_ids)))
    query = query.group_by(q.c.source, q.c.partition_day, q.c.expectation).order_by(
        q.c.partition_day.desc(), q.c.source, q.c.expectation)
    return _frame(engine, query, ["source", "partition_day", "expectation", "rows", "reason"])


PARTITION_LOG_COLUMNS = ["source", "partition_day", "domain", "batch_id", "rows_read", "rows_loaded",
                         "rows_quarantined", "suite_name", "loaded_at"]


def ingest_log(engine: Engine, first: date, last: date) -> pd.DataFrame:
    """The partition log: per source and night, rows read, loaded and quarantined, and when."""
    log = schema.partition_log
    query = (select(*(log.c[c] for c in PARTITION_LOG_COLUMNS)).where(log.c.partition_day >= first, log.c.partition_day <= last)
             .order_by(log.c.partition_day.desc(), log.c.source))
    return _frame(engine, query, PARTITION_LOG_COLUMNS)


def sources_between(engine: Engine, first: date, last: date) -> list[str]:
    """The sources whose partitions hold the days shown: what 'simulated' or 'measured' rests on."""
    log = schema.partition_log
    query = (select(log.c.source).where(log.c.partition_day >= first, log.c.partition_day <= last,
                                        log.c.rows_loaded > 0).distinct())
    with engine.connect() as connection:
        return sorted(connection.execute(query).scalars().all())


PAYLOAD_COLUMNS = ["payload_id", "source", "received_at", "fetched_at", "origin", "status", "error", "rows_read",
                   "rows_loaded", "rows_quarantined", "rows_out_of_scope"]


def payloads(engine: Engine, limit: int = 200) -> pd.DataFrame:
    """The newest payloads of the real sources, as logged (status, counts, error)."""
    p = schema.payloads
    query = select(*(p.c[c] for c in PAYLOAD_COLUMNS)).order_by(p.c.payload_id.desc()).limit(limit)
    return _frame(engine, query, PAYLOAD_COLUMNS)


PUBLISHED_COLUMNS = ["source", "station_id", "observed_at", "published_class", "envmon_class", "published_aqi",
                     "envmon_aqi", "agrees", "published_name", "station_status"]


def published_results(engine: Engine, station_id: str, first_at, last_at) -> pd.DataFrame:
    """What a feed published for a station (class, AQI) beside envmon's own from the same values."""
    p = schema.published_results
    query = (select(*(p.c[c] for c in PUBLISHED_COLUMNS))
             .where(p.c.station_id == station_id, p.c.observed_at >= first_at, p.c.observed_at < last_at)
             .order_by(p.c.observed_at))
    return _frame(engine, query, PUBLISHED_COLUMNS)


ALERT_COLUMNS = ["alert_id", "alert_key", "station_id", "period", "period_start", "raised_at", "recipients", "subject",
                 "delivery_status", "delivery_detail", "sent_at", "attempts"]


def alerts(engine: Engine, station_ids=None, first: date | None = None, last: date | None = None) -> pd.DataFrame:
    """Alerts raised (newest first), with their delivery state."""
    table = schema.alerts
    query = select(*(table.c[c] for c in ALERT_COLUMNS))
    if first is not None:
        query = query.where(table.c.period_start >= first)
    if last is not None:
        query = query.where(table.c.period_start <= last)
    query = _limit(query, table.c.station_id, station_ids).order_by(table.c.raised_at.desc(), table.c.alert_id.desc())
    return _frame(engine, query, ALERT_COLUMNS)


def latest_alerts(engine: Engine, station_ids=None) -> pd.DataFrame:
    """Each station's newest alert."""
    table = schema.alerts
    ranked = _limit(select(*(table.c[c] for c in ALERT_COLUMNS), func.row_number().over(
        partition_by=table.c.station_id, order_by=(table.c.period_start.desc(), table.c.alert_id.desc())
    ).label("newest")), table.c.station_id, station_ids).subquery()
    query = select(*(ranked.c[c] for c in ALERT_COLUMNS)).where(ranked.c.newest == literal(1))
    return _frame(engine, query, ALERT_COLUMNS)


def data_version(engine: Engine) -> tuple:
    """What changes when the data the app shows do, read in one statement from indexes (a few ms):
    the newest partition load and the partitions' count (a night loaded or re-loaded, an ingest),
    the newest payload and alert, the newest superseded assessment (a reassessment under other
    rules), where the warehouse has alert episodes the newest change of an episode and the
    newest action on one (the nightly alert step, an acknowledgement), and where it has a versioned
    registry its newest version (a section adopted, a bureau's list imported)."""
    from sqlalchemy import column, table
    from sqlalchemy.exc import DBAPIError

    log, p, a, h = schema.partition_log, schema.payloads, schema.alerts, schema.assessment_history
    parts = [func.max(log.c.loaded_at), func.count(log.c.source), select(func.max(p.c.payload_id)).scalar_subquery(),
             select(func.max(a.c.alert_id)).scalar_subquery(), select(func.max(h.c.history_id)).scalar_subquery()]
    episodes = table("alert_episodes", column("updated_at"))
    actions = table("alert_actions", column("action_id"))
    alerting = [select(func.max(episodes.c.updated_at)).scalar_subquery(),
                select(func.max(actions.c.action_id)).scalar_subquery()]
    registry = [select(func.max(table("registry_versions", column("version_id")).c.version_id)).scalar_subquery()]
    # the newest warehouse first; then one from before the registry (0016), before alert episodes (0010)
    for later in ([*alerting, *registry], alerting):
        try:
            with engine.connect() as connection:
                return tuple(connection.execute(select(*parts, *later)).one())
        except DBAPIError:
            continue
    with engine.connect() as connection:
        return tuple(connection.execute(select(*parts)).one())


def air_annual_statistics(engine: Engine, year: int | None = None, site_ids=None) -> pd.DataFrame:
    """The stored HJ 663 annual statistics (warehouse/air_annual_store.py) of `site_ids` (station
    ids and city names); none in a warehouse from before migration 0015."""
    from warehouse import air_annual_store

    if not has_table(engine, "air_annual_statistics"):
        return pd.DataFrame(columns=air_annual_store.COLUMNS)
    return air_annual_store.annual_statistics(engine, year, site_ids=site_ids)


def table_names(engine: Engine) -> set[str]:
    """The tables the warehouse holds (what a later migration has added, e.g. alert episodes)."""
    from sqlalchemy import inspect

    return set(inspect(engine).get_table_names())


_PRESENT: set[tuple[str, str]] = set()  # (warehouse, table) seen: a migration adds tables, none drops them


def has_table(engine: Engine, name: str) -> bool:
    """Whether the warehouse holds a table, asked of the catalogue until it does (then remembered:
    the Alerts page asked it twice per request, a catalogue query each time)."""
    key = (engine.url.render_as_string(hide_password=True), name)
    if key not in _PRESENT and name in table_names(engine):
        _PRESENT.add(key)
    return key in _PRESENT


def month_bounds(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, date.fromordinal(following.toordinal() - 1)



# --- alert episodes (migration 0010, issue 13), where the warehouse has them ----------------------
# Named here with lightweight table constructs, so these queries do not depend on the declared
# schema of a table another part owns; a warehouse without the tables answers with no rows.
EPISODE_COLUMNS = ["episode_id", "section_id", "status", "opened_on", "last_failed_on", "resolved_on", "resolution",
                   "worst_class", "target_class", "failing_items", "days_failed", "bases", "acknowledged_at",
                   "acknowledged_by", "escalated_at"]
ACTION_COLUMNS = ["action_id", "episode_id", "action", "actor", "acted_at", "comment"]


def has_alert_episodes(engine: Engine) -> bool:
    return has_table(engine, "alert_episodes")


def alert_episodes(engine: Engine, station_ids=None, first: date | None = None, last: date | None = None) -> pd.DataFrame:
    """Episodes of sections out of their target that overlap [first, last], newest first."""
    from sqlalchemy import column, or_, table

    if not has_alert_episodes(engine):
        return pd.DataFrame(columns=EPISODE_COLUMNS)
    episodes = table("alert_episodes", *(column(c) for c in EPISODE_COLUMNS))
    query = select(*episodes.c)
    if last is not None:
        query = query.where(episodes.c.opened_on <= last)
    if first is not None:
        query = query.where(or_(episodes.c.resolved_on.is_(None), episodes.c.resolved_on >= first))
    query = _limit(query, episodes.c.section_id, station_ids).order_by(episodes.c.opened_on.desc(),
                                                                       episodes.c.episode_id.desc())
    return _frame(engine, query, EPISODE_COLUMNS)


def alert_actions(engine: Engine, episode_ids) -> pd.DataFrame:
    """The audit trail of episodes: who acknowledged or resolved them, when, and why."""
    from sqlalchemy import column, table

    if not episode_ids or not has_table(engine, "alert_actions"):
        return pd.DataFrame(columns=ACTION_COLUMNS)
    actions = table("alert_actions", *(column(c) for c in ACTION_COLUMNS))
    query = select(*actions.c).where(actions.c.episode_id.in_([int(i) for i in episode_ids])).order_by(
        actions.c.acted_at)
    return _frame(engine, query, ACTION_COLUMNS)


def collection_gaps(engine: Engine, since=None) -> pd.DataFrame:
    """The live feeds' hours and snapshots recorded as gaps (warehouse/collection_ledger.py, issue 21)."""
    from warehouse import collection_ledger

    if not has_table(engine, "collection_ledger"):  # a warehouse not migrated to 0014 yet: none recorded
        return pd.DataFrame(columns=["source", "expected_at", "tries", "last_tried_at", "last_error"])
    return collection_ledger.gaps(engine, since)


def alert_episode(engine: Engine, episode_id: int) -> dict | None:
    """One episode by its id (what the app checks a user's right to acknowledge it against)."""
    from sqlalchemy import column, table

    if not has_alert_episodes(engine):
        return None
    episodes = table("alert_episodes", *(column(c) for c in EPISODE_COLUMNS))
    with engine.connect() as connection:
        row = connection.execute(select(*episodes.c).where(episodes.c.episode_id == int(episode_id))).mappings().first()
    return dict(row) if row else None


# --- the registry versioned in the warehouse (migration 0016, issue 23) --------------------------
# Written by warehouse/registry_store.py (imports, adoptions, the seed); read here for the app's
# Registry page. A warehouse from before 0016 answers with no rows.
REGISTRY_VERSION_COLUMNS = ["version_id", "applied_at", "applied_by", "kind", "source_document", "valid_from"]
TARGET_IN_FORCE_COLUMNS = ["section_id", "name_zh", "water_body", "city", "target_class", "status", "basis",
                           "source_document", "valid_from", "valid_to", "version_id"]
UNKNOWN_STATION_COLUMNS = ["source", "station_key", "name_zh", "city", "water_body", "first_seen_at", "last_seen_at",
                           "payloads_seen"]


def registry_versions(engine: Engine) -> pd.DataFrame:
    """Every registry version, newest first: who applied it, when, from which document."""
    if not has_table(engine, "registry_versions"):
        return pd.DataFrame(columns=REGISTRY_VERSION_COLUMNS)
    v = schema.registry_versions
    query = select(*(v.c[c] for c in REGISTRY_VERSION_COLUMNS)).order_by(v.c.version_id.desc())
    return _frame(engine, query, REGISTRY_VERSION_COLUMNS)


def targets_in_force(engine: Engine, day: date) -> pd.DataFrame:
    """Each registry section's target in force on `day` (not superseded, valid_from ≤ day ≤ valid_to),
    with its status; a water section or coastal point of the registry with no target row in force
    is 'unset' (never a default class). None where the warehouse holds no registry version."""
    if not has_table(engine, "section_targets") or registry_versions(engine).empty:
        return pd.DataFrame(columns=TARGET_IN_FORCE_COLUMNS)
    from sqlalchemy import or_

    t = schema.section_targets
    query = select(t.c.section_id, t.c.target_class, t.c.status, t.c.basis, t.c.source_document, t.c.valid_from,
                   t.c.valid_to, t.c.version_id).where(
        t.c.superseded_in_version.is_(None), t.c.valid_from <= day, or_(t.c.valid_to.is_(None), t.c.valid_to >= day)
    ).order_by(t.c.section_id, t.c.version_id, t.c.id)  # the newest version's row last
    in_force = _frame(engine, query).drop_duplicates("section_id", keep="last")
    sections = stations(engine)
    sections = sections[sections["station_type"] != "air"][["station_id", "name_zh", "water_body", "city"]]
    frame = sections.rename(columns={"station_id": "section_id"}).merge(in_force, on="section_id", how="outer")
    frame["status"] = frame["status"].where(frame["status"].notna(), "unset").astype(object)
    return frame[TARGET_IN_FORCE_COLUMNS].sort_values("section_id", ignore_index=True)


def unknown_stations(engine: Engine) -> pd.DataFrame:
    """The stations and sections the feeds publish that the registry lacks (warehouse/registry_drift.py)."""
    if not has_table(engine, "unknown_stations"):
        return pd.DataFrame(columns=UNKNOWN_STATION_COLUMNS)
    from warehouse import registry_drift

    return registry_drift.unknown_stations(engine)[UNKNOWN_STATION_COLUMNS]
