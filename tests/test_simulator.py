"""The simulator: a deterministic world with the faults real feeds have (simulator.FAULTS), each
switchable (ENVMON_SIMULATOR_FAULTS) and seeded. Each fault is switched on alone here and met where
it shows: in the rows, in validation and QC, and through the nightly steps."""
from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from pipelines import clock
from pipelines.assessment import daily, rollups
from pipelines.config import DEFAULT_SEED, load_settings
from pipelines.observations import BUREAU_TZ, CANONICAL_COLUMNS, KEY_COLUMNS
from pipelines.quality import qc
from pipelines.reference import registry
from pipelines.sources import simulator

DAY = date(2026, 11, 20)
SEED = 7


def _days(first: date, count: int):
    return [first + timedelta(days=n) for n in range(count)]


def _local_days(frame: pd.DataFrame) -> pd.Series:
    return frame["observed_at"].dt.tz_convert("Asia/Shanghai").dt.date


def test_same_seed_same_rows_and_another_seed_other_rows():
    first = simulator.simulate_water(DAY, 7, "default")
    pd.testing.assert_frame_equal(first, simulator.simulate_water(DAY, 7, "default"))
    assert not first["value"].equals(simulator.simulate_water(DAY, 8, "default")["value"])


def test_same_seed_and_fetch_time_give_the_same_first_delivery():
    fetched = clock.nightly_run_time(DAY)
    for simulate in (simulator.simulate_water, simulator.simulate_air):
        pd.testing.assert_frame_equal(simulate(DAY, SEED, "default", fetched_at=fetched),
                                      simulate(DAY, SEED, "default", fetched_at=fetched))


@pytest.mark.parametrize("simulate", simulator.SIMULATORS.values())
def test_output_is_canonical_and_labelled_simulated(simulate):
    frame = simulate(DAY, 1)
    assert tuple(frame.columns[:len(CANONICAL_COLUMNS)]) == CANONICAL_COLUMNS
    assert frame["source"].str.startswith("simulated-").all()
    assert str(frame["observed_at"].dt.tz) == "UTC"
    assert (frame["utc_offset_minutes"] == 480).all()
    assert frame["batch_id"].nunique() == 1


def test_none_gives_the_clean_world_every_entry_every_hour_once_in_range():
    water = simulator.simulate_water(DAY, SEED, "none")
    air = simulator.simulate_air(DAY, SEED, "none")
    coastal = simulator.simulate_coastal(DAY, SEED, "none")
    assert set(water["station_id"]) == set(registry.water_sections().index)
    assert set(air["station_id"]) == set(registry.air_stations().index)
    assert set(coastal["station_id"]) == set(registry.sea_points().index)
    assert len(water) == len(registry.water_sections()) * len(simulator.WATER_HOURS) * len(simulator.WATER_PARAMETERS)
    assert len(air) == len(registry.air_stations()) * 24 * len(simulator.AIR_PARAMETERS)
    limits = qc.metadata()
    for frame in (water, air, coastal):
        assert not frame.duplicated(subset=list(KEY_COLUMNS)).any()
        assert (frame["qc_flag"] == "not_evaluated").all() and (frame["qc_note"] == "").all()
        assert (frame["censoring"] == "").all()
        low = frame["parameter"].map(limits["plausible_min"])
        high = frame["parameter"].map(limits["plausible_max"])
        assert frame["value"].between(low, high).all()


def test_an_unknown_fault_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown faults.*'stcuk'"):
        load_settings({"ENVMON_SIMULATOR_FAULTS": "stuck,stcuk"})
    assert load_settings({"ENVMON_SIMULATOR_FAULTS": "none"}).simulator_faults == ()
    assert load_settings({}).simulator_faults == simulator.DEFAULT_FAULTS
    assert load_settings({"ENVMON_SIMULATOR_FAULTS": "late,offline"}).simulator_faults == ("late", "offline")


def test_air_values_are_labelled_at_the_end_of_the_hour():
    frame = simulator.simulate_air(DAY, 1)
    local = frame["observed_at"].dt.tz_convert("Asia/Shanghai")
    assert (frame["averaging_period"] == "PT1H").all()
    assert local.min().hour == 1 and local.max() == pd.Timestamp("2026-11-21 00:00", tz="Asia/Shanghai")


