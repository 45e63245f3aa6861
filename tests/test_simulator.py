from datetime import date, timedelta

import pandas as pd
import pytest

from pipelines.assessment import daily
from pipelines.reference import registry
from pipelines.observations import CANONICAL_COLUMNS
from pipelines.sources import simulator

DAY = date(2026, 11, 20)


def test_same_seed_same_rows_and_another_seed_other_rows():
    first = simulator.simulate_water(DAY, 7)
    pd.testing.assert_frame_equal(first, simulator.simulate_water(DAY, 7))
    assert not first["value"].equals(simulator.simulate_water(DAY, 8)["value"])


@pytest.mark.parametrize("simulate", simulator.SIMULATORS.values())
def test_output_is_canonical_and_labelled_simulated(simulate):
    frame = simulate(DAY, 1)
    assert tuple(frame.columns[:len(CANONICAL_COLUMNS)]) == CANONICAL_COLUMNS
    assert frame["source"].str.startswith("simulated-").all()
    assert str(frame["observed_at"].dt.tz) == "UTC"
    assert (frame["utc_offset_minutes"] == 480).all()
    assert frame["batch_id"].nunique() == 1


def test_every_registry_entry_is_simulated():
    assert set(simulator.simulate_water(DAY, 1)["station_id"]) == set(registry.water_sections().index)
    assert set(simulator.simulate_air(DAY, 1)["station_id"]) == set(registry.air_stations().index)
    assert set(simulator.simulate_coastal(DAY, 1)["station_id"]) == set(registry.sea_points().index)


def test_air_values_are_labelled_at_the_end_of_the_hour():
    frame = simulator.simulate_air(DAY, 1)
    local = frame["observed_at"].dt.tz_convert("Asia/Shanghai")
    assert (frame["averaging_period"] == "PT1H").all()
    assert local.min().hour == 1 and local.max() == pd.Timestamp("2026-11-21 00:00", tz="Asia/Shanghai")


def test_the_jiuzhou_episode_fails_its_class_iii_target_on_episode_days():
    episode_day = next(DAY + timedelta(days=i) for i in range(7) if simulator.in_episode(DAY + timedelta(days=i)))
    rows = daily.assess_surface_water_day(simulator.simulate_water(episode_day, 1), episode_day)
    wenchequiao = next(r for r in rows if r["station_id"] == simulator.EPISODE_SECTION)
    assert wenchequiao["is_compliant"] is False and "nh3n" in wenchequiao["failing_parameters"]


def test_a_month_holds_every_kind_of_sensor_fault():
    frames = [simulator.simulate_water(DAY + timedelta(days=i), 1) for i in range(30)]
    month = pd.concat(frames)
    assert (month["value"] == simulator.SENSOR_ERROR_CODE).any()                          # spikes
    assert month["qc_note"].str.contains("维护").any()                                      # maintenance rows
    per_day = month.groupby([month["observed_at"].dt.date, "station_id", "parameter"]).size()
    assert (per_day < len(simulator.WATER_HOURS)).any()                                    # gaps
    stuck = month.groupby([month["observed_at"].dt.tz_convert("Asia/Shanghai").dt.date, "station_id",
                           "parameter"])["value"].agg(lambda v: len(v) > 3 and v.nunique() == 1)
    assert stuck.any()                                                                      # flat lines
