"""The cross-boundary sections' episodes in the warehouse: rebuilt from the stored assessments,
matched with the stored episodes, and each new state change recorded as a notice with its
deliveries (pipelines/alerts/episodes.py has the rules; this module reads and writes). Also the
duty officers' side: acknowledge, resolve, and the escalation of what nobody acknowledged."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Engine

from pipelines import clock
from pipelines.alerts import EpisodeNotFound
from pipelines.alerts import episodes, outbox, routing as routing_rules
from pipelines.alerts.routing import Routing
from pipelines.reference import registry
from warehouse import alert_store, db

URGENT = {"opened": True, "worsened": True, "reopened": True, "escalated": True, "resolved": False, "withdrawn": False}
# a state change this many days before the section's newest assessed day is recorded without a
# notice: a backfill or a late payload of old days tells nobody about long-past episodes
NOTIFY_WITHIN_DAYS = 45


@dataclass
class EpisodeChanges:
    opened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)
    notices: int = 0
    silent: list[str] = field(default_factory=list)   # sections told "no valid data for N days" this run

    def as_dict(self) -> dict:
        return {"episodes_opened": len(self.opened), "episodes_updated": len(self.updated),
                "episodes_resolved": len(self.resolved), "episodes_withdrawn": len(self.withdrawn),
                "notices_recorded": self.notices, "sections_silent": self.silent}


def cross_boundary_sections() -> list[str]:
    sections = registry.sections()
    return sorted(sections.index[sections["is_cross_boundary"]])


def update_episodes(engine: Engine, routing: Routing, days: list[date], data_label: str,
                    now: datetime | None = None) -> EpisodeChanges:
    """Bring the episodes of every cross-boundary section up to date with its stored assessments
    of `days` (and of the rest of their months, whose month to date they change); record a notice
    for each new state change."""
    changes = EpisodeChanges()
    if not days:
        return changes
    now = now or clock.now()
    sections = cross_boundary_sections()
    with engine.begin() as connection:
        db.partition_lock(connection, "alert_episodes")  # one rebuild at a time: read, compare, write
        refresh_day_verdicts(connection, sections, days)
        for section_id in sections:
            stored = [e for e in alert_store.episodes_of(connection, section_id) if e["status"] in ("open", "resolved")]
            anchor = episodes.anchor_day(min(days), stored)
            states = [episodes.state_from_row(r) for r in alert_store.section_days(connection, section_id, anchor)]
            if not states:
                continue
            in_window = [e for e in stored if e["resolved_on"] is None or e["resolved_on"] >= anchor]
            manual = [(e["opened_on"], e["resolved_on"]) for e in in_window if e["resolution"] == "manual"]
            rebuilt = episodes.rebuild(section_id, states, routing.resolve_after_compliant_days, manual)
            newest = alert_store.section_day_range(connection, section_id)
            horizon = newest - timedelta(days=NOTIFY_WITHIN_DAYS)
            for match in episodes.match(rebuilt, in_window):
                _apply(connection, routing, match, data_label, now, horizon, changes)
    # A day without valid data neither opens, extends nor resolves an episode (episodes.day_state);
    # a long silence is told to the operators on its own, once (issue 20).
    from pipelines.alerts import operational

    changes.silent = operational.check_silent_sections(engine, routing, sections, now)
    return changes


def refresh_day_verdicts(connection, sections: list[str], days: list[date]) -> None:
    """The day verdicts of the sections from each month's earliest day in `days` to its end: the
    day's assessment, and the month to date as of that day from the stored daily rollups."""
    first_of_month: dict[date, date] = {}
    for day in days:
        month = day.replace(day=1)
        first_of_month[month] = min(first_of_month.get(month, day), day)
    for month, first in sorted(first_of_month.items()):
        month_end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        daily = {(r["station_id"], r["period_start"]): r
                 for r in alert_store.section_assessments(connection, sections, first, month_end) if r["is_cross_boundary"]}
        if not daily:
            continue
        assessed_days = sorted({d for _, d in daily})
        rollups = alert_store.daily_rollups(connection, sections, month, assessed_days[-1])
        month_to_date = episodes.month_to_date_as_of(rollups, assessed_days)
        alert_store.replace_section_days(connection, [
            episodes.state_row(section_id, episodes.day_state(day, row, month_to_date.get((section_id, day))))
            for (section_id, day), row in sorted(daily.items())])


