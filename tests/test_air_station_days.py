"""The stations' daily values stored for the HJ 663 annual statistics (issue 27, migration 0022):
air_annual.refresh_year reads them (table air_station_days) instead of re-reading the year's hourly
observations at every run. The statistics it stores must be exactly those the old way gives
(year_statistics of stored_station_days, from the hourly observations), on SQLite and PostgreSQL:
across the rule-version change of 2026-03-01 (GB 3095—2026), after a day's observations are revised
(the nightly's reload of a partition), withdrawn and restored (envmon observations invalidate |
restore), after `envmon reassess`, and on a warehouse upgraded with observations but no stored daily
values (its first refresh fills them)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, func, select

from pipelines.assessment import air_annual
from pipelines.cli import commands
from pipelines.config import load_settings
from pipelines.observations import BUREAU_TZ
from pipelines.reference import registry
from warehouse import air_annual_store, db, schema

DAYS = [date(2026, 2, 26) + timedelta(days=n) for n in range(6)]     # 02-26 … 03-03: the rules change on 03-01
CITIES = ("崇左市", "北海市")
PARAMETERS = ("so2", "no2", "co", "o3", "pm10", "pm2_5")


def _stations() -> list[str]:
    stations = registry.air_stations()
    return list(stations.index[stations["city"].isin(CITIES)])


def _observations(day: date, seed: int) -> pd.DataFrame:
    """A day of hourly values of the two cities' stations, random, with hours missing: some
    station-days short of the 20 hours (no 24-h mean) or of the O3 8-h windows."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, station in enumerate(_stations()):
        missing = set(rng.choice(24, size=int(rng.integers(0, 8)), replace=False) + 1)
        for hour in range(1, 25):
            end = datetime(day.year, day.month, day.day, tzinfo=BUREAU_TZ) + timedelta(hours=hour)
            for parameter in PARAMETERS:
                if hour in missing and (parameter != "so2" or s % 2):
                    continue
                value = round(float(rng.uniform(0.3, 2.5) if parameter == "co" else rng.uniform(5, 180)), 1)
                rows.append({"station_id": station, "parameter": parameter, "observed_at": end.astimezone(timezone.utc),
                             "averaging_period": "PT1H", "layer": "", "utc_offset_minutes": 480, "value": value,
                             "unit": "mg/m³" if parameter == "co" else "µg/m³", "qc_flag": "good", "qc_note": "",
                             "original_value": str(value), "sample_id": "", "detection_limit": None, "censoring": "",
                             "original_unit": "", "detail": "", "payload_id": None})
    batch = f"cnemc-air/{day.isoformat()}/test-{seed}"
    return pd.DataFrame(rows).assign(partition_day=day, batch_id=batch)


def _load(engine, day: date, seed: int) -> None:
    good = _observations(day, seed)
    db.load_partition(engine, "cnemc-air", day, good, pd.DataFrame(columns=db.QUARANTINE_COLUMNS), {
        "source": "cnemc-air", "partition_day": day, "domain": "air", "batch_id": good["batch_id"].iloc[0],
        "rows_read": len(good), "rows_loaded": len(good), "rows_quarantined": 0, "suite_name": "test",
        "loaded_at": datetime(2026, 3, 4, 2, 0, tzinfo=timezone.utc)})


def _stored(engine) -> list[str]:
    table = schema.air_annual_statistics
    with engine.connect() as connection:
        return sorted(repr(tuple(row)) for row in connection.execute(select(table)).all())


def _as_the_old_way(engine, settings) -> list[str]:
    """The stored rows as refresh_year made them before: year_statistics of stored_station_days (the
    year's hourly observations), written with the same store (so compared value for value)."""
    (through,) = set(air_annual_store.annual_statistics(engine, 2026)["through_day"])
    (period,) = set(air_annual_store.annual_statistics(engine, 2026)["period"])
    old = air_annual.stored_station_days(engine, date(2026, 1, 1), through, settings.assessable_flags)
    new = air_annual.station_days_of_year(engine, date(2026, 1, 1), through, settings.assessable_flags)
    pd.testing.assert_frame_equal(new, old.reset_index(drop=True)[new.columns], check_exact=True,
                                  check_dtype=False)   # the same rows in the same order, value for value
    stored = _stored(engine)
    air_annual_store.replace_year(engine, 2026, period, air_annual.year_statistics(old, 2026, through))
    expected = _stored(engine)
    assert stored == expected
    return expected


@pytest.fixture
def nights(warehouse_url, tmp_path, set_clock, monkeypatch):
    from pipelines import nightly

    set_clock(datetime(2026, 3, 4, 3, 0, tzinfo=BUREAU_TZ))
    home = str(tmp_path / "home")
    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("ENVMON_HOME", home)
    settings = load_settings({"ENVMON_WAREHOUSE_URL": warehouse_url, "ENVMON_HOME": home})
    nightly.prepare_warehouse(settings)
    engine = db.engine_for(warehouse_url)
    for n, day in enumerate(DAYS):
        _load(engine, day, n)
        nightly.assess(day, settings)
    yield engine, settings
    engine.dispose()


