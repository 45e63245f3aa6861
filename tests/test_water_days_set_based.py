"""Issue 27: the surface-water and seawater days of a whole archive at once (daily.assess_surface_water_days,
daily.assess_seawater_days, set-based over all section-days) give, row for row, what the one-day
row functions give one section-day at a time (daily.surface_water_day_row, daily.seawater_day_row,
through assess_surface_water_day / assess_seawater_day): on four months without any water data (the
archive of air that made 4,407 rows one by one), and on days with data, gaps and missing required
indicators, a target that changes and one that becomes unset mid-range, and a revision of the rules in
force from one of the days (each day judged under its own rules: standards.md §4.0)."""
from datetime import date, timedelta
from pathlib import Path
import shutil

import numpy as np
import pandas as pd
import pytest

from pipelines.assessment import daily
from pipelines.reference import registry, standards, targets
from tests.test_water_set_based import mixed_day

DAY = date(2026, 11, 3)
REVISED_FROM = DAY + timedelta(days=1)


def _one_day_at_a_time(observations: pd.DataFrame, days) -> tuple[list[dict], list[dict]]:
    """The reference: each day's rows from the one-day functions (one surface_water_day_row or
    seawater_day_row per registry station of that day), the days in order."""
    water, sea = [], []
    for day in sorted(days):
        mine = observations[observations["partition_day"] == day].drop(columns="partition_day")
        water += daily.assess_surface_water_day(mine, day)
        sea += daily.assess_seawater_day(mine, day)
    return water, sea


def test_months_without_water_data_are_the_one_day_rows():
    # the archive's case: four months of air only; every section and point of every day a row of no data
    days = [date(2025, 12, 6) + timedelta(days=n) for n in range(113)]
    air = pd.DataFrame([{"station_id": "1401A", "parameter": "pm2_5", "observed_at": pd.Timestamp(day, tz="UTC"),
                         "averaging_period": "PT1H", "value": 30.0, "qc_flag": "not_evaluated", "source": "cnemc-air",
                         "censoring": None, "detection_limit": None, "partition_day": day} for day in days])
    water = daily.assess_surface_water_days(air, days)
    sea = daily.assess_seawater_days(air, days)
    assert water == [daily.surface_water_day_row(sid, section, day, {}, {})
                     for day in days for sid, section in registry.water_sections(day).iterrows()]
    assert sea == [daily.seawater_day_row(pid, point, day, {}, {})
                   for day in days for pid, point in registry.sea_points(day).iterrows()]
    assert len(water) == 113 * len(registry.water_sections(days[0])) and {r["status"] for r in water} == \
        {"insufficient data"}
    # the drinking-water sources' rows too (a Table 2 check of no values), and the empty frame
    assert any(section["is_drinking_water_source"] for _, section in registry.water_sections(days[0]).iterrows())
    assert daily.assess_surface_water_days(air.iloc[:0], days[:3]) == water[:3 * len(registry.water_sections(days[0]))]


def _sea_readings(day, rng) -> list[dict]:
    """A survey of each coastal point on `day`: some items on their class limits, one point with
    nothing, the same values at two points (their verdicts shared), one item missing at random."""
    rows = []
    points = list(registry.sea_points(day).index)
    base = {"ph": 8.1, "do": 5.0, "cod": 3.0, "din": 0.30, "phosphate": 0.030, "petroleum": 0.05}
    for n, point_id in enumerate(points[:-1]):
        values = dict(base) if n < 2 else {code: value * (1 + 0.3 * n * rng.random()) for code, value in base.items()}
        dropped = rng.choice(list(values))
        for code, value in values.items():
            if code != dropped or n < 2:
                rows.append({"station_id": point_id, "parameter": code, "observed_at": pd.Timestamp(day, tz="Asia/Shanghai"),
                             "averaging_period": "PT0S", "value": value, "qc_flag": "not_evaluated", "source": "coastal",
                             "censoring": None, "detection_limit": None})
    return rows


def _days_with_data(days, rng) -> pd.DataFrame:
    frames = []
    for n, day in enumerate(days):
        if n == 2:
            continue                                   # a day without any data between days with data
        water = mixed_day(day)
        water["value"] = water["value"] * (1 + 0.4 * n)
        water = water[rng.random(len(water)) > 0.1]    # gaps: some readings lost, some indicators below the day rule
        frames += [water, pd.DataFrame(_sea_readings(day, rng))]
    frame = pd.concat(frames, ignore_index=True)
    return frame.assign(partition_day=[t.tz_convert("Asia/Shanghai").date() for t in frame["observed_at"]])