def test_the_jiuzhou_episode_fails_its_class_iii_target_on_episode_days():
    episode_day = next(DAY + timedelta(days=i) for i in range(7) if simulator.in_episode(DAY + timedelta(days=i)))
    rows = daily.assess_surface_water_day(simulator.simulate_water(episode_day, 1, "default"), episode_day)
    wenchequiao = next(r for r in rows if r["station_id"] == simulator.EPISODE_SECTION)
    assert wenchequiao["is_compliant"] is False and "nh3n" in wenchequiao["failing_parameters"]


def test_the_episode_sections_are_spared_the_faults_that_take_a_day_away():
    for day in _days(date(2026, 1, 1), 365):
        for section in simulator.SPARED:
            assert simulator.silent_reason(section, day, SEED, frozenset(simulator.FAULTS)) is None


# --- faults that take a station's day away --------------------------------------------------

def test_offline_stations_send_nothing_for_their_outage_days_only():
    outage = next((station, episode) for day in _days(date(2026, 9, 1), 120)
                  for station in registry.water_sections().index
                  if station not in simulator.SPARED
                  and (episode := simulator.offline_days(SEED, station, day)) and episode[0] == day)
    station, (first, days) = outage
    assert 2 <= days <= 4
    on = [simulator.simulate_water(d, SEED, "offline") for d in _days(first, days)]
    assert all(station not in set(frame["station_id"]) for frame in on)
    assert station in set(simulator.simulate_water(first - timedelta(days=1), SEED, "offline")["station_id"])
    assert station in set(simulator.simulate_water(first + timedelta(days=days), SEED, "offline")["station_id"])
    assert len(set(on[0]["station_id"])) >= len(registry.water_sections()) - 3   # the others report


def test_air_stations_go_offline_too():
    outage = next((station, day) for day in _days(date(2026, 9, 1), 120) for station in registry.air_stations().index
                  if (episode := simulator.offline_days(SEED, station, day)) and episode[0] == day)
    station, day = outage
    assert station not in set(simulator.simulate_air(day, SEED, "offline")["station_id"])
    assert station in set(simulator.simulate_air(day, SEED, "none")["station_id"])


def test_a_whole_month_is_missing_for_two_sections_one_of_them_cross_boundary():
    missing = simulator.missing_month_sections(SEED, 2026, 11)
    sections = registry.water_sections()
    assert [bool(sections.loc[s, "is_cross_boundary"]) for s in missing] == [True, False]
    month = pd.concat([simulator.simulate_water(day, SEED, "missing_month") for day in _days(date(2026, 11, 1), 30)])
    assert not month["station_id"].isin(missing).any()
    assert set(month["station_id"]) == set(sections.index) - set(missing)
    next_month = simulator.simulate_water(date(2026, 12, 1), SEED, "missing_month")
    back = set(missing) - set(simulator.missing_month_sections(SEED, 2026, 12))
    assert back and back <= set(next_month["station_id"])


def test_the_dropped_section_stops_on_its_day_and_never_comes_back():
    section, first = simulator.dropped_section(SEED)
    assert not registry.water_sections().loc[section, "is_cross_boundary"]
    assert section in set(simulator.simulate_water(first - timedelta(days=1), SEED, "dropped_section")["station_id"])
    for day in (first, first + timedelta(days=1), first + timedelta(days=200)):
        assert section not in set(simulator.simulate_water(day, SEED, "dropped_section")["station_id"])


def test_a_sparse_month_holds_one_of_its_four_weekly_samples():
    section, sampled = simulator.sparse_month(SEED, 2026, 11)
    assert sampled.day in (5, 12, 19, 26)
    month = pd.concat([simulator.simulate_water(day, SEED, "sparse_month") for day in _days(date(2026, 11, 1), 30)])
    mine = month[month["station_id"] == section]
    assert set(_local_days(mine)) == {sampled}
    assert month[month["station_id"] != section].groupby("station_id").apply(
        lambda rows: _local_days(rows).nunique()).eq(30).all()