def _count(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar()


def test_the_stored_daily_values_give_the_old_statistics_across_revisions_withdrawals_and_the_rule_change(nights):
    from pipelines import nightly
    from pipelines.ingest import reassess

    engine, settings = nights
    assert air_annual.station_day_basis(DAYS[0], _stations(), settings.assessable_flags) != \
        air_annual.station_day_basis(DAYS[-1], _stations(), settings.assessable_flags)   # two validity versions
    assert _count(engine, schema.air_station_day_bases) == (DAYS[-1] - date(2026, 1, 1)).days + 1
    assert 0 < _count(engine, schema.air_station_days) <= len(DAYS) * len(registry.air_stations())
    first = _as_the_old_way(engine, settings)
    stored = air_annual_store.annual_statistics(engine, 2026, "city").set_index("site_id")
    assert 0 < stored.loc["崇左市", "days_with_data"] <= len(DAYS) and stored.loc["南宁市", "status"] == "no data"

    # the nightly loads 02-27 again, revised (other values), and assesses it: the year follows
    _load(engine, DAYS[1], 101)
    nightly.assess(DAYS[1], settings)
    revised = _as_the_old_way(engine, settings)
    assert revised != first

    # a steward withdraws ten hours of PM2.5 of one station on 03-01 (the first day of the new rules)
    days = air_annual_store.station_days_between(engine, DAYS[3], DAYS[3])
    station = days.loc[days["pm2_5"].notna(), "station_id"].iloc[0]   # one with a valid PM2.5 day (≥ 20 hours)
    assert commands.main(["observations", "invalidate", "--station", station, "--parameter", "pm2_5",
                          "--from", "2026-03-01T01:00", "--to", "2026-03-01T10:00", "--reason", "analyser fault",
                          "--by", "test"]) == 0
    withdrawn = _as_the_old_way(engine, settings)
    assert withdrawn != revised
    # and restores them: the statistics of before come back
    assert commands.main(["observations", "restore", "--station", station, "--parameter", "pm2_5",
                          "--from", "2026-03-01", "--to", "2026-03-01", "--reason", "the fault was elsewhere",
                          "--by", "test"]) == 0
    assert _as_the_old_way(engine, settings) == revised

    # a day changed without its assessment being re-run is not seen until its days are assessed again
    # (the same as the day assessments); `envmon reassess` of the range puts both right
    _load(engine, DAYS[4], 202)
    reassess.reassess(DAYS[0], DAYS[-1], settings)
    _as_the_old_way(engine, settings)


def test_an_upgraded_warehouse_without_stored_daily_values_gets_the_same_statistics(nights):
    from pipelines import nightly

    engine, settings = nights
    before = _stored(engine)
    with engine.begin() as connection:   # a warehouse from before migration 0022: observations, no daily values
        connection.execute(delete(schema.air_station_days))
        connection.execute(delete(schema.air_station_day_bases))
    nightly.assess(DAYS[-1], settings)
    assert _stored(engine) == before
    assert _count(engine, schema.air_station_day_bases) == (DAYS[-1] - date(2026, 1, 1)).days + 1
    _as_the_old_way(engine, settings)


def test_a_day_stored_under_other_flags_or_another_station_list_is_computed_again(nights):
    engine, settings = nights
    through = DAYS[-1]
    # the bureau assesses 'suspect' too: every day's basis differs, so each is computed again
    flags = tuple(settings.assessable_flags) + ("suspect",)
    with_suspect = air_annual.station_days_of_year(engine, date(2026, 1, 1), through, flags)
    pd.testing.assert_frame_equal(with_suspect, air_annual.stored_station_days(engine, date(2026, 1, 1), through, flags)
                                  .reset_index(drop=True)[with_suspect.columns], check_exact=True, check_dtype=False)
    bases = air_annual_store.station_day_bases(engine, date(2026, 1, 1), through)
    assert all("suspect" in basis for basis in bases.values())
    # a stored value changed by hand under the basis in force is what is read (the store is the source)
    with engine.begin() as connection:
        table = schema.air_station_days
        connection.execute(table.update().where(table.c.day == DAYS[0]).values(pm2_5=999.0))
    read = air_annual.station_days_of_year(engine, date(2026, 1, 1), through, flags)
    assert set(read.loc[read["day"] == DAYS[0], "pm2_5"]) == {999.0}
    # unless the day is named changed: then it is computed again from its observations
    again = air_annual.station_days_of_year(engine, date(2026, 1, 1), through, flags, changed=[DAYS[0]])
    assert 999.0 not in set(again["pm2_5"])


def test_the_archive_path_stores_the_daily_values_from_the_observations_it_has_read(nights, monkeypatch):
    """batches.assess_days (the archive path) stores the touched days' daily values from the
    observations it read for the day assessments: the annual refresh then reads no observations, and
    the values and statistics are those the old way computes from the observations."""
    from pipelines.ingest import batches

    engine, settings = nights
    first = _as_the_old_way(engine, settings)
    _load(engine, DAYS[1], 303)    # revised days on both sides of the rule change (02-27, 03-01)
    _load(engine, DAYS[3], 304)
    reads = []
    computed = air_annual.stored_station_days
    monkeypatch.setattr(air_annual, "stored_station_days",
                        lambda *args, **kwargs: reads.append(args[1:3]) or computed(*args, **kwargs))
    batches.assess_days(engine, [DAYS[1], DAYS[3]], settings)
    assert reads == []             # nothing read again from the observations
    monkeypatch.setattr(air_annual, "stored_station_days", computed)
    assert _as_the_old_way(engine, settings) != first   # the revision is in the statistics, as the old way has it
    bases = air_annual_store.station_day_bases(engine, DAYS[1], DAYS[3])
    assert bases[DAYS[1]] == air_annual.station_day_basis(DAYS[1], list(registry.air_stations().index),
                                                          settings.assessable_flags)


def test_a_refresh_that_read_a_day_before_its_revision_does_not_overwrite_the_archive_paths_newer_values(
        nights, monkeypatch):
    """The race of the two writers of air_station_days: the nightly's refresh_year of 03-03 reads the
    day's observations; meanwhile an archive run commits a revision of 03-03 and its assess_days
    stores the new values; the nightly then writes its older read under the same basis. Every write
    is under the year's `air-annual` lock, so assess_days (holding its month's `assess` lock) waits
    for the refresh and writes the revision after it: the stored values and statistics are the old
    way's. Deterministic: the revision and the archive run start inside the refresh's read."""
    import threading

    from pipelines import nightly
    from pipelines.ingest import batches

    engine, settings = nights
    day = DAYS[-1]
    first = _as_the_old_way(engine, settings)
    computed, real_lock = air_annual.stored_station_days, db.day_lock
    archive_asks_year_lock, failures, worker = threading.Event(), [], []

    def archive_run():
        try:
            batches.assess_days(engine, [day], settings)
        except BaseException as error:   # reported in the test's thread
            failures.append(error)

    def day_lock(engine_, name, at):
        if name == "air-annual" and worker and threading.current_thread() is worker[0]:
            archive_asks_year_lock.set()
        return real_lock(engine_, name, at)

    def read_then_revise(engine_, first_day, last_day, *args, **kwargs):
        read = computed(engine_, first_day, last_day, *args, **kwargs)   # the refresh's read of the day
        if first_day <= day <= last_day and not worker:
            _load(engine, day, 404)                                      # the archive commits a revision
            worker.append(threading.Thread(target=archive_run))
            worker[0].start()
            # the archive run goes as far as it can: to the year's lock the refresh holds
            assert archive_asks_year_lock.wait(120)
        return read

    monkeypatch.setattr(db, "day_lock", day_lock)
    monkeypatch.setattr(air_annual, "stored_station_days", read_then_revise)
    nightly.assess(day, settings)        # refresh_year(03-03, changed={03-03}) under the year's lock
    worker[0].join(120)
    assert not worker[0].is_alive() and failures == []
    monkeypatch.setattr(air_annual, "stored_station_days", computed)
    monkeypatch.setattr(db, "day_lock", real_lock)
    assert _as_the_old_way(engine, settings) != first    # the revision is stored, values and statistics


def test_a_new_version_of_the_daily_computation_computes_every_stored_day_again(nights, monkeypatch):
    """STATION_DAY_METHOD is in every day's basis: an upgrade that changes how a day's values are
    computed bumps it, and the next refresh computes every stored day again from its observations
    (a value stored by the old computation, here one changed by hand, does not survive)."""
    engine, settings = nights
    with engine.begin() as connection:
        table = schema.air_station_days
        connection.execute(table.update().where(table.c.day == DAYS[0]).values(pm2_5=999.0))
    air_annual.refresh_year(engine, DAYS[-1], settings.assessable_flags, changed=())
    assert 999.0 in set(air_annual_store.station_days_between(engine, DAYS[0], DAYS[0])["pm2_5"])  # read, as stored
    reads = []
    computed = air_annual.stored_station_days
    monkeypatch.setattr(air_annual, "stored_station_days",
                        lambda *args, **kwargs: reads.append(args[1:3]) or computed(*args, **kwargs))
    monkeypatch.setattr(air_annual, "STATION_DAY_METHOD", air_annual.STATION_DAY_METHOD + "-next")
    air_annual.refresh_year(engine, DAYS[-1], settings.assessable_flags, changed=())
    assert reads == [(date(2026, 1, 1), DAYS[-1])]      # the whole year computed again, in one read
    assert 999.0 not in set(air_annual_store.station_days_between(engine, DAYS[0], DAYS[0])["pm2_5"])
    bases = air_annual_store.station_day_bases(engine, date(2026, 1, 1), DAYS[-1])
    assert all(basis.startswith(f"method={air_annual.STATION_DAY_METHOD}|") for basis in bases.values())
    monkeypatch.setattr(air_annual, "stored_station_days", computed)
    _as_the_old_way(engine, settings)