def _apply(connection, routing: Routing, match: episodes.Match, data_label: str, now: datetime, horizon: date,
           changes: EpisodeChanges) -> None:
    rebuilt, stored = match.rebuilt, match.stored
    if rebuilt is None:  # the failure is gone from the data: withdrawn
        alert_store.update_episode(connection, stored["episode_id"], status="withdrawn", resolution="revised",
                                   updated_at=now)
        changes.withdrawn.append(stored["episode_id"])
        told = any(n["kind"] == "opened" for n in alert_store.notices_of_episode(connection, stored["episode_id"]))
        if told:
            _notice(connection, routing, "withdrawn", {**stored, "status": "withdrawn"}, data_label, now,
                    stored["last_failed_on"], changes)
        return
    row = episodes.episode_row(rebuilt, "open" if rebuilt.is_open else "resolved")
    if stored is None:
        episode_id = alert_store.insert_episode(connection, {**row, "created_at": now, "updated_at": now})
        episode = {**row, "episode_id": episode_id}
        changes.opened.append(episode_id)
        if rebuilt.opened_on >= horizon:
            _notice(connection, routing, "opened", {**episode, "worst_class": rebuilt.opening_class}, data_label, now,
                    rebuilt.opened_on, changes)
        notified_class = rebuilt.opening_class
        was_resolved = False
    else:
        episode_id = stored["episode_id"]
        episode = {**stored, **row}
        if episodes.differs(stored, row):
            alert_store.update_episode(connection, episode_id, **row, updated_at=now)
            changes.updated.append(episode_id)
        for other in match.merged:
            alert_store.update_episode(connection, other["episode_id"], status="merged", resolution="merged",
                                       merged_into=episode_id, updated_at=now)
            changes.updated.append(other["episode_id"])
        notices = alert_store.notices_of_episode(connection, episode_id)
        notified_class = None
        for notice in notices:
            if notice["kind"] in ("opened", "worsened", "reopened"):
                notified_class = episodes.worse(notified_class, json.loads(notice["facts"])["worst_class"])
        notified_class = notified_class or stored["worst_class"]
        was_resolved = stored["status"] == "resolved"
        if was_resolved and rebuilt.is_open and rebuilt.last_failed_on >= horizon:
            _notice(connection, routing, "reopened", episode, data_label, now, rebuilt.last_failed_on, changes,
                    key_suffix=str(stored["resolved_on"]))
    if episodes.class_rank(rebuilt.worst_class) > episodes.class_rank(notified_class) and rebuilt.last_failed_on >= horizon:
        _notice(connection, routing, "worsened", episode, data_label, now, rebuilt.worst_since, changes,
                key_suffix=rebuilt.worst_class, previous_class=notified_class)
    if not rebuilt.is_open and rebuilt.resolution == "compliant" and rebuilt.resolved_on >= horizon:
        _notice(connection, routing, "resolved", episode, data_label, now, rebuilt.resolved_on, changes,
                key_suffix=str(rebuilt.resolved_on))
        if stored is None or not was_resolved:
            changes.resolved.append(episode_id)


def facts_of(kind: str, episode: dict, routing: Routing, data_label: str, day: date, **extra) -> dict:
    def iso(value):
        return value.isoformat() if isinstance(value, date) else value

    return {"category": "section", "kind": kind, "section_id": episode["section_id"],
            "episode_id": episode["episode_id"], "opened_on": iso(episode["opened_on"]),
            "last_failed_on": iso(episode["last_failed_on"]), "resolved_on": iso(episode.get("resolved_on")),
            "resolution": episode.get("resolution"), "worst_class": episode["worst_class"],
            "target_class": episode["target_class"], "days_failed": episode["days_failed"],
            "items": json.loads(episode["failing_items"]),
            "bases": [b for b in (episode.get("bases") or "").split(";") if b],
            "day": iso(day), "data_label": data_label, "resolve_after": routing.resolve_after_compliant_days,
            "escalate_after_hours": routing.escalate_after.total_seconds() / 3600, **extra}


def _notice(connection, routing: Routing, kind: str, episode: dict, data_label: str, now: datetime, day: date,
            changes: EpisodeChanges | None, key_suffix: str | None = None, **extra) -> int | None:
    key = f"section/{episode['episode_id']}/{kind}" + (f"/{key_suffix}" if key_suffix else "")
    if "target_status" not in extra:
        status = episode_target_status(connection, episode)
        extra.update({"target_status": status} if status else {})
    recipients = routing_rules.section_recipients(routing, episode["section_id"], escalation=kind == "escalated")
    notice = {"notice_key": key, "category": "section", "kind": kind, "episode_id": episode["episode_id"],
              "subject_id": episode["section_id"], "is_urgent": URGENT[kind], "effective_on": day,
              "facts": json.dumps(facts_of(kind, episode, routing, data_label, day, **extra), ensure_ascii=False)}
    notice_id = outbox.record(connection, routing, notice, recipients, now)
    if notice_id is not None and changes is not None:
        changes.notices += 1
    return notice_id