# --- faults in the readings -----------------------------------------------------------------

def _first_day_with(simulate, faults, condition, first=DAY, days=60):
    for day in _days(first, days):
        frame = simulate(day, SEED, faults)
        if condition(frame):
            return day, frame
    raise AssertionError(f"no day of {faults} within {days} days")


def test_a_reading_above_the_instruments_range_is_quarantined_by_validation():
    from pipelines.quality.validation import validate

    top = simulator.instrument_max()
    above = lambda frame: (frame["value"] > frame["parameter"].map(top)).any()  # noqa: E731
    _, frame = _first_day_with(simulator.simulate_water, "over_range", above)
    over = frame[frame["value"] > frame["parameter"].map(top)]
    outcome = validate(frame, "water")
    quarantined = outcome.quarantined.merge(over[["station_id", "parameter", "observed_at"]])
    assert len(quarantined) == len(over)
    assert quarantined["reason"].str.contains("above the instrument's upper limit").all()
    assert (outcome.good["value"] <= outcome.good["parameter"].map(top)).all()


def test_air_readings_above_the_instruments_range_too():
    top = simulator.instrument_max()
    _, frame = _first_day_with(simulator.simulate_air, "over_range",
                               lambda f: (f["value"] > f["parameter"].map(top)).any())
    assert (frame["value"] > frame["parameter"].map(top)).sum() >= 1


def test_a_spike_is_flagged_suspect_by_qc():
    _, frame = _first_day_with(simulator.simulate_water, "spike",
                               lambda f: not f["value"].equals(simulator.simulate_water(
                                   _local_days(f).iloc[0], SEED, "none")["value"]))
    clean = simulator.simulate_water(_local_days(frame).iloc[0], SEED, "none")
    spiked = frame[frame["value"].round(6) != clean["value"].round(6)]
    ratio = spiked["value"] / clean.loc[spiked.index, "value"]
    assert len(spiked) >= 1 and ratio.between(14.5, 15.5).all()
    checked = qc.apply(frame)
    assert (checked.loc[spiked.index, "qc_flag"] == "suspect").all()


def test_stuck_values_repeat_for_hours():
    month = pd.concat([simulator.simulate_water(day, SEED, "stuck") for day in _days(DAY, 20)])
    stuck = month.groupby([_local_days(month), "station_id", "parameter"])["value"].agg(
        lambda v: len(v) == len(simulator.WATER_HOURS) and v.nunique() == 1)
    assert stuck.any()
    _, air = _first_day_with(simulator.simulate_air, "stuck", lambda f: (f.groupby(["station_id", "parameter"])[
        "value"].agg(lambda v: v.value_counts().max()) >= 10).any())
    assert (air.groupby(["station_id", "parameter"])["value"].agg(lambda v: v.value_counts().max()) >= 10).any()


def test_drift_creeps_up_four_percent_a_day_against_the_clean_world():
    station, (first, _) = next((s, e) for day in _days(date(2026, 9, 1), 120) for s in registry.water_sections().index
                               if (e := simulator._block_episode(SEED, "drift", s, day, (10, 10))) and e[0] == day)
    parameter = simulator.drift(SEED, station, first, simulator.WATER_DRIFTING)[0]
    ratios = []
    for day in (first, first + timedelta(days=5), first + timedelta(days=9), first + timedelta(days=10)):
        drifted, clean = (simulator.simulate_water(day, SEED, faults) for faults in ("drift", "none"))
        mine = (drifted["station_id"] == station) & (drifted["parameter"] == parameter)
        ratios.append((drifted.loc[mine, "value"] / clean.loc[mine, "value"]).mean())
    assert ratios[0] < ratios[1] < ratios[2] and ratios[2] == pytest.approx(1.38, abs=0.05)
    assert ratios[3] == pytest.approx(1.0, abs=0.01)   # recalibrated after ten days


def _first_delivery(simulate, day, faults):
    return simulate(day, SEED, faults, fetched_at=clock.nightly_run_time(day))


def _next_nights(simulate, day, faults):
    return simulate(day, SEED, faults, fetched_at=clock.nightly_run_time(day + timedelta(days=1)))