@pytest.fixture
def changed_targets():
    """nanliu-hengtang's target tightened to Ⅱ from DAY + 2, maowei-01's unset from DAY + 1."""
    frame = targets.seed_targets().copy()
    changes = []
    for section_id, starts, target_class, status in (("nanliu-hengtang", DAY + timedelta(days=2), "Ⅱ", "official"),
                                                      ("maowei-01", DAY + timedelta(days=1), None, "unset")):
        old = frame.index[frame["section_id"] == section_id][0]
        frame.at[old, "valid_to"] = starts - timedelta(days=1)
        changes.append({**frame.loc[old].to_dict(), "target_class": target_class, "status": status,
                        "valid_from": starts, "valid_to": None, "basis": "test"})
    targets.use_targets(("test-water-days-set-based",), targets.normalised(pd.concat([frame, pd.DataFrame(changes)])))
    yield
    targets.use_targets(None, None)


@pytest.fixture
def revised_rules(tmp_path, monkeypatch):
    """From REVISED_FROM: NH3-N class Ⅱ at 0.4 mg/L (not 0.5), and BOD5 required of every section-day."""
    folder = Path(shutil.copytree(standards.DATA_DIR, tmp_path / "rules"))
    path = folder / "gb3838_surface_water.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    old = table.index[table["code"] == "nh3n"][0]
    table.loc[old, "valid_to"] = (REVISED_FROM - timedelta(days=1)).isoformat()
    revised = table.loc[[old]].assign(II="0.4", valid_from=REVISED_FROM.isoformat(), valid_to="")
    pd.concat([table, revised], ignore_index=True).to_csv(path, index=False)
    path = folder / "required_indicators.csv"
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    bod5 = table.iloc[[0]].assign(code="bod5", valid_from=REVISED_FROM.isoformat())
    pd.concat([table, bod5], ignore_index=True).to_csv(path, index=False)
    monkeypatch.setattr(standards, "DATA_DIR", folder)
    standards.reload_rules()
    yield
    monkeypatch.undo()
    standards.reload_rules()


def test_days_with_data_changed_targets_and_revised_rules_are_the_one_day_rows(changed_targets, revised_rules):
    days = [DAY - timedelta(days=1) + timedelta(days=n) for n in range(5)]
    observations = _days_with_data(days, np.random.default_rng(27))
    water, sea = daily.assess_surface_water_days(observations, days), daily.assess_seawater_days(observations, days)
    reference_water, reference_sea = _one_day_at_a_time(observations, days)
    assert water == reference_water
    assert sea == reference_sea
    rows = {(r["station_id"], r["period_start"]): r for r in water}
    # each day under its own rules: two versions among the days, the revision's from REVISED_FROM
    assert len({r["rule_version"] for r in water}) == 2
    first, later = days[0], days[3]
    assert rows[("nanliu-hengtang", DAY)]["rule_version"] != rows[("nanliu-hengtang", REVISED_FROM)]["rule_version"]
    assert rows[("nanliu-hengtang", REVISED_FROM)]["rule_version"] == rows[("nanliu-hengtang", later)]["rule_version"]
    # BOD5 required from the revision: a section-day that was assessed is 'indicators incomplete' after it
    statuses = {day: {r["status"] for r in water if r["period_start"] == day} for day in days}
    assessed = {day: [r for r in water if r["period_start"] == day and r["status"] == "assessed"] for day in days}
    assert any("bod5" not in r["indicators_assessed"].split(";") for r in assessed[DAY])
    assert assessed[later] and all("bod5" in r["indicators_assessed"].split(";") for r in assessed[later])
    assert statuses[days[2]] == {"insufficient data"}
    # the targets of their day: nanliu-hengtang judged against Ⅱ from DAY + 2, maowei-01 unset from DAY + 1
    assert rows[("nanliu-hengtang", DAY)]["target_class"] != "Ⅱ" and rows[("nanliu-hengtang", later)]["target_class"] == "Ⅱ"
    sea_rows = {(r["station_id"], r["period_start"]): r for r in sea}
    assert sea_rows[("maowei-01", days[0])]["target_status"] != "unset"
    assert sea_rows[("maowei-01", later)]["target_status"] == "unset" and sea_rows[("maowei-01", later)]["is_compliant"] is None
    assert {r["status"] for r in sea} >= {"assessed", "insufficient data", "target unset"}
    # a drinking-water source's Table 2 item over its limit, from a lab sample (mixed_day)
    assert any("GB 3838-2002 Table 2" in r["standard"] for r in water)
