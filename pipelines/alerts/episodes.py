"""Episodes: a cross-boundary section out of its target, from the first failed assessment until
it complies again for some days.

A section's episodes are rebuilt from what is stored, every time: its day assessments and its
month to date under the agreement's scheme as of each day (computed, as nightly.assess makes the
month row, from the stored daily rollups of the month up to that day). The rebuilt episodes are
matched with the stored ones, the stored rows are brought up to date, and only state changes that
have no notice yet get one. So re-running a day, or running it twice, notifies nobody again;
late or revised data changes the episodes as if it had come on time, and what changed is told
once (an earlier start is silent; a worse class is a notice; a failure that is gone withdraws).

The state machine over a section's days, in order (days without an assessment of their own, with
no data, insufficient data or incomplete indicators, are skipped): a failing day (the day's assessment, or the month to date, worse than its target) opens an
episode or extends it; `resolve_after` assessed days in a row without a failure resolve it, on
the last of them. A duty officer's resolution closes the episode on the last day it covered.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from pipelines.reference import standards

BASIS_DAY, BASIS_MONTH = "day", "month"


def class_rank(water_class: str | None) -> int:
    """Larger is worse, across GB 3838 (Ⅰ…劣Ⅴ) and GB 3097 (一类…劣四类) classes."""
    if not water_class:
        return 0
    if water_class in standards.SEAWATER_CLASSES:
        return standards.SEAWATER_CLASSES.index(water_class) + 1
    if water_class == standards.SEAWATER_WORST:
        return len(standards.SEAWATER_CLASSES) + 1
    return standards.surface_class_rank(water_class)


def worse(a: str | None, b: str | None) -> str | None:
    return b if class_rank(b) > class_rank(a) else a


@dataclass
class DayState:
    day: date
    assessed: bool
    failing: bool
    worst_class: str | None = None
    target_class: str | None = None
    items: list[dict] = field(default_factory=list)   # failing parameters, each with its basis
    bases: tuple[str, ...] = ()


def _verdict(row: dict | None) -> tuple[bool, bool]:
    """(assessed, failing) of an assessment row."""
    if not row or row.get("status") != "assessed" or row.get("is_compliant") is None:
        return False, False
    return True, row["is_compliant"] is False


def day_state(day: date, daily: dict | None, month_to_date: dict | None) -> DayState:
    """A day with valid data of its own ('assessed') is failing when the day or the month to date
    fails. A day without (no data, insufficient data, indicators incomplete) is not assessed: it
    neither opens nor extends an episode, nor counts as a compliant day towards resolving one,
    whatever the month to date (made of earlier days) says (issues 20 and 21)."""
    state = DayState(day, False, False)
    if not _verdict(daily)[0]:
        return state
    for basis, row in ((BASIS_DAY, daily), (BASIS_MONTH, month_to_date)):
        assessed, failing = _verdict(row)
        state.assessed |= assessed
        if not failing:
            continue
        state.failing = True
        state.worst_class = worse(state.worst_class, row["water_class"])
        state.target_class = state.target_class or row["target_class"]
        state.bases += (basis,)
        for item in json.loads(row["failing_parameters"] or "[]"):
            state.items.append({**item, "basis": basis, "day": day.isoformat()})
    return state


@dataclass
class Episode:
    """One episode as the assessments show it (rebuilt, not yet matched with a stored one)."""
    section_id: str
    opened_on: date
    opening_class: str
    worst_class: str
    target_class: str | None
    last_failed_on: date
    days_failed: int = 1
    items: dict = field(default_factory=dict)          # parameter → its worst failing item
    bases: set = field(default_factory=set)
    resolved_on: date | None = None
    resolution: str | None = None
    worst_since: date | None = None                    # the day the worst class was first reached

    @property
    def is_open(self) -> bool:
        return self.resolved_on is None

    def add_failure(self, state: DayState) -> None:
        if self.worst_since is None or class_rank(state.worst_class) > class_rank(self.worst_class):
            self.worst_since = state.day
        self.worst_class = worse(self.worst_class, state.worst_class)
        self.last_failed_on = state.day
        self.days_failed += 1
        self.bases |= set(state.bases)
        for item in state.items:
            held = self.items.get(item["parameter"])
            if held is None or _item_severity(item) > _item_severity(held):
                self.items[item["parameter"]] = item

    def items_list(self) -> list[dict]:
        return sorted(self.items.values(), key=_item_severity, reverse=True)


def _item_severity(item: dict) -> tuple:
    return (class_rank(item.get("class")), item.get("multiple_vs_target") or 0.0)


def rebuild(section_id: str, states: list[DayState], resolve_after: int,
            manual_closes: list[tuple[date, date]] = ()) -> list[Episode]:
    """The section's episodes over its day states (sorted by day). `manual_closes`: (opened_on,
    resolved_on) of episodes a duty officer resolved; such an episode ends on its resolved_on and a
    failure after it opens a new one."""
    episodes: list[Episode] = []
    current: Episode | None = None
    compliant_run = 0

    def manual_close(before: date) -> date | None:
        return next((end for start, end in manual_closes
                     if end < before and overlaps((start, end), (current.opened_on, current.last_failed_on))), None)

    for state in states:
        if current is not None and (end := manual_close(state.day)) is not None:
            current.resolved_on, current.resolution = end, "manual"
            current, compliant_run = None, 0
        if state.failing:
            compliant_run = 0
            if current is None:
                current = Episode(section_id, state.day, state.worst_class, state.worst_class, state.target_class,
                                  state.day, days_failed=0)
                episodes.append(current)
            current.add_failure(state)
        elif state.assessed and current is not None:
            compliant_run += 1
            if compliant_run >= resolve_after:
                current.resolved_on, current.resolution = state.day, "compliant"
                current, compliant_run = None, 0
    if current is not None and (end := manual_close(date.max)) is not None:
        current.resolved_on, current.resolution = end, "manual"
    return episodes


def month_to_date_as_of(daily_rollups: pd.DataFrame, days: list[date]) -> dict[tuple[str, date], dict]:
    """The month-to-date cross-boundary rows as of each of `days`, from the daily rollups of each
    day's month up to that day, with the functions nightly.assess makes the stored month row with."""
    from pipelines.assessment import cross_boundary, rollups

    out: dict[tuple[str, date], dict] = {}
    if daily_rollups.empty:
        return out
    for day in sorted(set(days)):
        month_start = day.replace(day=1)
        upto = daily_rollups[(daily_rollups["period_start"] >= month_start) & (daily_rollups["period_start"] <= day)]
        if upto.empty:
            continue
        for row in cross_boundary.month_to_date_rows(rollups.monthly(upto, month_start), month_start):
            out[(row["station_id"], day)] = row
    return out