def test_late_rows_are_not_in_their_nights_payload_and_come_with_the_next_nights():
    keys = list(KEY_COLUMNS)
    for simulate, last_hours in ((simulator.simulate_water, {16, 20}), (simulator.simulate_air, {21, 22, 23, 0})):
        first = pd.concat([_first_delivery(simulate, day, "late") for day in _days(DAY, 5)])
        complete = pd.concat([_next_nights(simulate, day, "late") for day in _days(DAY, 5)])
        late = complete.merge(first[keys], on=keys, how="left", indicator=True)
        late = late[late["_merge"] == "left_only"]
        assert len(late) > 0 and len(first) + len(late) == len(complete)
        assert set(late["observed_at"].dt.tz_convert("Asia/Shanghai").dt.hour) == last_hours   # a day's last readings
        # fetched any later, the day is as the next night has it
        pd.testing.assert_frame_equal(complete, pd.concat([simulate(day, SEED, "late") for day in _days(DAY, 5)]))


def test_revised_values_change_on_the_next_nights_payload():
    keys = list(KEY_COLUMNS)
    for simulate in (simulator.simulate_water, simulator.simulate_air):
        changed_days = 0
        for day in _days(DAY, 10):
            provisional, final = _first_delivery(simulate, day, "revised"), _next_nights(simulate, day, "revised")
            assert provisional[keys].equals(final[keys])          # the same readings, some values changed
            changed = provisional["value"].round(6) != final["value"].round(6)
            revised_stations = provisional.loc[changed, "station_id"].nunique()
            assert changed.sum() <= 3 * revised_stations            # three values of one hour per station
            changed_days += bool(changed.any())
        assert changed_days >= 3


def test_duplicated_hours_are_exact_copies_and_validation_quarantines_the_copy():
    from pipelines.quality.validation import validate

    keys = list(KEY_COLUMNS)
    _, frame = _first_day_with(simulator.simulate_air, "duplicate", lambda f: f.duplicated(subset=keys).any())
    copies = frame[frame.duplicated(subset=keys, keep=False)]
    assert copies.groupby(keys)["value"].nunique().eq(1).all()
    assert copies.groupby(keys).size().eq(2).all()
    assert copies.groupby("station_id")["observed_at"].nunique().eq(1).all()   # one hour of a station
    outcome = validate(frame, "air")
    duplicates = outcome.quarantined[outcome.quarantined["expectation"] == qc.DUPLICATE_EXPECTATION]
    assert len(duplicates) == len(copies) // 2
    assert duplicates["reason"].str.startswith("duplicate: an exact copy").all()


def test_the_feeds_markers_are_there_with_the_flags_the_marker_table_gives():
    flags = qc.source_markers().query("source == 'cnemc-water'").set_index("marker")["qc_flag"]
    month = pd.concat([simulator.simulate_water(day, SEED, "marker") for day in _days(DAY, 20)])
    for marker in ("维护", "停站"):
        marked = month[month["qc_note"].str.contains(f"station status {marker}")]
        assert len(marked) > 0 and (marked["qc_flag"] == flags[marker]).all()
    assert (month.loc[month["qc_note"] == "", "qc_flag"] == "not_evaluated").all()


def test_a_day_below_the_detection_limit_is_censored_and_reported_below_the_limit():
    def censored(frame):
        return frame["censoring"].eq("<").any()

    day, frame = _first_day_with(simulator.simulate_water, "below_dl", censored)
    below = frame[frame["censoring"] == "<"]
    station = below["station_id"].iloc[0]
    assert registry.water_sections().loc[station, "station_type"] == "lake-reservoir"
    mine = frame[(frame["station_id"] == station) & frame["parameter"].isin(list(simulator.DETECTION_LIMITS))]
    assert (mine["censoring"] == "<").all() and len(mine) == 2 * len(simulator.WATER_HOURS)  # the whole day
    assert (mine["value"] == mine["parameter"].map(simulator.DETECTION_LIMITS)).all()
    assert (mine["detection_limit"] == mine["value"]).all() and mine["original_value"].str.endswith("L").all()
    day_rollups = rollups.daily(frame.assign(qc_flag="good"), day).set_index(["station_id", "parameter"])
    assert day_rollups.loc[(station, "tp"), "reported_mean"] == "< 0.01"
    assert day_rollups.loc[(station, "nh3n"), "reported_mean"] == "< 0.025"


