"""The day a run processes, with the objects Airflow's Task SDK really hands a task: pendulum
DateTimes in UTC (a stdlib datetime hid the bug that shifted every scheduled run by a day or two);
and "now", the one clock everything asks (pipelines.clock.now, set by ENVMON_NOW)."""
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pendulum
import pytest

from pipelines import clock
from pipelines.clock import bureau_date, nightly_run_time, processed_day

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("logical_date, expected", [
    # the 02:00 Asia/Shanghai run of 11-21 has logical date 11-20T18:00Z and processes 11-20
    (pendulum.datetime(2026, 11, 20, 18, 0, tz="UTC"), date(2026, 11, 20)),
    # the run of 12-02 02:00 (the one that assessed 11-30 before the fix)
    (pendulum.datetime(2026, 12, 1, 18, 0, tz="UTC"), date(2026, 12, 1)),
    # across a month and a year
    (pendulum.datetime(2026, 12, 31, 18, 0, tz="UTC"), date(2026, 12, 31)),
    (pendulum.datetime(2026, 2, 28, 18, 0, tz="UTC"), date(2026, 2, 28)),
    # the same instant on the bureaus' own clock, and as a stdlib datetime
    (pendulum.datetime(2026, 11, 21, 2, 0, tz="Asia/Shanghai"), date(2026, 11, 20)),
    (datetime(2026, 11, 20, 18, 0, tzinfo=timezone.utc), date(2026, 11, 20)),
])
def test_a_scheduled_run_processes_the_bureau_day_before_it(logical_date, expected):
    assert processed_day(None, logical_date) == expected


def test_a_run_just_before_bureau_midnight_in_utc_terms_still_counts_on_the_bureaus_clock():
    # 15:59Z is 23:59 in Shanghai (day D); 16:00Z is already D+1 there
    assert processed_day(None, pendulum.datetime(2026, 11, 20, 15, 59, tz="UTC")) == date(2026, 11, 19)
    assert processed_day(None, pendulum.datetime(2026, 11, 20, 16, 0, tz="UTC")) == date(2026, 11, 20)


def test_a_manual_run_without_a_logical_date_processes_the_day_before_its_trigger():
    # Airflow 3 triggers manual runs with logical_date None; run_after is when it was triggered
    triggered = pendulum.datetime(2026, 12, 2, 1, 30, tz="UTC")  # 09:30 on 12-02 in Shanghai
    assert processed_day(None, None, triggered) == date(2026, 12, 1)
    late_evening_utc = pendulum.datetime(2026, 12, 1, 17, 0, tz="UTC")  # 01:00 on 12-02 in Shanghai
    assert processed_day(None, None, late_evening_utc) == date(2026, 12, 1)


def test_a_requested_day_wins_over_the_run_dates():
    assert processed_day("2026-03-01", pendulum.datetime(2026, 11, 20, 18, tz="UTC")) == date(2026, 3, 1)


def test_a_run_with_no_date_at_all_is_a_clear_error():
    with pytest.raises(ValueError, match="run_after"):
        processed_day(None, None, None)
    with pytest.raises(ValueError, match="naive"):
        bureau_date(datetime(2026, 11, 20, 18))


def test_the_scheduled_run_of_a_day_is_the_one_that_processes_it():
    for day in (date(2026, 1, 1), date(2026, 2, 28), date(2026, 12, 31)):
        run = nightly_run_time(day)
        assert processed_day(None, pendulum.instance(run).in_timezone("UTC")) == day


# --- "now": one clock for everything that asks, set by ENVMON_NOW --------------------------------

def test_without_a_setting_now_is_the_real_clock_in_utc(monkeypatch):
    monkeypatch.delenv(clock.NOW_VARIABLE)
    before = datetime.now(timezone.utc)
    now = clock.now()
    assert before <= now <= datetime.now(timezone.utc) and now.utcoffset() == timedelta(0)


def test_a_frozen_setting_answers_its_instant_every_time(set_clock):
    set_clock(datetime(2026, 11, 21, 1, 30, tzinfo=clock.BUREAU_TZ))
    assert clock.now() == clock.now() == datetime(2026, 11, 20, 17, 30, tzinfo=timezone.utc)
    # 01:30 on 11-21 in Shanghai: the bureau day is the 21st although UTC is still on the 20th
    assert clock.today() == date(2026, 11, 21) and clock.yesterday() == date(2026, 11, 20)


def test_a_running_setting_starts_at_its_instant_and_runs_on_with_the_real_clock(monkeypatch):
    instant = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    monkeypatch.setenv(clock.NOW_VARIABLE, f"{instant.isoformat()}@{time.time() - 30!r}")
    assert timedelta(seconds=30) <= clock.now() - instant < timedelta(seconds=40)
    first = clock.now()
    time.sleep(0.01)
    assert clock.now() > first


def test_set_to_moves_the_clock_inside_the_block_and_puts_it_back():
    setting = os.environ[clock.NOW_VARIABLE]
    with clock.set_to(datetime(2030, 6, 1, tzinfo=timezone.utc), running=False):
        assert clock.now() == datetime(2030, 6, 1, tzinfo=timezone.utc)
    assert os.environ[clock.NOW_VARIABLE] == setting


def test_a_malformed_or_naive_setting_is_a_clear_error(monkeypatch):
    for setting, message in (("tomorrow", "ISO 8601"), ("2026-11-20T12:00:00", "UTC offset"),
                             ("2026-11-20T12:00:00+08:00@soon", "ISO 8601")):
        monkeypatch.setenv(clock.NOW_VARIABLE, setting)
        with pytest.raises(ValueError, match=message):
            clock.now()


def test_the_suite_and_every_process_it_starts_read_the_suites_clock_whatever_the_day():
    """tests/conftest.py sets the clock for the session: the same instant in a child process (as
    `envmon` and Airflow's task runners are), so no result depends on the day the suite runs."""
    from tests.conftest import SUITE_NOW

    here = clock.now()
    assert clock.today() == SUITE_NOW.date() and timedelta(0) <= here - SUITE_NOW < timedelta(hours=6)
    child = subprocess.run([sys.executable, "-c", "from pipelines import clock; print(clock.now().isoformat())"],
                           capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert timedelta(0) <= datetime.fromisoformat(child.stdout.strip()) - here < timedelta(seconds=60)


def test_nothing_but_the_clock_reads_the_wall_clock():
    """Every "now" goes through pipelines.clock.now (or today/yesterday), so that ENVMON_NOW moves
    all of them: QC, default days, collection, stamps, retention, alerts, the dashboard."""
    import re

    wall_clock = re.compile(r"\b(datetime\.(now|utcnow|today)|date\.today|Timestamp\.(now|utcnow|today))\(")
    offenders = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
                 for folder in ("pipelines", "warehouse", "dashboards", "dags")
                 for path in sorted((ROOT / folder).rglob("*.py")) if path != ROOT / "pipelines" / "clock.py"
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if wall_clock.search(line)]
    assert offenders == []