def episode_target_status(connection, episode: dict) -> str | None:
    """What the target the episode's days were judged against rests on (issue 23): 'assumed' where
    any of its assessed days was judged against an assumed target, else that of its days ('official');
    a day stored before target_status was recorded tells the registry's status for it."""
    from sqlalchemy import select

    from pipelines import target_status
    from warehouse import schema

    a = schema.assessments
    rows = connection.execute(select(a.c.period_start, a.c.target_status).where(
        a.c.station_id == episode["section_id"], a.c.period == "day", a.c.status == "assessed",
        a.c.period_start >= episode["opened_on"], a.c.period_start <= episode["last_failed_on"])).all()
    statuses = {status or target_status.registry_status(episode["section_id"], day) for day, status in rows}
    for status in ("assumed", "unset", "official"):
        if status in statuses:
            return status
    return None


def _data_label(connection, episode_id: int) -> str:
    for notice in alert_store.notices_of_episode(connection, episode_id):
        return json.loads(notice["facts"]).get("data_label", "")
    return ""


def escalate_due(engine: Engine, routing: Routing, now: datetime | None = None) -> list[int]:
    """Open episodes nobody acknowledged within `escalate_after` of their first notice go to the
    regional bureau, once."""
    now = now or clock.now()
    escalated = []
    with engine.begin() as connection:
        db.partition_lock(connection, "alert_episodes")
        for episode in alert_store.open_episodes(connection):
            if episode["acknowledged_at"] is not None or episode["escalated_at"] is not None:
                continue
            notices = alert_store.notices_of_episode(connection, episode["episode_id"])
            first = next((n for n in notices if n["kind"] in ("opened", "reopened")), None)
            if first is None or now - first["created_at"] < routing.escalate_after:
                continue
            label = json.loads(first["facts"]).get("data_label", "")
            _notice(connection, routing, "escalated", episode, label, now, episode["last_failed_on"], None,
                    hours_unacknowledged=(now - first["created_at"]).total_seconds() / 3600)
            alert_store.update_episode(connection, episode["episode_id"], escalated_at=now)
            escalated.append(episode["episode_id"])
    return escalated


def acknowledge(engine: Engine, episode_id: int, who: str, comment: str | None = None,
                now: datetime | None = None) -> dict:
    """A duty officer has seen the episode: recorded with who, when and why (the audit trail);
    the first acknowledgement stops its escalation. The dashboard calls this too."""
    if not who or not who.strip():
        raise ValueError("an acknowledgement needs the name of who acknowledges")
    now = now or clock.now()
    with engine.begin() as connection:
        db.partition_lock(connection, "alert_episodes")
        episode = alert_store.episode(connection, episode_id)
        if episode is None:
            raise EpisodeNotFound(f"no alert episode {episode_id}")
        alert_store.insert_action(connection, {"episode_id": episode_id, "action": "acknowledge", "actor": who.strip(),
                                               "acted_at": now, "comment": comment})
        if episode["acknowledged_at"] is None:
            alert_store.update_episode(connection, episode_id, acknowledged_at=now, acknowledged_by=who.strip())
        return alert_store.episode(connection, episode_id)


def resolve(engine: Engine, routing: Routing, episode_id: int, who: str, comment: str | None = None,
            now: datetime | None = None) -> dict:
    """A duty officer closes an open episode: it ends on the last day assessed so far, its
    bureaus are told (a notice, with who and why), and a failure after that day opens a new one."""
    if not who or not who.strip():
        raise ValueError("a resolution needs the name of who resolves")
    now = now or clock.now()
    with engine.begin() as connection:
        db.partition_lock(connection, "alert_episodes")
        episode = alert_store.episode(connection, episode_id)
        if episode is None:
            raise EpisodeNotFound(f"no alert episode {episode_id}")
        if episode["status"] != "open":
            raise ValueError(f"episode {episode_id} is {episode['status']}, not open")
        last_day = max(episode["last_failed_on"], alert_store.section_day_range(connection, episode["section_id"])
                       or episode["last_failed_on"])
        values = {"status": "resolved", "resolved_on": last_day, "resolution": "manual", "updated_at": now}
        alert_store.update_episode(connection, episode_id, **values)
        alert_store.insert_action(connection, {"episode_id": episode_id, "action": "resolve", "actor": who.strip(),
                                               "acted_at": now, "comment": comment})
        episode = {**episode, **values}
        _notice(connection, routing, "resolved", episode, _data_label(connection, episode_id), now, last_day, None,
                key_suffix=str(last_day), actor=who.strip(), comment=comment)
        return episode