def test_the_default_world_has_a_few_of_each_fault_in_a_week():
    week = _days(DAY, 7)
    water = pd.concat([simulator.simulate_water(day, DEFAULT_SEED, "default") for day in week])
    air = pd.concat([simulator.simulate_air(day, DEFAULT_SEED, "default") for day in week])
    top = simulator.instrument_max()
    keys = list(KEY_COLUMNS)
    expected = len(registry.water_sections()) * 7
    present = water.groupby(_local_days(water))["station_id"].nunique().sum()
    assert 2 * 7 <= expected - present                       # the missing month's two sections, and more
    assert (water["value"] == simulator.SENSOR_ERROR_CODE).any()
    for frame in (water, air):
        assert (frame["value"] > frame["parameter"].map(top)).any()
        assert frame.duplicated(subset=keys).any()
    assert water["censoring"].eq("<").any()
    assert water["qc_note"].str.contains("维护|停站").any()


# --- through the nightly steps ----------------------------------------------------------------

def test_the_nightly_run_of_the_next_night_loads_the_late_rows_and_the_revisions(tmp_path, monkeypatch):
    from pipelines import nightly
    from warehouse import db

    monkeypatch.setenv("ENVMON_SIMULATOR_FAULTS", "late,revised")
    settings = load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_SIMULATOR_FAULTS": "late,revised"})
    engine = db.engine_for(settings.warehouse_url)
    nightly.prepare_warehouse(settings)
    source, first = "simulated-water", date(2026, 11, 2)

    def night(day):
        with clock.set_to(clock.nightly_run_time(day) + timedelta(minutes=5)):
            ingested = nightly.ingest(source, day, settings)
            nightly.validate(source, day, settings)
            nightly.load(source, day, settings)
            nightly.assess(day, settings)
        return ingested

    night(first)
    stored_first = db.observations_for_day(engine, first)
    provisional = simulator.simulate_water(first, settings.simulator_seed, "late,revised",
                                           fetched_at=clock.nightly_run_time(first))
    final = simulator.simulate_water(first, settings.simulator_seed, "late,revised")
    assert len(stored_first) == len(provisional) < len(final)        # the late readings are not in yet
    second = night(first + timedelta(days=1))
    assert second["redelivered"] == [first.isoformat()]
    stored_again = db.observations_for_day(engine, first)
    assert len(stored_again) == len(final)
    keys = ["station_id", "parameter", "observed_at"]
    merged = stored_again.merge(final[keys + ["value"]], on=keys, suffixes=("", "_final"))
    assert (merged["value"].round(6) == merged["value_final"].round(6)).all()   # the revisions won
    # the night again, later: nothing is delivered anew
    with clock.set_to(clock.nightly_run_time(first + timedelta(days=1)) + timedelta(hours=3)):
        assert "redelivered" not in nightly.ingest(source, first + timedelta(days=1), settings)


def test_a_below_dl_day_is_stored_censored_and_its_rollup_reported_below_the_limit(tmp_path):
    from pipelines import nightly
    from warehouse import db

    settings = load_settings({"ENVMON_HOME": str(tmp_path), "ENVMON_SIMULATOR_FAULTS": "below_dl",
                              "ENVMON_SIMULATOR_SEED": str(SEED)})
    day, frame = _first_day_with(simulator.simulate_water, "below_dl", lambda f: f["censoring"].eq("<").any())
    station = frame.loc[frame["censoring"] == "<", "station_id"].iloc[0]
    nightly.prepare_warehouse(settings)
    for step in (nightly.ingest, nightly.validate, nightly.load):
        step("simulated-water", day, settings)
    engine = db.engine_for(settings.warehouse_url)
    stored = db.observations_for_day(engine, day)
    assert (stored["censoring"] == "<").sum() == (frame["censoring"] == "<").sum() > 0
    nightly.assess(day, settings)
    tp = db.rollups(engine, "day", ("tp",)).set_index("station_id")
    assert tp.loc[station, "reported_mean"] == "< 0.01"


