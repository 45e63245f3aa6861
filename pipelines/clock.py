"""The bureaus' clock, "now", and the day a run processes. Light on purpose (stdlib only): the DAG
files import it when Airflow parses them.

`now()` is the one answer to "what time is it" in envmon: QC's time-in-the-future test, the default
day of `envmon run`, collection and its watermarks, Data Docs retention, the time stamps of loads,
payloads, history and alerts, the dashboard's "generated". ENVMON_NOW sets it:

    ENVMON_NOW=2027-01-01T12:00:00+08:00              frozen: every call answers that instant
    ENVMON_NOW=2027-01-01T12:00:00+08:00@1798776000   running: the instant was Unix time 1798776000
                                                      on the real clock, and time runs on from it

The test suite sets the running form once for the session (tests/conftest.py), so every process it
starts (`envmon` commands, Airflow's task runners) reads the same clock, its stamps keep their
order, and no result depends on the day the suite runs. Unset in production.

A nightly run fires at 02:00 in Asia/Shanghai and processes the bureau day before it. Airflow 3
hands a task its logical date as a pendulum DateTime (18:00 UTC of the day before, for the 02:00
run), or none at all for a manual run triggered without one; then the run's `run_after` (the
trigger time) stands in. Day arithmetic is done on stdlib objects only: pendulum's DateTime minus
a timedelta, after `astimezone(ZoneInfo(...))`, lands on the wrong day (stack-notes, "Airflow 3
distributed on one machine").
"""
from __future__ import annotations

import contextlib
import os
import time as _time
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

BUREAU_TZ = ZoneInfo("Asia/Shanghai")
NIGHTLY_RUN_TIME = time(2, 0)  # late enough for the feeds' last hours of the day before
NIGHTLY_CRON = "0 2 * * *"
NOW_VARIABLE = "ENVMON_NOW"


@lru_cache(maxsize=8)
def _parse_setting(setting: str) -> tuple[datetime, float | None]:
    instant_text, _, since_text = setting.strip().partition("@")
    try:
        instant = datetime.fromisoformat(instant_text)
        since = float(since_text) if since_text else None
    except ValueError:
        raise ValueError(f"{NOW_VARIABLE} must be an ISO 8601 instant with its offset, optionally followed by "
                         f"@<Unix time of the real clock at that instant>, not {setting!r}") from None
    if instant.tzinfo is None:
        raise ValueError(f"{NOW_VARIABLE} needs a UTC offset (e.g. +08:00): {setting!r}")
    return instant.astimezone(timezone.utc), since


def now() -> datetime:
    """The current instant, aware, in UTC: the real clock unless ENVMON_NOW sets another."""
    setting = os.environ.get(NOW_VARIABLE)
    if not setting:
        return datetime.now(timezone.utc)
    instant, since = _parse_setting(setting)
    return instant if since is None else instant + timedelta(seconds=_time.time() - since)


def today() -> date:
    """Today on the bureaus' clock."""
    return bureau_date(now())


def setting_for(instant: datetime, running: bool = True) -> str:
    """The ENVMON_NOW value that makes `now()` answer `instant` from this moment on (running: and
    then run on with the real clock; else frozen)."""
    if instant.tzinfo is None:
        raise ValueError(f"a naive time has no instant: {instant!r}")
    return instant.isoformat() + (f"@{_time.time():.6f}" if running else "")


@contextlib.contextmanager
def set_to(instant: datetime, running: bool = True):
    """`now()` answers `instant` inside the block, in this process and in those it starts."""
    saved = os.environ.get(NOW_VARIABLE)
    os.environ[NOW_VARIABLE] = setting_for(instant, running)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(NOW_VARIABLE, None)
        else:
            os.environ[NOW_VARIABLE] = saved


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


def yesterday(moment: datetime | None = None) -> date:
    """The bureau day before `moment` (default: now): the day `envmon run` processes by default."""
    return bureau_date(moment or now()) - timedelta(days=1)