# --- matching rebuilt episodes with stored ones ------------------------------------------------

def _span(start: date, end: date | None) -> tuple[date, date]:
    return start, end or date.max


def overlaps(a: tuple[date, date | None], b: tuple[date, date | None]) -> bool:
    (a0, a1), (b0, b1) = _span(*a), _span(*b)
    return a0 <= b1 and b0 <= a1


@dataclass
class Match:
    rebuilt: Episode | None                  # None: the stored episode is gone (withdrawn)
    stored: dict | None                      # None: a new episode
    merged: list[dict] = field(default_factory=list)   # stored episodes this one now covers too


def match(rebuilt: list[Episode], stored: list[dict]) -> list[Match]:
    """Each rebuilt episode with the earliest stored episode it overlaps; stored episodes that
    overlap none are withdrawn, and those overlapping one already taken are merged into it."""
    taken: set[int] = set()
    matches = []
    for episode in rebuilt:
        span = (episode.opened_on, episode.resolved_on)
        candidates = [s for s in stored if s["episode_id"] not in taken and overlaps(span, (s["opened_on"], s["resolved_on"]))]
        if not candidates:
            matches.append(Match(episode, None))
            continue
        first, *rest = sorted(candidates, key=lambda s: (s["opened_on"], s["episode_id"]))
        taken |= {s["episode_id"] for s in candidates}
        matches.append(Match(episode, first, rest))
    matches += [Match(None, s) for s in stored if s["episode_id"] not in taken]
    return matches


def anchor_day(first_day: date, stored: list[dict]) -> date:
    """Where a section's rebuild starts: the earliest day to look at, moved back to the day an
    episode began while one reaches across it. No episode is open there, so a rebuild from there
    equals one from the very beginning (the day verdicts before it are unchanged)."""
    anchor = first_day
    moved = True
    while moved:
        moved = False
        for s in stored:
            if s["opened_on"] < anchor and (s["resolved_on"] is None or s["resolved_on"] >= anchor):
                anchor, moved = s["opened_on"], True
    return anchor


def state_row(section_id: str, state: DayState) -> dict:
    return {"section_id": section_id, "day": state.day, "is_assessed": state.assessed, "is_failing": state.failing,
            "worst_class": state.worst_class, "target_class": state.target_class,
            "failing_items": json.dumps(state.items, ensure_ascii=False, sort_keys=True), "bases": ";".join(state.bases)}


def state_from_row(row: dict) -> DayState:
    return DayState(row["day"], bool(row["is_assessed"]), bool(row["is_failing"]), row["worst_class"],
                    row["target_class"], json.loads(row["failing_items"]),
                    tuple(b for b in row["bases"].split(";") if b))


def episode_row(episode: Episode, status: str) -> dict:
    return {"section_id": episode.section_id, "status": status, "opened_on": episode.opened_on,
            "last_failed_on": episode.last_failed_on, "resolved_on": episode.resolved_on,
            "resolution": episode.resolution, "worst_class": episode.worst_class,
            "target_class": episode.target_class,
            "failing_items": json.dumps(episode.items_list(), ensure_ascii=False, sort_keys=True),
            "days_failed": episode.days_failed, "bases": ";".join(sorted(episode.bases))}


def differs(stored: dict, row: dict) -> bool:
    return any(stored.get(k) != v for k, v in row.items())
