"""The day a run processes, with the objects Airflow's Task SDK really hands a task: pendulum
DateTimes in UTC (a stdlib datetime hid the bug that shifted every scheduled run by a day or two)."""
from datetime import date, datetime, timezone

import pendulum
import pytest

from pipelines.clock import bureau_date, nightly_run_time, processed_day


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