# --- the default world where users look --------------------------------------------------------

E2E_LAST_DAY = date(2026, 11, 22)


@pytest.fixture(scope="module")
def default_world(tmp_path_factory):
    """`envmon run` of three days of the default world (ENVMON_SIMULATOR_FAULTS unset), as a user
    runs it, and its quarantine and assessment exports; `run` runs a further command on it."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    home = tmp_path_factory.mktemp("default-world")
    env = {k: v for k, v in os.environ.items() if k not in ("ENVMON_SIMULATOR_FAULTS", "ENVMON_WAREHOUSE_URL",
                                                            "ENVMON_SIMULATOR_SEED")}
    env["ENVMON_HOME"] = str(home)
    envmon = str(Path(sys.executable).parent / "envmon")

    def run(*args):
        result = subprocess.run([envmon, *args], capture_output=True, text=True, env=env, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    summary = json.loads(run("run", "--date", E2E_LAST_DAY.isoformat(), "--days", "3", "--json"))
    return {"summary": summary, "quarantine": run("export", "quarantine", "--format", "csv"),
            "assessments": run("export", "assessments", "--format", "csv"), "home": home, "run": run}


def test_the_default_world_run_reconciles_and_quarantines_its_faults_with_their_reasons(default_world):
    import io

    summary = default_world["summary"]
    assert summary["reconciled"] is True
    for source in ("simulated-water", "simulated-air"):
        rules = summary["sources"][source]["quarantined_by_rule"]
        assert rules.get("expect_column_pair_values_a_to_be_greater_than_b", 0) > 0, rules   # the instrument's range
        assert rules.get(qc.DUPLICATE_EXPECTATION, 0) > 0, rules           # an hour delivered twice
    quarantine = pd.read_csv(io.StringIO(default_world["quarantine"]))
    reasons = quarantine.groupby("source")["reason"].agg(" | ".join)
    assert "above the instrument's upper limit" in reasons["simulated-air"]
    assert "duplicate: an exact copy of a later row" in reasons["simulated-water"]


def test_the_default_world_sections_without_their_month_are_assessed_as_no_data_not_as_failing(default_world):
    import io

    assessments = pd.read_csv(io.StringIO(default_world["assessments"]))
    missing = simulator.missing_month_sections(DEFAULT_SEED, E2E_LAST_DAY.year, E2E_LAST_DAY.month)
    mine = assessments[assessments["station_id"].isin(missing)]
    assert set(mine["station_id"]) == set(missing)
    # days without a reading: 'insufficient data'; the cross-boundary month without one: 'no data'
    assert mine["status"].isin(["insufficient data", "no data"]).all()
    assert not (mine["is_compliant"] == False).any()  # noqa: E712 (never a failure)
    assert (assessments.loc[~assessments["station_id"].isin(missing), "status"] == "assessed").any()


def test_the_default_world_section_without_a_month_reads_no_data_in_the_bulletin(default_world):
    import re

    out = default_world["home"] / "bulletin.html"
    default_world["run"]("bulletin", "--month", E2E_LAST_DAY.strftime("%Y-%m"), "--format", "html", "--out", str(out))
    bulletin = out.read_text("utf-8")
    sections = registry.water_sections()
    for section in simulator.missing_month_sections(DEFAULT_SEED, E2E_LAST_DAY.year, E2E_LAST_DAY.month):
        name = sections.loc[section, "name_zh"]
        # the section's rows in the tables of results (the assumptions list names it too, in one cell)
        rows = [row for row in re.findall(r"<tr.*?</tr>", bulletin, flags=re.S)
                if f"<td>{name}</td>" in row and row.count("<td") > 2]
        assert rows, f"{name} is not in the bulletin"
        for row in rows:
            # the bulletin words it in its own vocabulary (pipelines/reports/water.py NO_DATA, 无有效数据),
            # not display.py's 无数据: either reads as no data; never a failure, never nan
            assert ("无有效数据" in row or "无数据" in row) and "未达标" not in row and "nan" not in row.lower(), row
