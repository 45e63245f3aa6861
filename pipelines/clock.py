"""The bureaus' clock and the day a run processes. Light on purpose (stdlib only): the DAG files
import it when Airflow parses them.

A nightly run fires at 02:00 in Asia/Shanghai and processes the bureau day before it. Airflow 3
hands a task its logical date as a pendulum DateTime (18:00 UTC of the day before, for the 02:00
run), or none at all for a manual run triggered without one; then the run's `run_after` (the
trigger time) stands in. Day arithmetic is done on stdlib objects only: pendulum's DateTime minus
a timedelta, after `astimezone(ZoneInfo(...))`, lands on the wrong day (stack-notes, "Airflow 3
distributed on one machine").
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BUREAU_TZ = ZoneInfo("Asia/Shanghai")
NIGHTLY_RUN_TIME = time(2, 0)  # late enough for the feeds' last hours of the day before
NIGHTLY_CRON = "0 2 * * *"


def bureau_date(moment: datetime) -> date:
    """The calendar day on the bureaus' clock at an aware instant (any datetime subclass)."""
    if moment.tzinfo is None:
        raise ValueError(f"a naive time has no bureau day: {moment!r}")
    local = datetime.fromtimestamp(moment.timestamp(), BUREAU_TZ)
    return date(local.year, local.month, local.day)


def processed_day(requested: str | date | None = None, logical_date: datetime | None = None,
                  run_after: datetime | None = None) -> date:
    """The day a nightly run processes: the one asked for (`day` in the run's params), else the
    bureau day before the run's logical date, else before the time it was triggered."""
    if requested:
        return requested if isinstance(requested, date) else date.fromisoformat(str(requested))
    moment = logical_date if logical_date is not None else run_after
    if moment is None:
        raise ValueError("a run needs a requested day, a logical date or a trigger time (run_after)")
    return bureau_date(moment) - timedelta(days=1)


def nightly_run_time(day: date) -> datetime:
    """When the scheduled run that processes `day` fires: 02:00 the next morning, bureau time."""
    return datetime.combine(day + timedelta(days=1), NIGHTLY_RUN_TIME, BUREAU_TZ)


def yesterday(now: datetime | None = None) -> date:
    return bureau_date(now or datetime.now(BUREAU_TZ)) - timedelta(days=1)
